import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { silentLogger, startGateway, type RunningGateway } from '../../../runtime/src/index.ts';
import { resolveConfig, builtinPlugins } from '../../../runtime/src/index.ts';
import { parseExposition } from '../../../plugins/metrics/parse-exposition.ts';
import { SECRET, signToken } from '../../../plugins/auth/test-support.ts';
import { errorCode, httpRequest } from '../../helpers/http-client.ts';
import { closedPort, startUpstream, type Upstream } from '../../helpers/upstream.ts';

// Issue 13, aggregated endpoints, through real sockets: a users, a billing and a preferences
// service on port 0, one route fanning out to the three, and each failure mode of a backend.

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** What the preferences service does on the next calls (tests switch it). */
let preferencesMode: 'ok' | 'slow' | 'html' | 'huge' | 'error' = 'ok';

const bodyJsonPlugin = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/body-json.ts');

describe('aggregated endpoints', () => {
  let users: Upstream;
  let billing: Upstream;
  let preferences: Upstream;
  let dir: string;
  let gw: RunningGateway;
  let dead: string;

  before(async () => {
    users = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url!, 'http://users');
      const id = /^\/users\/([^/]+)$/.exec(url.pathname)?.[1];
      if (url.pathname === '/users') return json(res, 200, [{ id: '1' }, { id: '2' }]);
      if (id === '1' || id === 'u-1') return json(res, 200, { id, name: 'Ada', accountId: 'acc-7', profile: { email: 'ada@x', address: { city: 'London', zip: 'N1' } }, password: 'hash' });
      return json(res, 404, { error: 'no such user' });
    });
    billing = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url!, 'http://billing');
      if (url.pathname === '/accounts/acc-7') return json(res, 200, { balance: 12, currency: 'EUR' });
      if (url.pathname.startsWith('/subscriptions/')) return json(res, 200, { plan: 'pro', seats: 5, card: { last4: '4242' } });
      if (url.pathname === '/search') return json(res, 200, { q: url.searchParams.get('q') });
      return json(res, 500, { error: 'billing internal stack trace: do-not-leak' });
    });
    preferences = await startUpstream((_req: IncomingMessage, res: ServerResponse) => {
      switch (preferencesMode) {
        case 'slow':
          setTimeout(() => json(res, 200, { theme: 'late' }), 3_000).unref();
          return;
        case 'html':
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html>oops</html>');
          return;
        case 'huge':
          return json(res, 200, { blob: 'x'.repeat(64 * 1024) });
        case 'error':
          return json(res, 503, { error: 'preferences stack trace: do-not-leak' });
        default:
          return json(res, 200, { theme: 'dark', language: 'en-GB' });
      }
    });
    dead = `http://127.0.0.1:${await closedPort()}`;
    dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-aggregation-'));
    const profile = (partial: 'flag' | 'fail', prefsUrl = preferences.url) => `[
        { url: '${users.url}/users/{id}', group: 'user', deny: ['password'] },
        { url: '${billing.url}/subscriptions/{id}', allow: ['plan'], mapping: { plan: 'subscription_plan' } },
        { url: '${prefsUrl}/preferences/{id}', group: 'preferences', timeout: '500ms' },
      ], aggregate: { partial: '${partial}', maxBackendBytes: '16kb' }`;
    await fs.writeFile(
      path.join(dir, 'gateway.config.ts'),
      `export default {
  plugins: {
    metrics: { use: 'metrics', options: { cacheFor: 0 } },
    auth: { use: 'auth', options: { secret: '${SECRET}' } },
    rewrite: { use: ${JSON.stringify(bodyJsonPlugin)}, kind: 'user' },
  },
  middleware: ['metrics'],
  routes: [
    { path: '/profile/:id', methods: ['GET'], backends: ${profile('flag')} },
    { path: '/strict/profile/:id', methods: ['GET'], backends: ${profile('fail')} },
    { path: '/down/profile/:id', methods: ['GET'], backends: ${profile('flag', dead)} },
    { path: '/strict-down/profile/:id', methods: ['GET'], backends: ${profile('fail', dead)} },
    { path: '/shapes/:id', methods: ['GET'], backends: [
      { url: '${users.url}/users/{id}', target: 'profile', allow: ['address.city', 'email'], mapping: { email: 'contact' } },
      { url: '${users.url}/users', collection: 'everyone' },
      { url: '${billing.url}/search?q={query.q}', group: 'search' },
    ] },
    { path: '/me', methods: ['GET'], middleware: ['auth'], backends: [{ url: '${users.url}/users/{claims.sub}', allow: ['id', 'name'] }] },
    { path: '/steps/:id', methods: ['GET'], backends: [
      { url: '${users.url}/users/{id}', allow: ['name'] },
      { url: '${billing.url}/accounts/{resp0.accountId}', group: 'account' },
    ] },
    { path: '/steps-broken/:id', methods: ['GET'], backends: [
      { url: '${users.url}/users/{id}', allow: ['name'] },
      { url: '${billing.url}/accounts/{resp0.nothing}', group: 'account' },
    ] },
    { path: '/rewritten/:id', methods: ['GET'], middleware: ['rewrite'], backends: [
      { url: '${users.url}/users/{id}', allow: ['name', 'password'] },
      { url: '${billing.url}/subscriptions/{id}', allow: ['plan'] },
    ] },
    { path: '/single/:id', methods: ['GET'], upstream: '${users.url}/users/{id}', shape: { allow: ['id', 'profile.email'] } },
    { path: '/plain/:id', methods: ['GET'], upstream: '${users.url}/users/{id}' },
  ],
};
`,
    );
    gw = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, logger: silentLogger() });
  });

  after(async () => {
    await gw?.stop();
    for (const u of [users, billing, preferences]) await u?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const get = (p: string, headers: Record<string, string> = {}) => httpRequest(`${gw.url}${p}`, { headers });

  it('fans one call out to three services and merges their shaped answers', async () => {
    preferencesMode = 'ok';
    const res = await get('/profile/1');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-isogate-completed'], 'true');
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(JSON.parse(res.text), {
      user: { id: '1', name: 'Ada', accountId: 'acc-7', profile: { email: 'ada@x', address: { city: 'London', zip: 'N1' } } },
      subscription_plan: 'pro',
      preferences: { theme: 'dark', language: 'en-GB' },
    });
    // Each backend was called once, with the gateway's forwarding headers and identity encoding.
    const seen = users.requests.at(-1)!;
    assert.equal(seen.url, '/users/1');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['accept-encoding'], 'identity');
  });

  it('each backend is an upstream call to the observers (the metrics upstream histogram per origin)', async () => {
    const before = parseExposition((await get('/metrics')).text);
    await get('/profile/1');
    const after = parseExposition((await get('/metrics')).text);
    for (const origin of [users.url, billing.url, preferences.url]) {
      const count = (e: ReturnType<typeof parseExposition>) => e.value('gateway_upstream_duration_seconds_count', { route: '/profile/:id', upstream: origin }) ?? 0;
      assert.equal(count(after) - count(before), 1, origin);
    }
  });

  for (const [mode, code] of [['slow', 'ISOGATE_ERR_UPSTREAM_TIMEOUT'], ['html', 'ISOGATE_ERR_UPSTREAM_BAD_RESPONSE'], ['huge', 'ISOGATE_ERR_UPSTREAM_RESPONSE_TOO_LARGE'], ['error', 'ISOGATE_ERR_UPSTREAM_BAD_RESPONSE']] as const) {
    it(`a backend that is ${mode}: 'flag' answers what arrived with X-Isogate-Completed: false; 'fail' answers ${code}`, async () => {
      preferencesMode = mode;
      try {
        const flagged = await get('/profile/1');
        assert.equal(flagged.status, 200, flagged.text);
        assert.equal(flagged.headers['x-isogate-completed'], 'false');
        const body = JSON.parse(flagged.text) as Record<string, unknown>;
        assert.equal(body['subscription_plan'], 'pro');
        assert.equal(body['preferences'], undefined);
        assert.doesNotMatch(flagged.text, /do-not-leak|oops/);
        const failed = await get('/strict/profile/1');
        assert.equal(failed.status, code === 'ISOGATE_ERR_UPSTREAM_TIMEOUT' ? 504 : 502, failed.text);
        assert.equal(errorCode(failed.text), code);
        assert.doesNotMatch(failed.text, /do-not-leak|oops/);
      } finally {
        preferencesMode = 'ok';
      }
    });
  }

  it('a backend that is down: flagged, or the coded 502', async () => {
    const flagged = await get('/down/profile/1');
    assert.equal(flagged.headers['x-isogate-completed'], 'false');
    assert.equal((JSON.parse(flagged.text) as Record<string, unknown>)['subscription_plan'], 'pro');
    const failed = await get('/strict-down/profile/1');
    assert.equal(failed.status, 502);
    assert.equal(errorCode(failed.text), 'ISOGATE_ERR_UPSTREAM_UNAVAILABLE');
  });

  it('answers the coded error when no backend answered, even with partial: flag', async () => {
    const res = await get('/profile/nobody');
    // users 404, billing answers, preferences answers: partial; a route whose every backend fails is an error.
    assert.equal(res.headers['x-isogate-completed'], 'false');
    const none = await get('/steps/nobody');
    assert.equal(none.status, 502, none.text);
  });

  it('shapes with target, nested allow, mapping, collection and query templates', async () => {
    const res = await get('/shapes/1?q=red%20shoes');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), { address: { city: 'London' }, contact: 'ada@x', everyone: [{ id: '1' }, { id: '2' }], search: { q: 'red shoes' } });
  });

  it('fills claim templates from the verified token', async () => {
    const token = await signToken({ sub: 'u-1', exp: Math.floor(Date.now() / 1000) + 60 });
    const res = await get('/me', { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), { id: 'u-1', name: 'Ada' });
    assert.equal((await get('/me')).status, 401);
  });

  it('runs sequential steps: the second URL uses the first answer', async () => {
    const res = await get('/steps/1');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), { name: 'Ada', account: { balance: 12, currency: 'EUR' } });
    assert.equal(billing.requests.at(-1)!.url, '/accounts/acc-7');
    const broken = await get('/steps-broken/1');
    assert.equal(broken.headers['x-isogate-completed'], 'false');
    assert.deepEqual(JSON.parse(broken.text), { name: 'Ada' });
  });

  it('hands the merged object to an onResponse plugin with responseBody json', async () => {
    const res = await get('/rewritten/1', { 'x-res-mode': 'mutate' });
    assert.equal(res.status, 200, res.text);
    // The fixture adds `added` (and drops a `secret` the answer does not have): it saw the merged object.
    assert.deepEqual(JSON.parse(res.text), { name: 'Ada', password: 'hash', plan: 'pro', added: 1 });
    assert.equal(res.headers['x-res-body-type'], 'object');
  });

  it('shapes a single-backend route answer when asked, and streams it untouched otherwise', async () => {
    const shaped = await get('/single/1');
    assert.deepEqual(JSON.parse(shaped.text), { id: '1', profile: { email: 'ada@x' } });
    const plain = await get('/plain/1');
    assert.equal(JSON.parse(plain.text).password, 'hash');
    assert.equal(plain.headers['content-length'], String(Buffer.byteLength(plain.text)), 'the upstream framing is kept');
    assert.equal(users.requests.at(-1)!.headers['accept-encoding'], undefined, 'no encoding forced on an unshaped route');
  });
});

describe('aggregated route config', () => {
  const base = (backends: unknown[], extra: Record<string, unknown> = {}) => ({ routes: [{ path: '/p/:id', backends, ...extra }] });

  it('reports field collisions at load with the rule that decides them', () => {
    const config = resolveConfig(base([{ url: 'http://a/x', allow: ['plan'] }, { url: 'http://b/y', mapping: { tier: 'plan' }, allow: ['tier'] }, { url: 'http://c/z' }]), builtinPlugins);
    const messages = config.notes.map((n) => `${n.path}: ${n.message}`);
    assert.ok(messages.some((m) => /routes\[0\]\.backends\[1\].*"plan" also comes from backends\[0\].*later wins/.test(m)), messages.join('\n'));
    assert.ok(messages.some((m) => /may collide.*later wins/.test(m)), messages.join('\n'));
  });

  it('refuses what cannot work, with key paths', () => {
    const problems = (input: unknown) => {
      try {
        resolveConfig(input, builtinPlugins);
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    assert.match(problems(base([{ url: 'http://a/{nope}' }])), /routes\[0\]\.backends\[0\]\.url.*\{nope\} is not a param/);
    assert.match(problems(base([{ url: 'http://a/{claims.sub}' }])), /needs an auth plugin/);
    assert.match(problems(base([{ url: 'http://a/{resp0.x}' }])), /only name an earlier backend/);
    assert.match(problems(base([{ url: 'http://{query.host}/x' }])), /scheme and host/);
    assert.match(problems({ routes: [{ path: '/p', upstream: 'http://a', backends: [{ url: 'http://b' }] }] }), /either upstream .* or backends/);
    assert.match(problems(base([{ url: 'http://a/x', allow: ['a'], deny: ['b'] }])), /either allow or deny/);
  });
});
