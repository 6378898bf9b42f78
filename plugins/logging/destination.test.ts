import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compose } from '../../runtime/src/chain/compose.ts';
import { sentNotifier } from '../../runtime/src/chain/instruments.ts';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import type { Closable } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { Middleware } from '../../runtime/src/chain/types.ts';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import { LogFile } from './destination.ts';
import { captureLogger, createInstance, fakeUpstream, testContext, type Line } from './test-support.ts';

const ok = () => ({ status: 200, headers: {}, body: 'ok' });

async function readLines(file: string): Promise<Line[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

describe('logging: file destination', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'isogate-logging-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes JSON lines, creating directories, and flushes them at close', async () => {
    const file = path.join(dir, 'a', 'b', 'access.log');
    const ctx = testContext(silentLogger());
    const instance = createInstance({ file }, ctx);
    const handler = compose([{ name: 'log', middleware: instance.middleware }], fakeUpstream(ok));
    for (let i = 0; i < 3; i++) {
      const req = testRequest({ path: `/n/${i}` });
      const res = await handler(req);
      sentNotifier(req)!(res.status, { bytes: 2, aborted: false });
    }
    await instance.dispose?.();
    await ctx.closeShared();
    const lines = await readLines(file);
    assert.deepEqual(lines.map((l) => l['path']), ['/n/0', '/n/1', '/n/2']);
    assert.equal(lines[0]!['plugin'], 'access');
    assert.equal(lines[0]!['pid'], process.pid);
    assert.equal(typeof lines[0]!['time'], 'number');
  });

  it('reaches the file within about a second on a quiet gateway, without closing', async () => {
    const file = path.join(dir, 'quiet.log');
    const ctx = testContext(silentLogger());
    const instance = createInstance({ file }, ctx);
    const req = testRequest();
    await compose([{ name: 'log', middleware: instance.middleware }], fakeUpstream(ok))(req);
    sentNotifier(req)!(200, { bytes: 2, aborted: false });
    const deadline = Date.now() + 3000;
    while ((await readLines(file)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await readLines(file)).length, 1);
    await instance.dispose?.();
    await ctx.closeShared();
  });

  it('shares one stream across a reload and keeps the old instance writing until its last response is sent', async () => {
    const file = path.join(dir, 'reload.log');
    const shared = new Map<string, Closable>();
    const ctx = testContext(silentLogger(), shared);
    const before = createInstance({ file }, ctx);
    const slowReq = testRequest({ path: '/slow' });
    await compose([{ name: 'log', middleware: before.middleware }], fakeUpstream(ok))(slowReq);
    // The reload: a new instance on the same file, then the old one is disposed while /slow still streams.
    const next = createInstance({ file }, ctx);
    assert.equal(shared.size, 1);
    const logFile = [...shared.values()][0] as LogFile;
    await before.dispose?.();
    assert.equal(logFile.open, true);
    const fastReq = testRequest({ path: '/fast' });
    await compose([{ name: 'log', middleware: next.middleware }], fakeUpstream(ok))(fastReq);
    sentNotifier(fastReq)!(200, { bytes: 2, aborted: false });
    sentNotifier(slowReq)!(200, { bytes: 2, aborted: false });
    // A reload that moves the log elsewhere: the last holder of reload.log lets go, and the file closes.
    const moved = createInstance({ file: path.join(dir, 'moved.log') }, ctx);
    await next.dispose?.();
    assert.equal(logFile.open, false);
    await moved.dispose?.();
    await ctx.closeShared();
    assert.deepEqual((await readLines(file)).map((l) => l['path']).sort(), ['/fast', '/slow']);
  });

  it('opens the file again, appending, when a later reload names it again', async () => {
    const file = path.join(dir, 'again.log');
    const ctx = testContext(silentLogger());
    for (const p of ['/first', '/second']) {
      const instance = createInstance({ file }, ctx);
      const req = testRequest({ path: p });
      await compose([{ name: 'log', middleware: instance.middleware }], fakeUpstream(ok))(req);
      sentNotifier(req)!(200, { bytes: 2, aborted: false });
      await instance.dispose?.();
    }
    await ctx.closeShared();
    assert.deepEqual((await readLines(file)).map((l) => l['path']), ['/first', '/second']);
  });

  it('reports write errors on the gateway log instead of failing requests', async () => {
    // /dev/full opens fine and refuses every write with ENOSPC: a full disk.
    const { logger, lines: gatewayLines } = captureLogger();
    const ctx = testContext(logger);
    const instance = createInstance({ file: '/dev/full' }, ctx);
    const req = testRequest();
    const res = await compose([{ name: 'log', middleware: instance.middleware }], fakeUpstream(ok))(req);
    assert.equal(res.status, 200);
    sentNotifier(req)!(200, { bytes: 2, aborted: false });
    const deadline = Date.now() + 3000;
    while (gatewayLines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(gatewayLines[0]?.['msg'], 'access log file: lines could not be written');
    assert.equal(gatewayLines[0]?.['code'], 'ENOSPC');
    assert.equal(gatewayLines[0]?.['file'], '/dev/full');
    await instance.dispose?.();
    await ctx.closeShared();
  });

  it('drops lines beyond a bounded backlog when the disk cannot keep up, and says so', async () => {
    const file = path.join(dir, 'backlog.log');
    const { logger, lines: gatewayLines } = captureLogger();
    const logFile = new LogFile(file, logger);
    const writer = logFile.acquire();
    // No event-loop turn between writes: the first batch is in flight, everything else queues.
    const line = `${'x'.repeat(1024 * 1024 - 1)}\n`;
    for (let i = 0; i < 24; i++) writer.write(line);
    logFile.release();
    await logFile.close();
    const size = (await readFile(file)).byteLength;
    assert.ok(size <= 18 * 1024 * 1024, `backlog bounded (${size} bytes written)`);
    assert.ok(size >= 16 * 1024 * 1024, `what fitted was written (${size} bytes)`);
    assert.equal(gatewayLines[0]?.['msg'], 'access log file: lines could not be written');
    assert.ok((gatewayLines[0]?.['droppedLines'] as number) >= 1);
  });

  it('survives a line JSON cannot carry: reported on the gateway log, never thrown into the transport', async () => {
    const file = path.join(dir, 'bad-event.log');
    const { logger, lines: gatewayLines } = captureLogger();
    const ctx = testContext(logger);
    const instance = createInstance({ file }, ctx);
    const { emitRequestEvent } = await import('../../runtime/src/chain/instruments.ts');
    const odd: Middleware = (next) => async (req) => {
      emitRequestEvent(req, { type: 'auth-failed', plugin: 'odd', reason: 10n as unknown as string });
      return next(req);
    };
    const req = testRequest();
    await compose(
      [
        { name: 'log', middleware: instance.middleware },
        { name: 'odd', middleware: odd },
      ],
      fakeUpstream(ok),
    )(req);
    assert.doesNotThrow(() => sentNotifier(req)!(200, { bytes: 2, aborted: false }));
    assert.equal(gatewayLines[0]?.['msg'], 'an access line could not be written');
    await instance.dispose?.();
    await ctx.closeShared();
  });

  it('fails the load with a clear message when the file cannot be opened', async () => {
    const blocker = path.join(dir, 'not-a-dir');
    await writeFile(blocker, 'x');
    const ctx = testContext(silentLogger());
    assert.throws(() => createInstance({ file: path.join(blocker, 'access.log') }, ctx), /cannot open the access log file .*not-a-dir\/access\.log \((ENOTDIR|EEXIST)\)/);
    await ctx.closeShared();
  });
});
