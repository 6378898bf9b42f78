import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, rawConnection } from '../../helpers/http-client.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// Issue 10 item 9 (RFC 9112 §9.6): a 413 answered before the body is read must not reset the
// connection under a client that is still sending, or the client never reads the answer (5 MB
// POSTs got no response in 17 of 20 tries, with EPIPE). The gateway reads and discards the rest
// for a bounded time and size.

const FIVE_MB = randomBytes(5 * 1024 * 1024);

/** A naive client: writes the whole request, then reads. The status it read, or what went wrong. */
async function post(port: number, target: string, body: Buffer): Promise<{ status: number; text: string } | { error: string }> {
  const conn = rawConnection(port);
  try {
    conn.write(Buffer.concat([Buffer.from(`POST ${target} HTTP/1.1\r\nHost: gw.example\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    const res = await conn.next(20_000);
    return { status: res.status, text: res.text };
  } catch (err) {
    return { error: (err as Error).message.slice(0, 120) };
  } finally {
    conn.destroy();
  }
}

describe('a body refused with 413 while the client is still sending', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ server: { limits: { maxBodyBytes: '1mb' } }, routes: [{ path: '/*', upstream: upstream.url }] });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('answers every 5 MB POST of 20 with the coded 413 (no reset under the writing client)', async () => {
    const outcomes = [];
    for (let i = 0; i < 20; i++) outcomes.push(await post(gw.port, `/upload/${i}`, FIVE_MB));
    const failed = outcomes.filter((o) => !('status' in o) || o.status !== 413);
    assert.deepEqual(failed, [], `every try gets its 413`);
    for (const o of outcomes) if ('text' in o) assert.equal(errorCode(o.text), 'ISOGATE_ERR_BODY_TOO_LARGE');
  });

  it('answers curl uploading 5 MB with the 413, 5 times of 5', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'isogate-linger-'));
    try {
      const file = path.join(dir, 'body.bin');
      await fs.writeFile(file, FIVE_MB);
      for (let i = 0; i < 5; i++) {
        const { stdout } = await promisify(execFile)('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--data-binary', `@${file}`, `${gw.url}/curl/${i}`], { timeout: 20_000 });
        assert.equal(stdout, '413');
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the connection usable once the refused body has arrived', async () => {
    const conn = rawConnection(gw.port);
    try {
      const body = Buffer.alloc(2 * 1024 * 1024, 97);
      conn.write(Buffer.concat([Buffer.from(`POST /big HTTP/1.1\r\nHost: gw.example\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
      const refused = await conn.next();
      assert.equal(refused.status, 413);
      conn.write('GET /after HTTP/1.1\r\nHost: gw.example\r\n\r\n');
      const next = await conn.next();
      assert.equal(next.status, 200, next.text);
      assert.equal(upstream.requests.at(-1)!.url, '/after');
    } finally {
      conn.destroy();
    }
  });

  it('closes a connection whose client keeps sending after the 413 (bounded discard)', async () => {
    const conn = rawConnection(gw.port);
    const chunk = `${(64 * 1024).toString(16)}\r\n${'z'.repeat(64 * 1024)}\r\n`;
    let sending = true;
    try {
      conn.write('POST /endless HTTP/1.1\r\nHost: gw.example\r\nTransfer-Encoding: chunked\r\n\r\n');
      // 2 MiB crosses the 1 MiB limit; then keep sending, slowly, for as long as the socket lives.
      for (let i = 0; i < 32; i++) conn.write(chunk);
      const refused = await conn.next();
      assert.equal(refused.status, 413);
      const trickle = setInterval(() => sending && conn.write(chunk), 50);
      try {
        await conn.closed(20_000);
      } finally {
        sending = false;
        clearInterval(trickle);
      }
    } finally {
      conn.destroy();
    }
  });
});
