import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, rawConnection, rawRequest } from '../../helpers/http-client.ts';
import { rawResponse, startRawUpstream, type RawHead, type RawUpstream } from '../../helpers/raw-upstream.ts';
import { acceptFor } from '../../../runtime/src/proxy/websocket-handshake.ts';

// Issue 10 item 1. An upstream that switches to whatever protocol it is asked for (h2c, any
// token) and then answers every request it reads on that connection: if the gateway ever splices
// such a 101 to the client, the client gets a tunnel to any path on the upstream, past routing,
// middleware and auth. Only a WebSocket handshake on a route that allows it may be upgraded, and
// the upstream's 101 must complete that very handshake.

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** How the upstream answers an Upgrade: 101 with this token and accept value, or a plain 200. */
let upgradeAnswer: (head: RawHead) => { upgrade: string; accept: string } | null = () => null;

function answer(head: RawHead, socket: import('node:net').Socket): void {
  const offered = head.headers.get('upgrade');
  const switched = offered === undefined ? null : upgradeAnswer(head);
  if (switched === null) {
    socket.write(rawResponse(200, JSON.stringify({ path: head.target, upgrade: offered ?? null }), { 'content-type': 'application/json' }));
    return;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${switched.upgrade}\r\nsec-websocket-accept: ${switched.accept}\r\n\r\n`);
  // From here on, anything that arrives is answered as a request reached through the tunnel.
  socket.removeAllListeners('data');
  socket.on('data', (chunk: Buffer) => {
    const path = /^[A-Z]+ (\S+)/.exec(chunk.toString('latin1'))?.[1] ?? '?';
    socket.write(rawResponse(200, `tunnelled ${path}`));
  });
}

function request(path: string, upgrade: string, extra: string[] = []): string {
  return [`GET ${path} HTTP/1.1`, 'Host: gw.example', 'Connection: Upgrade', `Upgrade: ${upgrade}`, ...extra, '', ''].join('\r\n');
}

describe('Upgrade requests are never a tunnel past the gateway', () => {
  let upstream: RawUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startRawUpstream(answer);
    gw = await startGateway({
      routes: [
        { path: '/public/*', upstream: upstream.url },
        { path: '/ws/*', upstream: upstream.url, websocket: true },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('h2c: the Upgrade is removed, the request proxied plainly, and the next request on the connection goes through the gateway', async () => {
    upgradeAnswer = (head) => ({ upgrade: head.headers.get('upgrade')!, accept: '' });
    const conn = rawConnection(gw.port);
    try {
      conn.write(request('/public/x', 'h2c', ['Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAAQAAP__']));
      const first = await conn.next();
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(JSON.parse(first.text), { path: '/public/x', upgrade: null }, 'the upstream never saw an Upgrade');
      assert.equal(upstream.heads.at(-1)!.headers.get('http2-settings'), undefined);
      // Had the gateway spliced a 101, this would reach the upstream as "tunnelled /admin/secret".
      conn.write('GET /admin/secret HTTP/1.1\r\nHost: gw.example\r\n\r\n');
      const second = await conn.next();
      assert.equal(second.status, 404, second.text);
      assert.equal(errorCode(second.text), 'ISOGATE_ERR_NOT_FOUND');
    } finally {
      conn.destroy();
    }
  });

  it('a made-up token, even on a WebSocket route, is proxied as a plain request', async () => {
    upgradeAnswer = (head) => ({ upgrade: head.headers.get('upgrade')!, accept: '' });
    const res = await rawRequest(gw.port, request('/ws/chat', 'mytunnel'));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), { path: '/ws/chat', upgrade: null });
  });

  it('a WebSocket handshake on a route without websocket: true is proxied as a plain request', async () => {
    upgradeAnswer = (head) => ({ upgrade: 'websocket', accept: acceptFor(head.headers.get('sec-websocket-key') ?? '') });
    const res = await rawRequest(gw.port, request('/public/chat', 'websocket', ['Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`]));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), { path: '/public/chat', upgrade: null });
  });

  it('an upstream that answers a WebSocket handshake by switching to another protocol gets 502, nothing spliced', async () => {
    upgradeAnswer = () => ({ upgrade: 'h2c', accept: acceptFor(KEY) });
    const conn = rawConnection(gw.port);
    try {
      conn.write(request('/ws/chat', 'websocket', ['Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`]));
      const res = await conn.next();
      assert.equal(res.status, 502, res.text);
      assert.equal(errorCode(res.text), 'ISOGATE_ERR_UPSTREAM_BAD_RESPONSE');
      await conn.closed();
      assert.doesNotMatch(conn.received().toString('latin1'), /tunnelled|101/);
    } finally {
      conn.destroy();
    }
  });

  it('a 101 whose Sec-WebSocket-Accept does not answer the client key gets 502', async () => {
    upgradeAnswer = () => ({ upgrade: 'websocket', accept: acceptFor('AAAAAAAAAAAAAAAAAAAAAA==') });
    const res = await rawRequest(gw.port, request('/ws/chat', 'websocket', ['Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`]));
    assert.equal(res.status, 502, res.text);
    assert.equal(errorCode(res.text), 'ISOGATE_ERR_UPSTREAM_BAD_RESPONSE');
  });

  it('a real handshake on a WebSocket route is upgraded, with X-Forwarded-For sent upstream', async () => {
    upgradeAnswer = (head) => ({ upgrade: 'websocket', accept: acceptFor(head.headers.get('sec-websocket-key') ?? '') });
    const res = await rawRequest(gw.port, request('/ws/chat', 'websocket', ['Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`]));
    assert.equal(res.status, 101);
    const seen = upstream.heads.at(-1)!;
    assert.equal(seen.headers.get('upgrade'), 'websocket');
    assert.equal(seen.headers.get('x-forwarded-for'), '127.0.0.1');
  });

  it('a WebSocket handshake without a valid Sec-WebSocket-Key is not upgraded', async () => {
    upgradeAnswer = (head) => ({ upgrade: 'websocket', accept: acceptFor(head.headers.get('sec-websocket-key') ?? '') });
    const res = await rawRequest(gw.port, request('/ws/chat', 'websocket', ['Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: short']));
    assert.equal(res.status, 400, res.text);
  });

  it('curl --http2 (an h2c upgrade) against an upstream that ignores Upgrade gets the answer, not a 502', async () => {
    upgradeAnswer = () => null;
    const { stdout } = await promisify(execFile)('curl', ['-s', '--http2', '-o', '-', '-w', '\n%{http_code}', `${gw.url}/public/curl`], { timeout: 10_000 });
    const [body, code] = stdout.split('\n');
    assert.equal(code, '200');
    assert.deepEqual(JSON.parse(body!), { path: '/public/curl', upgrade: null });
  });
});
