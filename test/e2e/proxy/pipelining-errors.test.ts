import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { rawConnection } from '../../helpers/http-client.ts';
import { readBody, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { deferred, within } from '../../helpers/wait.ts';

// Issue 10 item 3: a malformed request pipelined behind a good one must not be answered by
// writing into the connection while the good one's response is pending or streaming. The client
// read `…content-length: 20\r\n\r\nxxHTTP/1.1 400 Bad R` as a body, and a POST the upstream had
// executed was reported to the client as a 400.

const MALFORMED = 'GET /next HTTP/1.1\r\nHost: gw.example\r\nBad Header Without Colon\r\n\r\n';

describe('a malformed pipelined request behind a response in progress', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ routes: [{ path: '/*', upstream: upstream.url }] });
  });

  /** Resolves once the gateway's own clientError handler has run for the malformed request. */
  const clientError = (): Promise<void> => new Promise((resolve) => gw.server.server.once('clientError', () => resolve()));

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('lets a streaming response finish intact, then closes without writing anything after it', async () => {
    const midBody = deferred();
    const finishBody = deferred();
    upstream.handler = async (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '20' });
      res.write('xx');
      midBody.resolve();
      await finishBody.promise;
      res.end('y'.repeat(18));
    };
    const conn = rawConnection(gw.port);
    try {
      conn.write('GET /slow HTTP/1.1\r\nHost: gw.example\r\n\r\n');
      await within(midBody.promise, 5_000, 'the response to be streaming');
      const parsed = clientError();
      conn.write(MALFORMED);
      await within(parsed, 5_000, 'the gateway to reject the malformed request');
      finishBody.resolve();
      const first = await conn.next();
      assert.equal(first.status, 200);
      assert.equal(first.text, 'xx' + 'y'.repeat(18));
      await conn.closed();
      const all = conn.received().toString('latin1');
      assert.equal(all.indexOf('HTTP/1.1', 1), -1, `nothing after the first response: ${JSON.stringify(all)}`);
    } finally {
      conn.destroy();
    }
  });

  it('never reports an executed POST as a 400: its own answer arrives, the malformed request gets none', async () => {
    const executed = deferred();
    const answer = deferred();
    upstream.handler = async (req: IncomingMessage, res: ServerResponse) => {
      const body = await readBody(req);
      executed.resolve();
      await answer.promise;
      res.writeHead(201, { 'content-type': 'text/plain' });
      res.end(`created:${body.toString()}`);
    };
    const conn = rawConnection(gw.port);
    try {
      const parsed = clientError();
      conn.write('POST /orders HTTP/1.1\r\nHost: gw.example\r\nContent-Length: 5\r\n\r\nhello' + MALFORMED);
      await within(executed.promise, 5_000, 'the upstream to execute the POST');
      await within(parsed, 5_000, 'the gateway to reject the malformed request');
      answer.resolve();
      const first = await conn.next();
      assert.equal(first.status, 201, first.text);
      assert.equal(first.text, 'created:hello');
      await conn.closed();
      assert.equal(conn.received().toString('latin1').indexOf('HTTP/1.1', 1), -1);
    } finally {
      conn.destroy();
    }
  });

  it('still answers a malformed request with a coded 400 when nothing else is pending', async () => {
    const conn = rawConnection(gw.port);
    try {
      conn.write(MALFORMED);
      const res = await conn.next();
      assert.equal(res.status, 400);
      assert.match(res.text, /ISOGATE_ERR_BAD_REQUEST/);
    } finally {
      conn.destroy();
    }
  });
});
