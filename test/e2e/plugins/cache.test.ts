import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { SECRET, signToken } from '../../../plugins/auth/test-support.ts';
import { parseExposition } from '../../../plugins/metrics/parse-exposition.ts';
import { assertPromtoolAccepts } from '../../../plugins/metrics/promtool.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { httpRequest, type SimpleResponse } from '../../helpers/http-client.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// The cache built-in end to end: a real gateway listening on port 0 in front of a real upstream
// on port 0, every request over its own client connection. The upstream's answer is chosen per
// path; it counts the calls it gets.

let upstream: Upstream;
let g: TestGateway;
const answers = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
const calls = new Map<string, number>();
const callsTo = (p: string) => calls.get(p) ?? 0;

before(async () => {
  upstream = await startUpstream((req, res) => {
    const p = (req.url ?? '/').split('?')[0]!;
    calls.set(p, callsTo(p) + 1);
    const answer = answers.get(p);
    if (answer) return answer(req, res);
    res.writeHead(404).end();
  });
  g = await startGateway({
    // 100 concurrent clients from one address: no per-client in-flight limit.
    server: { limits: { maxInFlightPerClient: 0 } },
    plugins: {
      metrics: { use: 'metrics', options: { cacheFor: 0 } },
      auth: { use: 'auth', options: { secret: SECRET, issuer: 'https://idp.test/' } },
      cache: { use: 'cache', options: { ttl: '1m' } },
      'api-cache': { use: 'cache', options: { staleWhileRevalidate: '1m' } },
    },
    middleware: ['metrics'],
    routes: [
      { path: '/public/*', upstream: upstream.url, middleware: ['cache'] },
      { path: '/me/*', upstream: upstream.url, middleware: ['auth', 'api-cache'] },
    ],
  });
});
after(async () => {
  await g?.close();
  await upstream?.close();
});

let n = 0;
function route(prefix: '/public' | '/me', answer: (req: IncomingMessage, res: ServerResponse) => void): string {
  const p = `${prefix}/r${n++}`;
  answers.set(p, answer);
  return p;
}
const reply = (headers: Record<string, string | string[]>, body: (req: IncomingMessage) => string, status = 200) => (req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, headers);
  res.end(body(req));
};
const get = (p: string, headers: Record<string, string> = {}): Promise<SimpleResponse> => httpRequest(`${g.url}${p}`, { headers });
const status = (r: SimpleResponse) => String(r.headers['cache-status']);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

describe('cache over real sockets', () => {
  it('miss, then hits with Age and Cache-Status, then a new miss once expired', async () => {
    const p = route('/public', reply({ 'cache-control': 'max-age=2', 'content-type': 'text/plain' }, (req) => `v${callsTo(req.url!)}`));
    const miss = await get(p);
    assert.equal(miss.text, 'v1');
    assert.equal(status(miss), 'cache; fwd=uri-miss; stored');
    const hit = await get(p);
    assert.equal(hit.text, 'v1');
    assert.match(status(hit), /^cache; hit; ttl=[12]$/);
    assert.match(String(hit.headers.age), /^[0-2]$/);
    assert.equal(hit.headers['content-length'], '2');
    assert.equal(callsTo(p), 1);
    await until('expiry', async () => (await get(p)).text === 'v2');
    assert.equal(callsTo(p), 2);
  });

  it('Vary: one entry per Accept-Language, each served to its own requests', async () => {
    const p = route('/public', reply({ 'cache-control': 'max-age=60', vary: 'Accept-Language' }, (req) => `hello in ${req.headers['accept-language'] ?? 'nothing'}`));
    for (let round = 0; round < 2; round++) {
      assert.equal((await get(p, { 'accept-language': 'fr' })).text, 'hello in fr');
      assert.equal((await get(p, { 'accept-language': 'de' })).text, 'hello in de');
      assert.equal((await get(p)).text, 'hello in nothing');
    }
    assert.equal(callsTo(p), 3);
  });

  it('no-store, private and Set-Cookie answers are never stored', async () => {
    const kinds: Record<string, string>[] = [{ 'cache-control': 'no-store' }, { 'cache-control': 'private, max-age=60' }, { 'cache-control': 'max-age=60', 'set-cookie': 'sid=secret' }];
    for (const headers of kinds) {
      const p = route('/public', reply(headers, (req) => `call ${callsTo(req.url!)}`));
      const answersSeen = [await get(p), await get(p), await get(p)];
      assert.deepEqual(answersSeen.map((r) => r.text), ['call 1', 'call 2', 'call 3'], JSON.stringify(headers));
      assert.ok(answersSeen.every((r) => /^cache; fwd=uri-miss; detail=(no-store|private|set-cookie)$/.test(status(r))), status(answersSeen[0]!));
    }
  });

  it('two tokens never share an entry; one subject\'s tokens do', async () => {
    const p = route('/me', reply({ 'cache-control': 'max-age=60' }, (req) => `profile of ${req.headers['x-sub']} #${callsTo(req.url!)}`));
    // The upstream knows the caller from a header the client sends; the cache must key on the verified subject, not on it.
    const token = (sub: string, extra: Record<string, unknown> = {}) => signToken({ sub, iss: 'https://idp.test/', exp: Math.floor(Date.now() / 1000) + 600, ...extra }, SECRET);
    const [alice, alice2, bob] = await Promise.all([token('alice'), token('alice', { jti: 'second' }), token('bob')]);
    const as = (t: string, sub: string) => get(p, { authorization: `Bearer ${t}`, 'x-sub': sub });
    assert.equal((await as(alice, 'alice')).text, 'profile of alice #1');
    const bobFirst = await as(bob, 'bob');
    assert.equal(bobFirst.text, 'profile of bob #2', 'bob is never given alice\'s entry');
    assert.equal(status(bobFirst), 'api-cache; fwd=uri-miss; stored');
    const aliceAgain = await as(alice2, 'alice');
    assert.equal(aliceAgain.text, 'profile of alice #1', 'a new token of alice: her entry');
    assert.match(status(aliceAgain), /^api-cache; hit/);
    assert.equal((await as(bob, 'bob')).text, 'profile of bob #2');
    assert.equal((await get(p)).status, 401);
    assert.equal(callsTo(p), 2);
  });

  it('ETag / If-None-Match → 304 from the entry, and Last-Modified / If-Modified-Since', async () => {
    const p = route('/public', reply({ 'cache-control': 'max-age=60', etag: '"rev-7"', 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT' }, () => 'the document'));
    assert.equal((await get(p)).status, 200);
    const notModified = await get(p, { 'if-none-match': '"rev-7"' });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    assert.equal(notModified.headers.etag, '"rev-7"');
    assert.match(status(notModified), /^cache; hit/);
    assert.ok(notModified.headers.age !== undefined);
    assert.equal((await get(p, { 'if-modified-since': 'Thu, 02 Jan 2025 00:00:00 GMT' })).status, 304);
    assert.equal((await get(p, { 'if-none-match': '"rev-6"' })).status, 200);
    assert.equal(callsTo(p), 1);
  });

  it('stale-while-revalidate: the stale entry answers at once, one background call refreshes it', async () => {
    let hold: Promise<void> = Promise.resolve();
    let release!: () => void;
    const p = route('/me', (req, res) => {
      const nth = callsTo(req.url!);
      void hold.then(() => {
        res.writeHead(200, { 'cache-control': 'max-age=1' });
        res.end(`v${nth}`);
      });
    });
    const t = await signToken({ sub: 'carol', iss: 'https://idp.test/', exp: Math.floor(Date.now() / 1000) + 600 }, SECRET);
    const asCarol = () => get(p, { authorization: `Bearer ${t}` });
    assert.equal((await asCarol()).text, 'v1');
    hold = new Promise<void>((r) => (release = r));
    await until('stale', async () => /ttl=-/.test(status(await asCarol())));
    await until('the refresh reached the upstream', async () => callsTo(p) === 2);
    const meanwhile = await Promise.all(Array.from({ length: 10 }, () => asCarol()));
    assert.ok(meanwhile.every((r) => r.text === 'v1' && /^api-cache; hit; ttl=-\d+$/.test(status(r))), 'answered stale while the refresh is held');
    assert.equal(callsTo(p), 2, 'one refresh at a time');
    release();
    await until('refreshed', async () => (await asCarol()).text === 'v2');
  });

  it('100 concurrent misses for one key make exactly 1 upstream call', async () => {
    const p = route('/public', (_req, res) => {
      setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('coalesced'), 200);
    });
    const all = await Promise.all(Array.from({ length: 100 }, () => get(p)));
    assert.ok(all.every((r) => r.status === 200 && r.text === 'coalesced'));
    assert.equal(callsTo(p), 1);
    assert.equal(all.filter((r) => status(r) === 'cache; fwd=uri-miss; stored').length, 1);
    assert.equal(all.filter((r) => status(r) === 'cache; fwd=uri-miss; collapsed').length, 99);
  });

  it('the scrape counts hits, misses and stale serves, shows the bytes held, and promtool accepts it', async () => {
    const text = (await get('/metrics')).text;
    const m = parseExposition(text);
    assert.ok((m.value('gateway_cache_requests_total', { route: '/public/*', result: 'hit' }) ?? 0) >= 5);
    assert.ok((m.value('gateway_cache_requests_total', { route: '/public/*', result: 'miss' }) ?? 0) >= 10);
    assert.equal(m.value('gateway_cache_requests_total', { route: '/public/*', result: 'collapsed' }), 99);
    assert.ok((m.value('gateway_cache_requests_total', { route: '/me/*', result: 'stale' }) ?? 0) >= 10);
    assert.ok((m.value('gateway_cache_stored_bytes', { plugin: 'cache' }) ?? 0) > 0);
    assert.ok((m.value('gateway_cache_stored_bytes', { plugin: 'api-cache' }) ?? 0) > 0);
    await assertPromtoolAccepts(text, 'a scrape with cache metrics');
  });
});
