import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { readBody, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { deferred, within } from '../../helpers/wait.ts';

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

describe('streaming through the proxy', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      server: { limits: { maxBodyBytes: '16mb' } },
      routes: [
        { path: '/get-only/*', methods: ['GET'], upstream: upstream.url },
        // Uploads reach the upstream as they arrive only with buffering off; elsewhere a body up to
        // bufferBodyBytes (1 MiB) is read first, and a larger one streams after what was read.
        { path: '/stream/*', upstream: upstream.url, requestBuffering: false, timeout: { connect: '2s', headers: '10s', idle: '10s' } },
        { path: '/*', upstream: upstream.url, timeout: { connect: '2s', headers: '10s', idle: '10s' } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('streams the request body upstream before the client has finished sending it (requestBuffering: false)', async () => {
    const firstSeen = deferred<string>();
    upstream.handler = async (req, res) => {
      let all = '';
      req.setEncoding('utf8');
      for await (const chunk of req as AsyncIterable<string>) {
        if (all === '') firstSeen.resolve(chunk);
        all += chunk;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`got:${all}`);
    };

    const response = deferred<{ status: number; body: string }>();
    const req = http.request(`${gw.url}/stream/upload`, { method: 'POST', agent: false, headers: { 'content-type': 'text/plain' } }, (res) => {
      readBody(res).then((b) => response.resolve({ status: res.statusCode ?? 0, body: b.toString() }), response.reject);
    });
    req.on('error', response.reject);
    req.write('first-chunk;');

    // The upstream must see the first chunk while the client is still holding the rest.
    const first = await within(firstSeen.promise, 5_000, 'upstream to receive the first request chunk');
    assert.equal(first, 'first-chunk;');
    assert.equal(req.writableEnded, false);

    req.end('second-chunk');
    const res = await within(response.promise, 5_000, 'the response');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'got:first-chunk;second-chunk');
  });

  it('streams the response body to the client before the upstream has finished', async () => {
    const release = deferred();
    upstream.handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part-1;');
      await within(release.promise, 10_000, 'the test to release the upstream');
      res.end('part-2');
    };

    const res = await request(`${gw.url}/download`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.statusCode, 200);
    const iterator = res.body[Symbol.asyncIterator]();
    const first = await within(iterator.next(), 5_000, 'the first response chunk');
    assert.equal(first.done, false);
    assert.equal(Buffer.from(first.value as Buffer).toString(), 'part-1;');
    assert.equal(upstream.requests.at(-1)!.res.writableEnded, false, 'the upstream has not finished yet');

    release.resolve();
    let rest = '';
    for (let i = 0; i < 100; i++) {
      const next = await within(iterator.next(), 5_000, 'the rest of the response');
      if (next.done) break;
      rest += Buffer.from(next.value as Buffer).toString();
    }
    assert.equal(rest, 'part-2');
  });

  it('carries a 5 MB body both ways intact (Content-Length upload)', async () => {
    upstream.handler = async (req, res) => {
      const body = await readBody(req);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upload-sha256': sha256(body), 'x-upload-length': String(body.length) });
      res.end(body);
    };
    const payload = randomBytes(5 * 1024 * 1024);
    const res = await request(`${gw.url}/big`, { method: 'POST', body: payload, headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(30_000) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-upload-length'], String(payload.length));
    assert.equal(res.headers['x-upload-sha256'], sha256(payload));
    const echoed = Buffer.from(await res.body.arrayBuffer());
    assert.equal(echoed.length, payload.length);
    assert.equal(sha256(echoed), sha256(payload));
  });

  it('carries a 5 MB chunked upload intact (no Content-Length, counted while streaming)', async () => {
    upstream.handler = async (req, res) => {
      const body = await readBody(req);
      res.writeHead(200, { 'x-upload-sha256': sha256(body), 'x-upload-length': String(body.length) });
      res.end();
    };
    const payload = randomBytes(5 * 1024 * 1024);
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let at = 0; at < payload.length; at += 256 * 1024) yield payload.subarray(at, at + 256 * 1024);
    }
    const res = await request(`${gw.url}/big-chunked`, { method: 'PUT', body: Readable.from(chunks()), signal: AbortSignal.timeout(30_000) });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    const seen = upstream.requests.at(-1)!;
    assert.equal(seen.headers['content-length'], undefined);
    assert.equal(res.headers['x-upload-length'], String(payload.length));
    assert.equal(res.headers['x-upload-sha256'], sha256(payload));
  });

  it('answers HEAD on a GET-only route: upstream sees HEAD, client gets headers and no body', async () => {
    upstream.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11', 'x-method': req.method ?? '' });
      res.end(req.method === 'HEAD' ? undefined : 'hello world');
    };
    const head = await request(`${gw.url}/get-only/thing`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
    const body = await head.body.text();
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['x-method'], 'HEAD');
    assert.equal(head.headers['content-length'], '11');
    assert.equal(body, '');
    assert.equal(upstream.requests.at(-1)!.method, 'HEAD');

    const get = await request(`${gw.url}/get-only/thing`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(get.statusCode, 200);
    assert.equal(await get.body.text(), 'hello world');
  });
});
