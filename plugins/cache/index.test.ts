import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../runtime/src/config/config-error.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';
import { Gateway } from '../../runtime/src/gateway.ts';
import { builtinPlugins } from '../../runtime/src/plugins/builtins.ts';
import type { GatewayConfig } from '../../sdk/src/config.ts';
import { startUpstream, type Upstream } from '../../test/helpers/upstream.ts';
import { SECRET, signToken } from '../auth/test-support.ts';
import { parseExposition } from '../metrics/parse-exposition.ts';

// The cache through the whole gateway pipeline without a client socket (gateway.request), in
// front of a real upstream on port 0 whose answers each test chooses. End-to-end tests over real
// sockets are in test/e2e/plugins/cache*.test.ts.

let upstream: Upstream;
/** What the upstream answers, per path (the query is ignored). */
const behaviour = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
/** Upstream calls per path. */
const calls = new Map<string, number>();

before(async () => {
  upstream = await startUpstream((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    calls.set(path, (calls.get(path) ?? 0) + 1);
    const answer = behaviour.get(path);
    if (answer) return answer(req, res);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`body of ${req.url}`);
  });
});
after(() => upstream.close());

const gateways: Gateway[] = [];
after(() => Promise.all(gateways.map((g) => g.close())));

function gatewayOf(config: Omit<GatewayConfig, 'routes'> & { routes: Omit<GatewayConfig['routes'][number], 'upstream'>[] }): Gateway {
  const resolved = resolveConfig({ ...config, routes: config.routes.map((r) => ({ ...r, upstream: upstream.url })) } as GatewayConfig, builtinPlugins);
  const g = new Gateway(resolved);
  gateways.push(g);
  return g;
}

const cached = (options: Record<string, unknown> = {}, routes = [{ path: '/*', middleware: ['cache'] }]) =>
  gatewayOf({ plugins: { cache: { use: 'cache', options } }, routes } as never);

interface Got {
  status: number;
  headers: Headers;
  text: string;
}
async function get(g: Gateway, path: string, init: RequestInit = {}): Promise<Got> {
  const res = await g.request(path, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

let n = 0;
/** A path no other test uses, with its upstream behaviour. */
function path(answer?: (req: IncomingMessage, res: ServerResponse) => void): string {
  const p = `/t${n++}`;
  if (answer) behaviour.set(p, answer);
  return p;
}
const callsTo = (p: string) => calls.get(p) ?? 0;

function reply(headers: Record<string, string | string[]>, body: string | ((req: IncomingMessage) => string) = 'ok', status = 200) {
  return (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, headers);
    res.end(typeof body === 'function' ? body(req) : body);
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

describe('cache: hits, misses, expiry', () => {
  it('stores a miss and answers the next requests from it, with Age and Cache-Status', async () => {
    const g = cached();
    const p = path(reply({ 'content-type': 'text/plain', 'cache-control': 'max-age=60' }, (req) => `v${callsTo(req.url!)}`));
    const first = await get(g, p);
    assert.equal(first.status, 200);
    assert.equal(first.text, 'v1');
    assert.equal(first.headers.get('cache-status'), 'cache; fwd=uri-miss; stored');
    assert.equal(first.headers.get('age'), null);
    const second = await get(g, p);
    assert.equal(second.text, 'v1');
    assert.match(second.headers.get('cache-status')!, /^cache; hit; ttl=(59|60)$/);
    assert.equal(second.headers.get('age'), '0');
    assert.equal(second.headers.get('content-length'), '2');
    assert.equal(second.headers.get('content-type'), 'text/plain');
    assert.equal(callsTo(p), 1);
  });

  it('counts the upstream Age, and expires the entry when its freshness ends', async () => {
    const g = cached();
    const p = path(reply({ 'cache-control': 'max-age=2', age: '1' }, (req) => `v${callsTo(req.url!)}`));
    await get(g, p);
    const hit = await get(g, p);
    assert.ok(Number(hit.headers.get('age')) >= 1, `age ${hit.headers.get('age')}`);
    await until('the entry expires', async () => (await get(g, p)).text !== 'v1');
    assert.equal(callsTo(p), 2);
  });

  it('uses the instance ttl when the upstream says nothing, and stores nothing then with ttl 0', async () => {
    const p = path(reply({}, 'plain'));
    const g = cached({ ttl: '1m' });
    await get(g, p);
    assert.match((await get(g, p)).headers.get('cache-status')!, /hit; ttl=(59|60)/);
    const strict = cached({ ttl: 0 });
    const q = path(reply({}, 'plain'));
    await get(strict, q);
    const again = await get(strict, q);
    assert.equal(again.headers.get('cache-status'), 'cache; fwd=uri-miss; detail=stale');
    assert.equal(callsTo(q), 2);
  });

  it('keys on the query (any order) and the Host', async () => {
    const g = cached();
    const p = path(reply({ 'cache-control': 'max-age=60' }, (req) => req.url!));
    await get(g, `${p}?a=1&b=2`);
    assert.match((await get(g, `${p}?b=2&a=1`)).headers.get('cache-status')!, /hit/);
    assert.match((await get(g, `${p}?a=1&b=3`)).headers.get('cache-status')!, /miss/);
    assert.match((await get(g, `${p}?a=1&b=2`, { headers: { host: 'other.test' } })).headers.get('cache-status')!, /miss/);
    assert.equal(callsTo(p), 3);
  });

  it('answers HEAD from a stored GET, and sends a HEAD miss upstream without storing it', async () => {
    const g = cached();
    const p = path(reply({ 'cache-control': 'max-age=60' }, 'twelve bytes'));
    const head = await get(g, p, { method: 'HEAD' });
    assert.equal(head.headers.get('cache-status'), 'cache; fwd=uri-miss; detail=head');
    await get(g, p);
    const headHit = await get(g, p, { method: 'HEAD' });
    assert.match(headHit.headers.get('cache-status')!, /hit/);
    assert.equal(headHit.headers.get('content-length'), '12');
    assert.equal(headHit.text, '');
    assert.equal(callsTo(p), 2);
  });

  it('a successful POST, PUT or DELETE drops the entries of its URL', async () => {
    const g = cached();
    const p = path((req, res) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end(`v${callsTo(req.url!)}`);
    });
    assert.equal((await get(g, p)).text, 'v1');
    assert.equal((await get(g, p)).text, 'v1');
    const post = await get(g, p, { method: 'POST', body: 'x' });
    assert.equal(post.headers.get('cache-status'), null, 'a POST is not the cache\'s');
    assert.equal((await get(g, p)).text, 'v3', 'refetched after the POST');
  });

  it('answers a stored 204 without a body or Content-Length', async () => {
    const g = cached();
    const p = path((_req, res) => void res.writeHead(204, { 'cache-control': 'max-age=60' }).end());
    await get(g, p);
    let hit!: Got;
    await until('a hit', async () => /hit/.test((hit = await get(g, p)).headers.get('cache-status')!));
    assert.equal(hit.status, 204);
    assert.equal(hit.headers.get('content-length'), null);
    assert.equal(callsTo(p), 1);
  });

  it('bypasses Range requests', async () => {
    const g = cached();
    const p = path(reply({ 'cache-control': 'max-age=60' }));
    await get(g, p);
    const ranged = await get(g, p, { headers: { range: 'bytes=0-1' } });
    assert.equal(ranged.headers.get('cache-status'), 'cache; fwd=bypass; detail=range');
    assert.equal(callsTo(p), 2);
  });

  it('keeps its entries across a reload with the same options', async () => {
    const config = { plugins: { cache: { use: 'cache', options: {} } }, routes: [{ path: '/*', upstream: upstream.url, middleware: ['cache'] }] } as GatewayConfig;
    const g = new Gateway(resolveConfig(config, builtinPlugins));
    gateways.push(g);
    const p = path(reply({ 'cache-control': 'max-age=60' }));
    await get(g, p);
    g.reload(resolveConfig(config, builtinPlugins));
    assert.match((await get(g, p)).headers.get('cache-status')!, /hit/);
    assert.equal(callsTo(p), 1);
  });
});

describe('cache: what is never stored', () => {
  for (const [name, headers, status, detail] of [
    ['no-store', { 'cache-control': 'no-store, max-age=60' }, 200, 'no-store'],
    ['private', { 'cache-control': 'private, max-age=60' }, 200, 'private'],
    ['Set-Cookie', { 'cache-control': 'max-age=60', 'set-cookie': 'session=abc' }, 200, 'set-cookie'],
    ['Vary: *', { 'cache-control': 'max-age=60', vary: '*' }, 200, 'vary'],
    ['a 500', { 'cache-control': 'max-age=60' }, 500, 'status'],
    ['a 404 (not configured)', { 'cache-control': 'max-age=60' }, 404, 'status'],
  ] as const) {
    it(`${name}: every request goes upstream`, async () => {
      const g = cached();
      const p = path(reply(headers as Record<string, string>, 'x', status));
      for (let i = 0; i < 3; i++) {
        const res = await get(g, p);
        assert.equal(res.status, status);
        assert.equal(res.headers.get('cache-status'), `cache; fwd=uri-miss; detail=${detail}`);
      }
      assert.equal(callsTo(p), 3);
    });
  }

  it('stores a 404 when statuses lists it', async () => {
    const g = cached({ statuses: [200, 404] });
    const p = path(reply({ 'cache-control': 'max-age=60' }, 'nope', 404));
    await get(g, p);
    const hit = await get(g, p);
    assert.equal(hit.status, 404);
    assert.match(hit.headers.get('cache-status')!, /hit/);
  });

  it('streams a body over maxEntryBytes through whole, and does not store it', async () => {
    const g = cached({ maxEntryBytes: '1kb' });
    const big = 'x'.repeat(50_000);
    const chunked = path((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.write(big.slice(0, 25_000));
      res.end(big.slice(25_000));
    });
    for (let i = 0; i < 2; i++) assert.equal((await get(g, chunked)).text.length, 50_000);
    assert.equal(callsTo(chunked), 2);
    const declared = path(reply({ 'cache-control': 'max-age=60', 'content-length': String(big.length) }, big));
    const res = await get(g, declared);
    assert.equal(res.text.length, 50_000);
    assert.equal(res.headers.get('cache-status'), 'cache; fwd=uri-miss; detail=too-large');
  });

  it('a request with Authorization on a route without auth bypasses the cache', async () => {
    const g = cached();
    const p = path(reply({ 'cache-control': 'max-age=60' }, (req) => String(req.headers.authorization)));
    assert.equal((await get(g, p)).text, 'undefined');
    const withToken = await get(g, p, { headers: { authorization: 'Bearer someone' } });
    assert.equal(withToken.text, 'Bearer someone', 'never the anonymous entry, never stored');
    assert.equal(withToken.headers.get('cache-status'), 'cache; fwd=bypass; detail=authorization');
  });
});

describe('cache: Vary', () => {
  it('stores one variant per value of the headers Vary names', async () => {
    const g = cached();
    const p = path(reply({ 'cache-control': 'max-age=60', vary: 'Accept-Language' }, (req) => `lang ${req.headers['accept-language']}`));
    const fr = { headers: { 'accept-language': 'fr' } };
    const de = { headers: { 'accept-language': 'de' } };
    assert.equal((await get(g, p, fr)).text, 'lang fr');
    const deMiss = await get(g, p, de);
    assert.equal(deMiss.text, 'lang de');
    assert.equal(deMiss.headers.get('cache-status'), 'cache; fwd=vary-miss; stored');
    const frHit = await get(g, p, fr);
    const deHit = await get(g, p, de);
    assert.equal(frHit.text, 'lang fr');
    assert.equal(deHit.text, 'lang de');
    assert.match(frHit.headers.get('cache-status')!, /hit/);
    assert.match(deHit.headers.get('cache-status')!, /hit/);
    assert.equal(callsTo(p), 2);
  });

  it('after a POST, no old variant is found again', async () => {
    const g = cached();
    const p = path((req, res) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'accept' });
      res.end(`${req.headers.accept} v${callsTo(req.url!)}`);
    });
    await get(g, p, { headers: { accept: 'a' } });
    await get(g, p, { headers: { accept: 'b' } });
    await get(g, p, { method: 'POST', body: 'x' });
    assert.equal((await get(g, p, { headers: { accept: 'a' } })).text, 'a v4');
    assert.equal((await get(g, p, { headers: { accept: 'b' } })).text, 'b v5', 'the b variant stored before the POST is gone too');
  });
});

describe('cache: conditional requests', () => {
  it('answers If-None-Match and If-Modified-Since with 304 from an entry', async () => {
    const g = cached();
    const p = path(reply({ 'cache-control': 'max-age=60', etag: '"abc"', 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT' }, 'body'));
    await get(g, p);
    const nm = await get(g, p, { headers: { 'if-none-match': 'W/"abc"' } });
    assert.equal(nm.status, 304);
    assert.equal(nm.text, '');
    assert.equal(nm.headers.get('etag'), '"abc"');
    assert.match(nm.headers.get('cache-status')!, /hit/);
    assert.equal((await get(g, p, { headers: { 'if-modified-since': 'Wed, 01 Jan 2025 00:00:00 GMT' } })).status, 304);
    assert.equal((await get(g, p, { headers: { 'if-none-match': '"other"' } })).status, 200);
    assert.equal(callsTo(p), 1);
  });

  it('on a miss, asks the upstream for the whole answer, stores it, and answers the client 304', async () => {
    const g = cached();
    const seen: (string | undefined)[] = [];
    const p = path((req, res) => {
      seen.push(req.headers['if-none-match']);
      res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"abc"' });
      res.end('body');
    });
    const first = await get(g, p, { headers: { 'if-none-match': '"abc"' } });
    assert.equal(first.status, 304);
    assert.equal(first.headers.get('cache-status'), 'cache; fwd=uri-miss; stored');
    assert.deepEqual(seen, [undefined], 'the client\'s condition is not sent upstream');
    // The body goes on into the store after the 304: the next request finds it stored, or waits for it.
    const after = await get(g, p);
    assert.equal(after.text, 'body', 'the body was stored though the client got a 304');
    assert.match(after.headers.get('cache-status')!, /hit|collapsed/);
    assert.equal(callsTo(p), 1);
  });

  it('revalidates a stale entry with its validator: a 304 refreshes it', async () => {
    const g = cached();
    const conditions: (string | undefined)[] = [];
    const p = path((req, res) => {
      conditions.push(req.headers['if-none-match']);
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { 'cache-control': 'max-age=1', etag: '"v1"' });
        return void res.end();
      }
      res.writeHead(200, { 'cache-control': 'max-age=1', etag: '"v1"', 'content-type': 'text/plain' });
      res.end('the body');
    });
    await get(g, p);
    let res!: Got;
    await until('a revalidation', async () => (res = await get(g, p)).headers.get('cache-status')!.includes('fwd=stale'));
    assert.equal(res.status, 200);
    assert.equal(res.text, 'the body');
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(res.headers.get('cache-status'), 'cache; fwd=stale; fwd-status=304');
    assert.deepEqual(conditions, [undefined, '"v1"']);
    assert.match((await get(g, p)).headers.get('cache-status')!, /hit/, 'fresh again');
  });
});

describe('cache: stale-while-revalidate', () => {
  it('serves the stale entry at once while one background request refreshes it', async () => {
    const g = cached();
    let release!: () => void;
    const refreshGate = new Promise<void>((r) => (release = r));
    const p = path((req, res) => {
      const nth = callsTo(req.url!);
      const send = () => {
        res.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=60' });
        res.end(`v${nth}`);
      };
      if (nth === 1) send();
      else void refreshGate.then(send);
    });
    assert.equal((await get(g, p)).text, 'v1');
    await until('stale', async () => /ttl=-/.test((await get(g, p)).headers.get('cache-status')!));
    await until('the refresh reached the upstream', () => callsTo(p) === 2);
    // The refresh is held upstream: every request meanwhile is answered stale, and no second refresh starts.
    const during = await Promise.all(Array.from({ length: 20 }, () => get(g, p)));
    assert.ok(during.every((r) => r.text === 'v1' && /^cache; hit; ttl=-\d+$/.test(r.headers.get('cache-status')!)));
    assert.equal(callsTo(p), 2, 'one refresh at a time');
    release();
    await until('refreshed', async () => (await get(g, p)).text === 'v2');
    assert.equal(callsTo(p), 2);
  });

  it('uses the instance option when the upstream gives no window', async () => {
    const g = cached({ ttl: '1s', staleWhileRevalidate: '1m' });
    const p = path(reply({}, (req) => `v${callsTo(req.url!)}`));
    await get(g, p);
    await until('served stale, then refreshed', async () => (await get(g, p)).text === 'v2');
  });
});

describe('cache: identity on authenticated routes', () => {
  const token = (sub: string, iss = 'https://idp.test/') => signToken({ sub, iss, exp: Math.floor(Date.now() / 1000) + 600 }, SECRET);

  it('never serves one caller\'s entry to another, and serves each caller their own', async () => {
    const g = gatewayOf({
      plugins: { auth: { use: 'auth', options: { secret: SECRET } }, cache: { use: 'cache', options: {} } },
      routes: [{ path: '/*', middleware: ['auth', 'cache'] }],
    });
    const p = path(reply({ 'cache-control': 'max-age=60' }, (req) => `for ${JSON.parse(Buffer.from(String(req.headers.authorization).split('.')[1]!, 'base64url').toString()).sub}`));
    const alice = { headers: { authorization: `Bearer ${await token('alice')}` } };
    const alice2 = { headers: { authorization: `Bearer ${await signToken({ sub: 'alice', iss: 'https://idp.test/', jti: 'another', exp: Math.floor(Date.now() / 1000) + 600 }, SECRET)}` } };
    const bob = { headers: { authorization: `Bearer ${await token('bob')}` } };
    const mallory = { headers: { authorization: `Bearer ${await token('alice', 'https://evil.test/')}` } };
    assert.equal((await get(g, p, alice)).text, 'for alice');
    assert.equal((await get(g, p, bob)).text, 'for bob');
    assert.equal((await get(g, p, mallory)).text, 'for alice', 'another issuer\'s alice is another caller');
    assert.equal(callsTo(p), 3);
    const aliceAgain = await get(g, p, alice2);
    assert.equal(aliceAgain.text, 'for alice');
    assert.match(aliceAgain.headers.get('cache-status')!, /hit/);
    assert.equal((await get(g, p, bob)).text, 'for bob');
    assert.equal(callsTo(p), 3);
    assert.equal((await get(g, p)).status, 401, 'no token: auth refuses before the cache is asked');
  });

  it('refuses at load a cache listed before auth, naming the middleware entry', () => {
    const config = (middleware: string[], routeMiddleware: string[]) => ({
      plugins: { auth: { use: 'auth', options: { secret: SECRET } }, cache: { use: 'cache' } },
      middleware,
      routes: [{ path: '/open/*', upstream: upstream.url }, { path: '/private/*', upstream: upstream.url, middleware: routeMiddleware }],
    });
    assert.throws(
      () => new Gateway(resolveConfig(config(['cache'], ['auth']) as GatewayConfig, builtinPlugins)),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.issues.length === 1 &&
        err.issues[0]!.path === 'middleware[0]' &&
        err.issues[0]!.message === 'the cache "cache" runs before the auth instance "auth" on route "/private/*": a cached answer would be served without authentication; list "auth" before "cache"',
    );
    assert.throws(
      () => new Gateway(resolveConfig(config([], ['cache', 'auth']) as GatewayConfig, builtinPlugins)),
      (err: unknown) => err instanceof ConfigError && err.issues[0]!.path === 'routes[1].middleware[0]',
    );
  });

  it('identity "shared" gives every authenticated caller the same entries', async () => {
    const g = gatewayOf({
      plugins: { auth: { use: 'auth', options: { secret: SECRET } }, cache: { use: 'cache', options: { identity: 'shared' } } },
      routes: [{ path: '/*', middleware: ['auth', 'cache'] }],
    });
    const p = path(reply({ 'cache-control': 'max-age=60' }, 'catalogue'));
    await get(g, p, { headers: { authorization: `Bearer ${await token('alice')}` } });
    assert.match((await get(g, p, { headers: { authorization: `Bearer ${await token('bob')}` } })).headers.get('cache-status')!, /hit/);
    assert.equal(callsTo(p), 1);
  });
});

describe('cache: coalescing', () => {
  it('100 concurrent misses make one upstream call', async () => {
    const g = cached();
    const p = path((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'cache-control': 'max-age=60' });
        res.end('once');
      }, 100);
    });
    const all = await Promise.all(Array.from({ length: 100 }, () => get(g, p)));
    assert.ok(all.every((r) => r.status === 200 && r.text === 'once'));
    assert.equal(callsTo(p), 1);
    assert.equal(all.filter((r) => r.headers.get('cache-status') === 'cache; fwd=uri-miss; collapsed').length, 99);
  });

  it('an answer that cannot be stored sends every waiting request upstream itself', async () => {
    const g = cached();
    const p = path((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'cache-control': 'private' });
        res.end('mine');
      }, 100);
    });
    const all = await Promise.all(Array.from({ length: 5 }, () => get(g, p)));
    assert.ok(all.every((r) => r.text === 'mine'));
    assert.equal(callsTo(p), 5);
    assert.equal(all.filter((r) => r.headers.get('cache-status') === 'cache; fwd=uri-miss; collapsed=?0; detail=private').length, 4);
  });

  it('a follower waits at most coalesceTimeout, then calls the upstream itself', async () => {
    const g = cached({ coalesceTimeout: '100ms' });
    let first = true;
    const p = path((_req, res) => {
      const slow = first;
      first = false;
      setTimeout(() => {
        res.writeHead(200, { 'cache-control': 'max-age=60' });
        res.end(slow ? 'slow' : 'fast');
      }, slow ? 2_000 : 0);
    });
    const leader = get(g, p);
    await until('the leader is upstream', () => callsTo(p) === 1);
    const follower = await get(g, p);
    assert.equal(follower.text, 'fast');
    assert.equal(follower.headers.get('cache-status'), 'cache; fwd=uri-miss; collapsed=?0; stored');
    assert.equal((await leader).text, 'slow');
  });

  it('without coalescing, each miss calls the upstream', async () => {
    const g = cached({ coalesce: false });
    const p = path((_req, res) => setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('x'), 50));
    await Promise.all(Array.from({ length: 5 }, () => get(g, p)));
    assert.equal(callsTo(p), 5);
  });
});

describe('cache: metrics', () => {
  it('counts results per route and exports the bytes held through the metrics built-in', async () => {
    const g = gatewayOf({
      plugins: { metrics: { use: 'metrics', options: { cacheFor: 0 } }, cache: { use: 'cache', options: {} } },
      routes: [{ path: '/m/*', middleware: ['cache'] }],
    });
    const p = `/m${path()}`;
    behaviour.set(p, reply({ 'cache-control': 'max-age=1, stale-while-revalidate=60' }, 'x'.repeat(1000)));
    await get(g, p);
    await get(g, p);
    await get(g, p, { headers: { authorization: 'Bearer x' } });
    await until('stale', async () => /ttl=-/.test((await get(g, p)).headers.get('cache-status')!));
    const scrape = await (await g.request('/metrics')).text();
    const m = parseExposition(scrape);
    const result = (r: string) => m.value('gateway_cache_requests_total', { route: '/m/*', result: r }) ?? NaN;
    assert.equal(result('miss'), 1);
    assert.ok(result('hit') >= 1);
    assert.equal(result('bypass'), 1);
    assert.ok(result('stale') >= 1);
    assert.equal(result('collapsed'), 0);
    const stored = m.value('gateway_cache_stored_bytes', { plugin: 'cache' }) ?? NaN;
    assert.ok(stored > 1000 && stored < 3000, `stored bytes ${stored}`);
    assert.match(scrape, /# TYPE gateway_cache_stored_bytes gauge/);
  });
});
