import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pino from 'pino';
import { Gateway, GatewayServer, builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import { errorCode, httpRequest, rawRequest } from '../../helpers/http-client.ts';
import { rawResponse, startRawUpstream, type RawUpstream } from '../../helpers/raw-upstream.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

// Issue 10 items 10 and 12: interim responses an upstream sends unasked, status codes HTTP does
// not define, request methods and versions a reverse proxy does not serve, and clients that
// leave (normal: counted, not warned about).

describe('protocol edges', () => {
  let raw: RawUpstream;
  let streaming: Upstream;
  let gateway: Gateway;
  let server: GatewayServer;
  let url: string;
  let port: number;
  const logLines: { level: number; msg: string }[] = [];

  before(async () => {
    raw = await startRawUpstream((head, socket) => {
      const continues = head.target.startsWith('/continue-twice') ? 2 : head.target.startsWith('/continue') ? 1 : 0;
      const interim = 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(continues);
      if (head.target.startsWith('/status-600')) socket.write(rawResponse(600, 'odd'));
      else socket.write(interim + rawResponse(200, `answer to ${head.method} ${head.target} (${head.body.length} bytes)`));
    });
    streaming = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const tick = setInterval(() => res.write('x'.repeat(1024)), 5);
      res.on('close', () => clearInterval(tick));
    });
    const logger = pino({ level: 'debug' }, { write: (line: string) => logLines.push(JSON.parse(line) as { level: number; msg: string }) });
    const config = resolveConfig(
      {
        plugins: { metrics: { use: 'metrics', options: { cacheFor: 0 } } },
        middleware: ['metrics'],
        routes: [
          { path: '/raw/*', upstream: raw.url, stripPrefix: '/raw' },
          { path: '/stream', upstream: streaming.url },
        ],
      },
      builtinPlugins,
    );
    gateway = new Gateway(config, { logger });
    server = new GatewayServer(gateway);
    ({ port } = await server.listen(0, '127.0.0.1'));
    url = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    await server?.shutdown(1_000);
    await raw?.close();
    await streaming?.close();
  });

  it('reads past an unsolicited 100 Continue to the final answer, for GET and POST, and keeps the connection', async () => {
    const get = await httpRequest(`${url}/raw/continue/a`);
    assert.equal(get.status, 200, get.text);
    assert.equal(get.text, 'answer to GET /continue/a (0 bytes)');
    const post = await httpRequest(`${url}/raw/continue/b`, { method: 'POST', body: 'hello' });
    assert.equal(post.status, 200, post.text);
    assert.equal(post.text, 'answer to POST /continue/b (5 bytes)');
    const twice = await httpRequest(`${url}/raw/continue-twice/c`, { method: 'PUT', body: 'x' });
    assert.equal(twice.status, 200, twice.text);
    const plain = await httpRequest(`${url}/raw/plain`);
    assert.equal(plain.text, 'answer to GET /plain (0 bytes)', 'the next request on the pooled connection is framed right');
  });

  it('answers 502 UPSTREAM_BAD_RESPONSE for a status past 599', async () => {
    const res = await httpRequest(`${url}/raw/status-600`);
    assert.equal(res.status, 502, res.text);
    assert.equal(errorCode(res.text), 'ISOGATE_ERR_UPSTREAM_BAD_RESPONSE');
  });

  it('answers CONNECT with a coded 405 (it used to close the socket with no answer)', async () => {
    const seen = raw.heads.length;
    const res = await rawRequest(port, 'CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n');
    assert.equal(res.status, 405);
    assert.equal(errorCode(res.text), 'ISOGATE_ERR_CONNECT_NOT_ALLOWED');
    assert.ok(res.headers.some(([n]) => n === 'allow'));
    assert.equal(raw.heads.length, seen);
  });

  it('answers an unsupported expectation with the coded 417, not a plain one', async () => {
    const res = await rawRequest(port, 'GET /raw/x HTTP/1.1\r\nHost: gw.example\r\nExpect: 200-ok\r\n\r\n');
    assert.equal(res.status, 417);
    assert.equal(errorCode(res.text), 'ISOGATE_ERR_EXPECTATION_FAILED');
  });

  for (const line of ['GET /raw/x HTTP/2.0', 'GET /raw/x HTTP/0.9', 'GET /raw/x']) {
    it(`refuses "${line}" on the HTTP/1 listener with 505; nothing is proxied`, async () => {
      const seen = raw.heads.length;
      const res = await rawRequest(port, `${line}\r\nHost: gw.example\r\n\r\n`);
      assert.equal(res.status, 505, res.text);
      assert.equal(errorCode(res.text), 'ISOGATE_ERR_HTTP_VERSION_NOT_SUPPORTED');
      assert.equal(raw.heads.length, seen);
    });
  }

  it('counts a client that leaves mid-response as aborted, without a warning in the log', async () => {
    const warningsBefore = logLines.filter((l) => l.level >= 40).length;
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      let received = 0;
      await new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > 4096) resolve();
        });
        socket.write('GET /stream HTTP/1.1\r\nHost: gw.example\r\n\r\n');
      });
      socket.destroy();
    }
    await waitFor(() => server.inFlight === 0, 'the gateway to forget the requests');
    const page = await httpRequest(`${url}/metrics`);
    assert.match(page.text, /gateway_requests_aborted_total\{route="\/stream"\} 3/);
    const warnings = logLines.filter((l) => l.level >= 40).slice(warningsBefore);
    assert.deepEqual(warnings.map((l) => l.msg), []);
  });
});
