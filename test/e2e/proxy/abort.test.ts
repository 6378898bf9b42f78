import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { httpRequest } from '../../helpers/http-client.ts';
import { echoHandler, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { deferred, waitFor, within } from '../../helpers/wait.ts';

/** Resolves when the upstream's request/response pair for the next request closes before finishing. */
function holdNextRequest(upstream: Upstream, onRequest: (res: http.ServerResponse) => void = () => {}) {
  const arrived = deferred();
  const closed = deferred<{ finished: boolean }>();
  upstream.handler = (req, res) => {
    req.on('error', () => {});
    res.once('close', () => closed.resolve({ finished: res.writableFinished }));
    onRequest(res);
    arrived.resolve();
  };
  return { arrived: arrived.promise, closed: closed.promise };
}

describe('client aborts', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      routes: [
        { path: '/*', upstream: upstream.url, timeout: { headers: '30s', idle: '30s' } },
        // Uploads stream to the upstream as they arrive only where buffering is turned off.
        { path: '/stream/*', upstream: upstream.url, requestBuffering: false, timeout: { headers: '30s', idle: '30s' } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('aborts the upstream request at once when the client disconnects while waiting for headers', async () => {
    const held = holdNextRequest(upstream);
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('GET /hold HTTP/1.1\r\nHost: gw.example\r\n\r\n');
    await within(held.arrived, 5_000, 'the request to reach the upstream');

    socket.destroy();
    const { finished } = await within(held.closed, 2_000, 'the upstream request to be aborted after the client left');
    assert.equal(finished, false);
    await waitFor(() => gw.server.inFlight === 0, 'the gateway to forget the request', 2_000);
  });

  it('aborts the upstream response when the client disconnects mid-body', async () => {
    const held = holdNextRequest(upstream, (res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
    });
    const firstChunk = deferred();
    const req = http.get(`${gw.url}/stream`, { agent: false }, (res) => {
      res.once('data', () => firstChunk.resolve());
      res.on('error', () => {});
    });
    req.on('error', () => {});
    await within(held.arrived, 5_000, 'the request to reach the upstream');
    await within(firstChunk.promise, 5_000, 'the first chunk at the client');

    req.destroy();
    const { finished } = await within(held.closed, 2_000, 'the upstream response to be aborted after the client left');
    assert.equal(finished, false);
    await waitFor(() => gw.server.inFlight === 0, 'the gateway to forget the request', 2_000);
  });

  it('aborts the upstream request when the client disconnects mid-upload (streamed upload)', async () => {
    const bodyStarted = deferred();
    const arrived = deferred();
    const upstreamReqClosed = deferred();
    upstream.handler = (req) => {
      req.on('error', () => {});
      req.once('data', () => bodyStarted.resolve());
      req.once('close', () => upstreamReqClosed.resolve());
      arrived.resolve();
    };
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('POST /stream/upload HTTP/1.1\r\nHost: gw.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    await within(arrived.promise, 5_000, 'the request to reach the upstream');
    await within(bodyStarted.promise, 5_000, 'the first body chunk to reach the upstream');

    socket.destroy();
    await within(upstreamReqClosed.promise, 2_000, 'the upstream request to be closed after the client left');
    await waitFor(() => gw.server.inFlight === 0, 'the gateway to forget the request', 2_000);
  });

  it('never calls the upstream for a buffered upload the client abandons, and forgets the request', async () => {
    const seen = upstream.requests.length;
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('POST /upload HTTP/1.1\r\nHost: gw.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    await waitFor(() => gw.server.inFlight === 1, 'the gateway to be reading the upload', 2_000);
    socket.destroy();
    await waitFor(() => gw.server.inFlight === 0, 'the gateway to forget the request', 2_000);
    assert.equal(upstream.requests.length, seen, 'the upstream never saw the incomplete upload');
  });

  it('still serves normally afterwards', async () => {
    upstream.handler = echoHandler;
    const res = await httpRequest(`${gw.url}/ok`);
    assert.equal(res.status, 200);
  });
});
