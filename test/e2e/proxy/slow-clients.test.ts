import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, httpRequest } from '../../helpers/http-client.ts';
import { echoHandler, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { deferred, waitFor, within } from '../../helpers/wait.ts';

// Issue 10 item 4: bodies stream both ways, so a slow upload or a slow reader holds a pooled
// upstream connection. These tests give the gateway a pool of 4 connections per origin, so a few
// slow clients are enough to show what hundreds did: with the protections, a normal client is
// still answered, and every wait has a bound.

const POOL = 4;

/** An upstream response far larger than every socket buffer between upstream and client. */
function hugeBody(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(64 * 1024, 120);
  let sent = 0;
  const pump = () => {
    while (sent < 64 * 1024 * 1024) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

/** A client that sends a request and then never reads: its receive window fills, then the gateway's writes block. */
function nonReader(port: number, path: string, forwardedFor: string): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET ${path} HTTP/1.1\r\nHost: gw.example\r\nX-Forwarded-For: ${forwardedFor}\r\n\r\n`);
  socket.pause();
  return socket;
}

describe('slow clients cannot starve an upstream', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  const clients: net.Socket[] = [];
  let releaseHeld = deferred();

  before(async () => {
    upstream = await startUpstream(async (req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.startsWith('/huge')) return hugeBody(res);
      if (req.url?.startsWith('/held')) {
        await releaseHeld.promise;
        res.end('released');
        return;
      }
      return echoHandler(req, res);
    });
    gw = await startGateway({
      server: {
        // The test client stands for several client addresses through a trusted proxy.
        trustedProxies: ['127.0.0.1'],
        limits: { upstreamConnections: POOL, maxInFlightPerClient: 2 },
        timeouts: { send: '1s', request: '30s' },
      },
      routes: [{ path: '/*', upstream: upstream.url, timeout: { queue: '300ms', headers: '30s' } }],
    });
  });

  afterEach(() => {
    releaseHeld.resolve();
    releaseHeld = deferred();
    for (const c of clients.splice(0)) c.destroy();
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('closes the connection of a client that stops reading a large response (send timeout), freeing the upstream', async () => {
    const reader = nonReader(gw.port, '/huge/1', '10.0.0.1');
    clients.push(reader);
    await waitFor(() => upstream.requests.some((r) => r.url === '/huge/1'), 'the request to reach the upstream');
    const upstreamSide = upstream.requests.find((r) => r.url === '/huge/1')!.res;
    // The paused client would not notice the close itself: watch the gateway's side and the upstream's.
    await within(new Promise((resolve) => (upstreamSide.destroyed ? resolve(null) : upstreamSide.once('close', resolve))), 15_000, 'the upstream response to be abandoned');
    assert.equal(upstreamSide.writableFinished, false, 'the 64 MiB response was cut off, not delivered');
    await waitFor(() => gw.server.inFlight === 0, 'the gateway to forget the request', 5_000);
    const open = await new Promise<number>((resolve, reject) => gw.server.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    assert.equal(open, 0, 'the gateway closed the client connection');
  });

  it('limits requests in flight per client address (429 coded), while other addresses are served', async () => {
    const held = [httpRequest(`${gw.url}/held/1`, { headers: { 'x-forwarded-for': '10.0.0.2' } }), httpRequest(`${gw.url}/held/2`, { headers: { 'x-forwarded-for': '10.0.0.2' } })];
    await waitFor(() => gw.server.inFlight === 2, 'two held requests from one client');
    const third = await httpRequest(`${gw.url}/held/3`, { headers: { 'x-forwarded-for': '10.0.0.2' } });
    assert.equal(third.status, 429, third.text);
    assert.equal(errorCode(third.text), 'ISOGATE_ERR_TOO_MANY_IN_FLIGHT');
    assert.equal(third.headers['retry-after'], '1');
    const other = await httpRequest(`${gw.url}/echo`, { headers: { 'x-forwarded-for': '10.0.0.3' } });
    assert.equal(other.status, 200);
    releaseHeld.resolve();
    for (const res of await Promise.all(held)) assert.equal(res.status, 200);
    const again = await httpRequest(`${gw.url}/echo`, { headers: { 'x-forwarded-for': '10.0.0.2' } });
    assert.equal(again.status, 200, 'the client gets its share back once its requests finish');
  });

  it('answers 503 UPSTREAM_SATURATED when no pooled connection frees up within timeout.queue, then recovers', async () => {
    const held = Array.from({ length: POOL }, (_, i) => httpRequest(`${gw.url}/held/${i}`, { headers: { 'x-forwarded-for': `10.0.1.${i}` } }));
    await waitFor(() => upstream.requests.filter((r) => r.url.startsWith('/held')).length >= POOL, 'every pooled connection to be held');
    const waiting = await httpRequest(`${gw.url}/echo`, { headers: { 'x-forwarded-for': '10.0.2.1' }, timeoutMs: 10_000 });
    assert.equal(waiting.status, 503, waiting.text);
    assert.equal(errorCode(waiting.text), 'ISOGATE_ERR_UPSTREAM_SATURATED');
    releaseHeld.resolve();
    for (const res of await Promise.all(held)) assert.equal(res.status, 200);
    const after = await httpRequest(`${gw.url}/echo`, { headers: { 'x-forwarded-for': '10.0.2.1' } });
    assert.equal(after.status, 200);
  });

  it('keeps a normal client answered while slow readers from many addresses hold every pooled connection', async () => {
    for (let i = 0; i < POOL * 2; i++) clients.push(nonReader(gw.port, `/huge/many-${i}`, `10.0.6.${i}`));
    await waitFor(() => upstream.requests.filter((r) => r.url.startsWith('/huge/many-')).length >= POOL, 'the slow readers to hold the pool');
    // While they hold it: a coded answer within the queue bound, never a hang.
    const during = await within(httpRequest(`${gw.url}/echo`, { headers: { 'x-forwarded-for': '10.0.7.1' } }), 10_000, 'an answer while the pool is held');
    assert.ok(during.status === 200 || errorCode(during.text) === 'ISOGATE_ERR_UPSTREAM_SATURATED', `${during.status} ${during.text}`);
    // The send timeout drops readers that read nothing; the pool frees and normal requests pass again.
    await waitFor(() => gw.server.inFlight === 0, 'the slow readers to be dropped', 20_000);
    const after = await httpRequest(`${gw.url}/echo`, { headers: { 'x-forwarded-for': '10.0.7.1' } });
    assert.equal(after.status, 200);
  });

  it('buffers slow uploads: none reaches the upstream while it trickles in, and a normal client is served meanwhile', async () => {
    const before = upstream.requests.length;
    // Twice as many slow uploads as pooled connections, from different addresses.
    for (let i = 0; i < POOL * 2; i++) {
      const socket = net.connect(gw.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`POST /upload/${i} HTTP/1.1\r\nHost: gw.example\r\nX-Forwarded-For: 10.0.3.${i}\r\nContent-Length: 1000\r\n\r\n${'u'.repeat(10)}`);
      clients.push(socket);
    }
    await waitFor(() => gw.server.inFlight === POOL * 2, 'every slow upload to be in flight');
    const normal = await within(httpRequest(`${gw.url}/echo`, { headers: { 'x-forwarded-for': '10.0.4.1' } }), 10_000, 'a normal request during the slow uploads');
    assert.equal(normal.status, 200);
    assert.equal(upstream.requests.length, before + 1, 'only the normal request reached the upstream');
  });

  it('sends a buffered upload with its Content-Length once it is complete', async () => {
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    clients.push(socket);
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.write(`POST /upload/done HTTP/1.1\r\nHost: gw.example\r\nX-Forwarded-For: 10.0.5.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    await waitFor(() => gw.server.inFlight === 1, 'the upload to be in flight');
    socket.write('6\r\n world\r\n0\r\n\r\n');
    await waitFor(() => answer.includes('\r\n\r\n{'), 'the answer', 5_000);
    const seen = upstream.requests.at(-1)!;
    assert.equal(seen.url, '/upload/done');
    assert.equal(seen.headers['content-length'], '11');
    assert.equal(seen.headers['transfer-encoding'], undefined);
    assert.match(answer, /"body":"hello world"/);
  });
});
