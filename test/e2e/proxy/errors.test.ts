import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { ERRORS, GatewayError } from '../../../runtime/src/index.ts';
import { isConnectFailure, toGatewayError } from '../../../runtime/src/proxy/upstream-errors.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { httpRequest, rawRequest, type SimpleResponse } from '../../helpers/http-client.ts';
import { closedPort, echoHandler, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { deferred, waitFor, within } from '../../helpers/wait.ts';

/** The exact catalogue body, with nothing internal in it. */
function assertCatalogueError(res: SimpleResponse, status: number, key: keyof typeof ERRORS): void {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(res.text), { error: { code: `ISOGATE_ERR_${key}`, message: ERRORS[key].message } });
  for (const leak of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR', 'other side closed', 'Error:', '    at ', '127.0.0.1', 'stack', 'undici', 'node:']) {
    assert.ok(!res.text.includes(leak), `error body leaks ${JSON.stringify(leak)}: ${res.text}`);
  }
}

describe('upstream failures', () => {
  let upstream: Upstream;
  let refusedPort: number;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    refusedPort = await closedPort();
    gw = await startGateway({
      routes: [
        { path: '/refused/*', upstream: `http://127.0.0.1:${refusedPort}`, timeout: { connect: '2s' } },
        { path: '/slow-headers/*', upstream: upstream.url, timeout: { headers: '300ms', idle: '10s' } },
        { path: '/idle/*', upstream: upstream.url, timeout: { headers: '10s', idle: '300ms' } },
        { path: '/*', upstream: upstream.url, timeout: { connect: '2s', headers: '10s', idle: '10s' } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('502 UPSTREAM_UNAVAILABLE when the upstream refuses the connection', async () => {
    const res = await httpRequest(`${gw.url}/refused/x`);
    assertCatalogueError(res, 502, 'UPSTREAM_UNAVAILABLE');
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  it('502 UPSTREAM_UNAVAILABLE when the upstream resets the connection before answering', async () => {
    upstream.handler = (req) => {
      req.socket.destroy();
    };
    const before = upstream.requests.length;
    const res = await httpRequest(`${gw.url}/reset/x`);
    assertCatalogueError(res, 502, 'UPSTREAM_UNAVAILABLE');
    assert.ok(upstream.requests.length > before, 'the upstream did receive the request');
  });

  it('closes the client connection when the upstream resets mid-body (no silently truncated 200)', async () => {
    for (const framing of ['content-length', 'chunked'] as const) {
      upstream.handler = (req, res) => {
        res.writeHead(200, framing === 'chunked' ? { 'content-type': 'text/plain' } : { 'content-type': 'text/plain', 'content-length': '1000' });
        res.write('partial');
        setTimeout(() => req.socket.destroy(), 50);
      };
      const res = await request(`${gw.url}/reset-mid-body/${framing}`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.statusCode, 200);
      await assert.rejects(within(res.body.text(), 5_000, 'the body to fail'), (err: Error) => !/timed out after/.test(err.message), framing);
    }
  });

  it('504 UPSTREAM_TIMEOUT when the upstream does not send headers in time, and the upstream request is aborted', async () => {
    const upstreamClosed = deferred();
    upstream.handler = (_req, res) => {
      res.once('close', () => upstreamClosed.resolve());
      // never answers
    };
    const res = await httpRequest(`${gw.url}/slow-headers/x`);
    assertCatalogueError(res, 504, 'UPSTREAM_TIMEOUT');
    await within(upstreamClosed.promise, 5_000, 'the upstream connection to be closed after the timeout');
  });

  it('maps a connect timeout to 504 and a refusal to a retryable connect failure (unit level: no loopback way to stall a TCP connect)', () => {
    const connectTimeout = Object.assign(new Error('Connect Timeout Error (attempted address: 10.255.255.1:80, timeout: 1000ms)'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
    const mapped = toGatewayError(connectTimeout);
    assert.ok(mapped instanceof GatewayError);
    assert.equal(mapped.status, 504);
    assert.equal(mapped.code, 'ISOGATE_ERR_UPSTREAM_TIMEOUT');
    assert.equal(mapped.message, ERRORS.UPSTREAM_TIMEOUT.message);
    assert.equal(isConnectFailure(connectTimeout), true);

    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    assert.equal(toGatewayError(refused).status, 502);
    assert.equal(isConnectFailure(refused), true);
    const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    assert.equal(toGatewayError(reset).status, 502);
    assert.equal(isConnectFailure(reset), false, 'a reset may have reached the upstream: never retried');
  });

  it('closes the client connection when the upstream goes idle mid-body (route idle timeout)', async () => {
    const upstreamClosed = deferred();
    upstream.handler = (_req, res) => {
      res.once('close', () => upstreamClosed.resolve());
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      // then silence, longer than the route's 300 ms idle timeout
    };
    const res = await request(`${gw.url}/idle/x`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.statusCode, 200);
    const iterator = res.body[Symbol.asyncIterator]();
    const first = await within(iterator.next(), 5_000, 'the first chunk');
    assert.equal(Buffer.from(first.value as Buffer).toString(), 'first;');
    await assert.rejects(
      within(iterator.next(), 5_000, 'the client connection to be closed'),
      (err: Error) => !/timed out after/.test(err.message),
    );
    await within(upstreamClosed.promise, 5_000, 'the upstream connection to be closed');
  });

  it('answers unrouted paths with the catalogue 404, and a missing Host with a 400', async () => {
    const standalone = await startGateway({ routes: [{ path: '/only', upstream: upstream.url }] });
    try {
      const res = await httpRequest(`${standalone.url}/nowhere`);
      assertCatalogueError(res, 404, 'NOT_FOUND');

      const raw = await rawRequest(standalone.port, 'GET /only HTTP/1.1\r\n\r\n');
      assert.equal(raw.status, 400);
    } finally {
      await standalone.close();
    }
  });

  it('keeps serving after failures: the gateway has no request left in flight', async () => {
    upstream.handler = echoHandler;
    const res = await httpRequest(`${gw.url}/after`);
    assert.equal(res.status, 200);
    await waitFor(() => gw.server.inFlight === 0, 'in-flight count to return to 0');
  });
});
