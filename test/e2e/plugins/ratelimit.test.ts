import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { ConfigError } from '../../../runtime/src/config/config-error.ts';
import { Gateway, builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import type { GatewayConfig } from '../../../sdk/src/config.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { httpRequest, type SimpleResponse } from '../../helpers/http-client.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

/**
 * The ratelimit built-in through real sockets: a recording upstream counts what gets through, and
 * distinct clients are told apart by X-Forwarded-For from a trusted proxy (the test's 127.0.0.1).
 */
let upstream: Upstream;
const gateways: TestGateway[] = [];

before(async () => {
  upstream = await startUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
});
after(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await upstream.close();
});

async function gateway(plugins: GatewayConfig['plugins'], routes: { path: string; middleware: string[] }[]): Promise<TestGateway> {
  const g = await startGateway({ server: { trustedProxies: ['127.0.0.1'] }, plugins, routes: routes.map((r) => ({ ...r, upstream: upstream.url })) });
  gateways.push(g);
  return g;
}

function from(ip: string, extra: Record<string, string> = {}) {
  return { headers: { 'x-forwarded-for': ip, ...extra } };
}

async function statuses(url: string, n: number, options: Parameters<typeof httpRequest>[1] = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await httpRequest(url, options)).status);
  return out;
}

/** Load a config and build its routing table (where plugins' `create` runs), then close it. */
function resolveAndBuild(config: GatewayConfig): void {
  const gateway = new Gateway(resolveConfig(config, builtinPlugins));
  void gateway.close();
}

/** Upstream requests whose path starts with `prefix`. */
const reached = (prefix: string) => upstream.requests.filter((r) => r.url.startsWith(prefix)).length;

describe('ratelimit over real sockets', () => {
  it('answers 429 with Retry-After and RateLimit headers, and limited requests never reach the upstream', async () => {
    const g = await gateway({ rl: { use: 'ratelimit', options: { points: 3, duration: '1m' } } }, [{ path: '/limited/*', middleware: ['rl'] }]);
    const answers: SimpleResponse[] = [];
    for (let i = 0; i < 10; i++) answers.push(await httpRequest(`${g.url}/limited/x`, from('198.51.100.1')));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    assert.deepEqual(answers.slice(0, 3).map((a) => a.headers['ratelimit-remaining']), ['2', '1', '0']);
    const refused = answers[3]!;
    assert.equal(refused.headers['retry-after'], '60');
    assert.equal(refused.headers['ratelimit-limit'], '3');
    assert.equal(refused.headers['ratelimit-remaining'], '0');
    assert.equal(refused.headers['ratelimit-reset'], '60');
    assert.equal(JSON.parse(refused.text).error.code, 'ISOGATE_ERR_RATE_LIMITED');
    assert.equal(reached('/limited/'), 3, 'exactly the allowed requests reached the upstream');
  });

  it('a refused request with a body leaves the keep-alive connection usable for the next request', async () => {
    const g = await gateway({ rl: { use: 'ratelimit', options: { points: 1, duration: '1m', key: 'global' } } }, [{ path: '/drain/*', middleware: ['rl'] }, { path: '/free/*', middleware: [] }]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<Socket>();
    const send = (path: string, body?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(`${g.url}${path}`, { method: body ? 'POST' : 'GET', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('socket', (s) => sockets.add(s));
        req.on('error', reject);
        req.end(body);
      });
    try {
      assert.equal(await send('/drain/a'), 200);
      assert.equal(await send('/drain/a', 'b'.repeat(256 * 1024)), 429);
      assert.equal(await send('/free/a'), 200);
      assert.equal(sockets.size, 1, 'one connection for all three requests');
      assert.equal(reached('/drain/'), 1);
    } finally {
      agent.destroy();
    }
  });

  it('keys by client IP, by a header (IP when absent), or one global bucket', async () => {
    const g = await gateway(
      {
        byIp: { use: 'ratelimit', options: { points: 2, duration: '1m' } },
        byKey: { use: 'ratelimit', options: { points: 2, duration: '1m', key: { header: 'X-Api-Key' } } },
        global: { use: 'ratelimit', options: { points: 3, duration: '1m', key: 'global' } },
      },
      [
        { path: '/ip/*', middleware: ['byIp'] },
        { path: '/key/*', middleware: ['byKey'] },
        { path: '/global/*', middleware: ['global'] },
      ],
    );
    assert.deepEqual(await statuses(`${g.url}/ip/x`, 3, from('203.0.113.1')), [200, 200, 429]);
    assert.deepEqual(await statuses(`${g.url}/ip/x`, 3, from('203.0.113.2')), [200, 200, 429], 'another address, another budget');
    assert.deepEqual(await statuses(`${g.url}/ip/x`, 1, from('2001:db8:5:6::1')), [200]);
    assert.deepEqual(await statuses(`${g.url}/ip/x`, 2, from('2001:db8:5:6:ffff::2')), [200, 429], 'the same IPv6 /64 shares a budget');

    assert.deepEqual(await statuses(`${g.url}/key/x`, 3, from('203.0.113.1', { 'x-api-key': 'alpha' })), [200, 200, 429]);
    assert.deepEqual(await statuses(`${g.url}/key/x`, 2, from('203.0.113.1', { 'x-api-key': 'beta' })), [200, 200], 'same address, other key');
    assert.deepEqual(await statuses(`${g.url}/key/x`, 3, from('203.0.113.9')), [200, 200, 429], 'no key: counted by address');

    const spread = await Promise.all(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5'].map((ip) => statuses(`${g.url}/global/x`, 1, from(ip))));
    assert.equal(spread.flat().filter((s) => s === 200).length, 3, 'one budget for every client');
    assert.equal(reached('/global/'), 3);
  });

  it('a global and a per-client limit on one route (max_rate + client_max_rate)', async () => {
    const g = await gateway(
      {
        perClient: { use: 'ratelimit', options: { points: 2, duration: '1m' } },
        endpoint: { use: 'ratelimit', options: { points: 5, duration: '1m', key: 'global' } },
      },
      [{ path: '/both/*', middleware: ['perClient', 'endpoint'] }],
    );
    // A noisy client spends its own 2 and cannot eat into the endpoint's 5.
    assert.deepEqual(await statuses(`${g.url}/both/x`, 20, from('10.0.0.1')), [200, 200, ...Array<number>(18).fill(429)]);
    assert.deepEqual(await statuses(`${g.url}/both/x`, 3, from('10.0.0.2')), [200, 200, 429]);
    const last = await httpRequest(`${g.url}/both/x`, from('10.0.0.3'));
    assert.equal(last.status, 200, 'the 5th request of the endpoint');
    const over = await httpRequest(`${g.url}/both/x`, from('10.0.0.4'));
    assert.equal(over.status, 429, 'the endpoint limit is spent: fresh clients are refused too');
    assert.equal(over.headers['ratelimit-limit'], '5');
    assert.equal(reached('/both/'), 5);
  });

  it('the memory store holds at most maxKeys clients; a forgotten client starts a fresh window', async () => {
    const g = await gateway({ rl: { use: 'ratelimit', options: { points: 1, duration: '1m', maxKeys: 2 } } }, [{ path: '/cap/*', middleware: ['rl'] }]);
    assert.deepEqual(await statuses(`${g.url}/cap/x`, 2, from('172.16.0.1')), [200, 429]);
    assert.deepEqual(await statuses(`${g.url}/cap/x`, 2, from('172.16.0.2')), [200, 429]);
    assert.deepEqual(await statuses(`${g.url}/cap/x`, 1, from('172.16.0.3')), [200], 'evicts 172.16.0.1, the least recently seen');
    assert.deepEqual(await statuses(`${g.url}/cap/x`, 2, from('172.16.0.1')), [200, 429], 'forgotten: a fresh window (what a key flood can do, README)');
    assert.deepEqual(await statuses(`${g.url}/cap/x`, 1, from('172.16.0.3')), [429], 'the recently seen client is still limited');
  });
});

describe('ratelimit keyed by a verified claim', () => {
  const SECRET = 'a-ratelimit-test-secret-of-32-bytes-or-more';
  const sign = (sub: string) =>
    new SignJWT({ sub, org: { id: sub.split('@')[1] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
  let g: TestGateway;

  before(async () => {
    g = await startGateway({
      plugins: {
        auth: { use: 'auth', options: { secret: SECRET, optional: true } },
        perUser: { use: 'ratelimit', options: { points: 2, duration: '1m', key: { claim: 'sub' } } },
        perOrg: { use: 'ratelimit', options: { points: 3, duration: '1m', key: { claim: 'org.id' } } },
      },
      routes: [
        { path: '/user/*', upstream: upstream.url, middleware: ['auth', 'perUser'] },
        { path: '/org/*', upstream: upstream.url, middleware: ['auth', 'perOrg'] },
      ],
    });
    gateways.push(g);
  });

  it('counts each subject, whatever address it comes from; no claim falls back to the address', async () => {
    const as = async (sub: string) => ({ headers: { authorization: `Bearer ${await sign(sub)}` } });
    assert.deepEqual(await statuses(`${g.url}/user/x`, 3, await as('ann@acme')), [200, 200, 429]);
    assert.deepEqual(await statuses(`${g.url}/user/x`, 2, await as('bob@acme')), [200, 200]);
    assert.deepEqual(await statuses(`${g.url}/user/x`, 3), [200, 200, 429], 'anonymous: by client IP');
    assert.deepEqual(await statuses(`${g.url}/org/x`, 2, await as('ann@acme')), [200, 200]);
    assert.deepEqual(await statuses(`${g.url}/org/x`, 2, await as('bob@acme')), [200, 429], 'a nested claim: one budget per organisation');
    assert.deepEqual(await statuses(`${g.url}/org/x`, 1, await as('eve@other')), [200]);
  });

  it('a claim-keyed limit with no auth before it on some route fails the config load, naming the option and the route', () => {
    const load = (middleware: string[], fine: string[], early: string[]) => () =>
      resolveAndBuild({
        plugins: {
          auth: { use: 'auth', options: { secret: SECRET } },
          perUser: { use: 'ratelimit', options: { points: 2, key: { claim: 'sub' } } },
        },
        middleware,
        routes: [
          { name: 'fine', path: '/fine/*', upstream: upstream.url, middleware: fine },
          { name: 'early', path: '/early/*', upstream: upstream.url, middleware: early },
        ],
      });
    const named = (route: string) => (err: unknown) =>
      err instanceof ConfigError && err.message.includes('plugins.perUser.options.key: a claim key needs an auth instance') && err.message.includes(`"${route}"`);
    assert.throws(load([], ['auth', 'perUser'], ['perUser', 'auth']), named('early'), 'listed before auth');
    assert.throws(load([], ['auth', 'perUser'], ['perUser']), named('early'), 'no auth on the route');
    assert.throws(load(['perUser'], ['auth'], []), (err) => named('fine')(err) && named('early')(err), "global middleware runs before the routes' auth");
    assert.doesNotThrow(load(['auth', 'perUser'], [], []), 'global auth first covers every route');
    assert.doesNotThrow(load([], ['auth', 'perUser'], []), 'a route that does not list the instance is not checked');
  });
});
