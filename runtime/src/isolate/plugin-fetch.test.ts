import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../logging/logger.ts';
import { closedPort, readBody, startUpstream, type Upstream } from '../../../test/helpers/upstream.ts';
import { createPluginFetch } from './plugin-fetch.ts';

interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  error?: string;
}

describe('createPluginFetch (the host side of ctx.fetch)', () => {
  let upstream: Upstream;
  const seen: { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  before(async () => {
    upstream = await startUpstream(async (req, res) => {
      const body = (await readBody(req)).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x'.repeat(4096));
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 2_000).unref();
      } else if (req.url === '/trickle') {
        // Headers at once, then a byte every 20 ms for 2 s: only a deadline on the whole call stops it.
        res.writeHead(200, { 'content-type': 'text/plain' });
        let left = 100;
        const tick = setInterval(() => {
          if (res.destroyed || --left === 0) {
            clearInterval(tick);
            res.end();
          } else res.write('x');
        }, 20);
      } else if (req.url === '/endless') {
        // 4 KiB, then nothing and no end: only a bound that stops reading answers.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('x'.repeat(4096));
      } else if (req.url === '/moved') {
        res.writeHead(302, { location: '/elsewhere' });
        res.end();
      } else if (req.url === '/teapot') {
        res.writeHead(418, { 'x-kind': 'teapot', 'set-cookie': ['a=1', 'b=2'] });
        res.end('short and stout');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true }));
      }
    });
  });
  after(() => upstream.close());

  const fetcher = (overrides: Partial<{ allow: string[]; timeoutMs: number; maxResponseBytes: number }> = {}) =>
    createPluginFetch({ allow: [upstream.url], timeoutMs: 5_000, maxResponseBytes: 1024, ...overrides }, 'p1', silentLogger());
  const call = async (fetch: (url: string, init: string) => Promise<string>, url: string, init: object = {}): Promise<Answer> => JSON.parse(await fetch(url, JSON.stringify(init))) as Answer;

  it('sends the method, headers and body it is given, and answers status, headers and body', async () => {
    const answer = await call(fetcher(), `${upstream.url}/introspect?x=1`, { method: 'post', headers: { 'Content-Type': 'text/plain', 'X-Id': 7 }, body: 'token=abc' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers?.['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(answer.body!), { ok: true });
    const request = seen.at(-1)!;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/introspect?x=1');
    assert.equal(request.headers['x-id'], '7');
    assert.equal(request.body, 'token=abc');
  });

  it('passes a non-2xx answer through, repeated header fields joined', async () => {
    const answer = await call(fetcher(), `${upstream.url}/teapot`);
    assert.equal(answer.status, 418);
    assert.equal(answer.headers?.['x-kind'], 'teapot');
    assert.equal(answer.headers?.['set-cookie'], 'a=1, b=2');
    assert.equal(answer.body, 'short and stout');
  });

  it('refuses an origin that is not allowed, and a URL that is not one, without a request', async () => {
    const before = seen.length;
    assert.match((await call(fetcher({ allow: ['http://127.0.0.1:1'] }), `${upstream.url}/x`)).error!, /^ctx\.fetch: origin http:\/\/127\.0\.0\.1:\d+ is not allowed for this plugin$/);
    assert.match((await call(fetcher(), 'not a url')).error!, /^ctx\.fetch: invalid URL/);
    assert.equal(seen.length, before);
  });

  it('answers an error past maxResponseBytes', async () => {
    assert.equal((await call(fetcher({ maxResponseBytes: 1024 }), `${upstream.url}/big`)).error, `ctx.fetch: response from ${upstream.url} is larger than 1024 bytes`);
  });

  it('stops reading past maxResponseBytes, without waiting for the end of the body', { timeout: 10_000 }, async () => {
    assert.equal((await call(fetcher({ maxResponseBytes: 1024 }), `${upstream.url}/endless`)).error, `ctx.fetch: response from ${upstream.url} is larger than 1024 bytes`);
  });

  it('answers an error when the upstream takes longer than the timeout', async () => {
    const answer = await call(fetcher({ timeoutMs: 100 }), `${upstream.url}/slow`);
    assert.match(answer.error!, /^ctx\.fetch: /);
    assert.equal(answer.status, undefined);
  });

  it('holds the whole call to the timeout, body included', { timeout: 10_000 }, async () => {
    const started = Date.now();
    const answer = await call(fetcher({ timeoutMs: 200 }), `${upstream.url}/trickle`);
    assert.equal(answer.error, `ctx.fetch: ${upstream.url} did not complete within 200 ms`);
    // The body would take 2 s; generous for a busy machine, far below that.
    assert.ok(Date.now() - started < 1_500, `answered after ${Date.now() - started} ms`);
  });

  it('does not follow redirects: the plugin sees the 302 and its Location', async () => {
    const answer = await call(fetcher(), `${upstream.url}/moved`);
    assert.equal(answer.status, 302);
    assert.equal(answer.headers?.['location'], '/elsewhere');
  });

  it('refuses CONNECT without a request', async () => {
    const before = seen.length;
    assert.equal((await call(fetcher(), `${upstream.url}/`, { method: 'connect' })).error, 'ctx.fetch: invalid method CONNECT');
    assert.equal(seen.length, before);
  });

  it('answers an error when nothing listens', async () => {
    const port = await closedPort();
    const answer = await call(fetcher({ allow: [`http://127.0.0.1:${port}`] }), `http://127.0.0.1:${port}/`);
    assert.match(answer.error!, /^ctx\.fetch: .*ECONNREFUSED/);
  });
});
