import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { forgeToken, nowSec, rsaToken, signToken } from '../../../plugins/auth/test-support.ts';
import { attachInstrument, type RequestEvent } from '../../../runtime/src/chain/instruments.ts';
import { Gateway, GatewayServer, builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import { definePluginRegistry, type BuiltinPlugin } from '../../../runtime/src/plugins/builtin-plugin.ts';
import type { Duration, GatewayConfig } from '../../../sdk/src/config.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { httpRequest } from '../../helpers/http-client.ts';
import { startUpstream, type Echo, type Upstream } from '../../helpers/upstream.ts';

// The auth built-in end to end through real sockets: a real RS256 JWKS served on port 0, key
// rotation, the attack tokens, roles, claim propagation and templates, and the JWKS endpoint
// failing with and without a cached key set.

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  jwk: JsonWebKey;
  publicPem: string;
}

function rsaKey(kid: string): SigningKey {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A JWKS endpoint per path: what it serves, whether it answers, how often it was asked. */
interface KeySetEndpoint {
  keys: SigningKey[];
  mode: 'up' | 'error' | 'hang';
  fetches: number;
}

const ISSUER = 'https://idp.test/';
const AUDIENCE = 'orders-api';
const k1 = rsaKey('k1');
const k2 = rsaKey('k2');
const endpoints = new Map<string, KeySetEndpoint>();
let idp: http.Server;
let idpUrl: string;
let upstream: Upstream;
let gateway: Gateway;
let server: GatewayServer;
let gatewayUrl: string;
const events: RequestEvent[] = [];
/** The IdP's open connections, with the paths each served (which JWKS cache's pool holds it). */
const idpSockets = new Map<Socket, Set<string>>();

function endpoint(path: string, mode: KeySetEndpoint['mode'] = 'up'): string {
  endpoints.set(path, { keys: [k1], mode, fetches: 0 });
  return `${idpUrl}${path}`;
}

// Records the auth-failed events of every request, as the metrics built-in would count them.
const observe: BuiltinPlugin<Record<string, never>> = {
  name: 'observe-events',
  options: z.strictObject({}),
  create: () => (next) => (req) => {
    attachInstrument(req, { event: (_req, ev) => events.push(ev) });
    return next(req);
  },
};

/** Like test/helpers/gateway.ts, with the observing test plugin in the registry. */
async function start(config: GatewayConfig, extraPlugins: Record<string, { use: string }>): Promise<void> {
  const registry = definePluginRegistry([...builtinPlugins.values(), observe as BuiltinPlugin<never>]);
  gateway = new Gateway(resolveConfig({ ...config, plugins: { ...config.plugins, ...extraPlugins }, middleware: Object.keys(extraPlugins) }, registry), { plugins: registry });
  server = new GatewayServer(gateway);
  const { port } = await server.listen(0, '127.0.0.1');
  gatewayUrl = `http://127.0.0.1:${port}`;
}

const token = (claims: Record<string, unknown> = {}, key: SigningKey = k1, kid: string = key.kid) =>
  signToken({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', jti: randomUUID(), ...claims }, key.privateKey, { kid });

function get(path: string, bearer?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gatewayUrl}${path}`, { headers: { ...(bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {}), ...headers } });
}

async function status(path: string, bearer?: string): Promise<number> {
  const res = await get(path, bearer);
  await res.body?.cancel();
  return res.status;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  idp = http.createServer((req, res) => {
    idpSockets.get(req.socket)?.add(req.url ?? '');
    const ep = endpoints.get(req.url ?? '');
    if (!ep) return void res.writeHead(404).end();
    ep.fetches++;
    if (ep.mode === 'hang') return; // never answers: the gateway's timeout must fire
    if (ep.mode === 'error') return void res.writeHead(500).end('down');
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
    res.end(JSON.stringify({ keys: ep.keys.map((k) => k.jwk) }));
  });
  // Longer than undici's idle timeout (4 s): only the gateway closes a pool's connection early.
  idp.keepAliveTimeout = 30_000;
  idp.on('connection', (socket: Socket) => {
    idpSockets.set(socket, new Set());
    socket.once('close', () => idpSockets.delete(socket));
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  upstream = await startUpstream();
  const checks = { issuer: ISSUER, audience: AUDIENCE };
  await start({
    plugins: {
      jwt: { use: 'auth', options: { jwks: { url: endpoint('/main') }, ...checks, propagate: [['sub', 'X-User-Id'], ['tenant.id', 'X-Tenant']] } },
      admins: { use: 'auth', options: { jwks: { url: endpoint('/main') }, ...checks, roles: { claim: 'realm_access.roles', required: ['admin', 'ops'], match: 'all' } } },
      maybe: { use: 'auth', options: { jwks: { url: endpoint('/main') }, ...checks, optional: true, propagate: [['sub', 'X-User-Id'], ['groups', 'X-Groups']] } },
      staff: { use: 'auth', options: { jwks: { url: endpoint('/main') }, ...checks, roles: { claim: 'realm_access.roles', required: ['admin', 'ops'], match: 'any' } } },
      pem: { use: 'auth', options: { keys: [{ kid: 'k1', publicKey: k1.publicPem }], ...checks } },
      rotating: { use: 'auth', options: { jwks: { url: endpoint('/rotate'), cooldown: '2s' }, ...checks, cache: false } },
      stale: { use: 'auth', options: { jwks: { url: endpoint('/stale'), maxAge: '300ms', staleIfError: '900ms' }, ...checks, cache: false } },
      cold: { use: 'auth', options: { jwks: { url: endpoint('/hang', 'hang'), timeout: '400ms' }, ...checks } },
    },
    routes: [
      { path: '/api/*', upstream: upstream.url, middleware: ['jwt'] },
      { path: '/me/*', upstream: `${upstream.url}/users/{claims.sub}/{*}`, middleware: ['jwt'] },
      { path: '/admin/*', upstream: upstream.url, middleware: ['admins'] },
      { path: '/staff/*', upstream: upstream.url, middleware: ['staff'] },
      { path: '/maybe/*', upstream: upstream.url, middleware: ['maybe'] },
      { path: '/pem/*', upstream: upstream.url, middleware: ['pem'] },
      { path: '/rotate/*', upstream: upstream.url, middleware: ['rotating'] },
      { path: '/stale/*', upstream: upstream.url, middleware: ['stale'] },
      { path: '/cold/*', upstream: upstream.url, middleware: ['cold'] },
    ],
  }, { observe: { use: 'observe-events' } });
});

after(async () => {
  await server?.shutdown(1_000);
  await upstream?.close();
  idp?.closeAllConnections();
  idp?.close();
});

describe('auth end to end (RS256 JWKS on a real socket)', () => {
  it('accepts a valid RS256 token, forwards the request and the claims', async () => {
    const res = await get('/api/orders', await token({ tenant: { id: 't-9' } }));
    assert.equal(res.status, 200);
    const echo = (await res.json()) as Echo;
    assert.equal(echo.url, '/api/orders');
    assert.equal(echo.headers['x-user-id'], 'alice');
    assert.equal(echo.headers['x-tenant'], 't-9');
  });

  it('removes a client-sent copy of a propagated header, even when the claim is absent', async () => {
    const res = await get('/api/x', await token(), { 'x-user-id': 'root', 'x-tenant': 'other-tenant' });
    const echo = (await res.json()) as Echo;
    assert.equal(echo.headers['x-user-id'], 'alice');
    assert.equal(echo.headers['x-tenant'], undefined);
  });

  it('fills {claims.sub} in the upstream URL template', async () => {
    const res = await get('/me/orders', await token({ sub: 'user/42' }));
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as Echo).url, '/users/user%2F42/orders');
  });

  it('refuses the attack tokens with 401 and an invalid_token challenge, never reaching the upstream', async () => {
    const before = upstream.requests.length;
    const base = { iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: nowSec() + 600, iat: nowSec() };
    const attacks: [string, string, string][] = [
      ['alg none', forgeToken({ alg: 'none', kid: 'k1' }, base), 'bad-algorithm'],
      ['HS256 keyed with the RSA public key PEM', forgeToken({ alg: 'HS256', kid: 'k1' }, base, k1.publicPem), 'bad-algorithm'],
      ['HS256 keyed with the JWK modulus', forgeToken({ alg: 'HS256', kid: 'k1' }, base, Buffer.from(k1.jwk.n!, 'base64url')), 'bad-algorithm'],
      ['expired', await token({ exp: nowSec() - 3600 }), 'expired'],
      ['issued in the future', await token({ iat: nowSec() + 3600 }), 'not-yet-valid'],
      ['not yet valid', await token({ nbf: nowSec() + 3600 }), 'not-yet-valid'],
      ['without exp', rsaToken({ kid: 'k1' }, { iss: ISSUER, aud: AUDIENCE, sub: 'a', iat: nowSec() }, k1.privateKey), 'missing-claim'],
      ['wrong audience', await token({ aud: 'billing-api' }), 'bad-audience'],
      ['wrong issuer', await token({ iss: 'https://evil.test/' }), 'bad-issuer'],
      ['bad signature', (await token()).replace(/.{6}$/, 'AAAAAA'), 'bad-signature'],
      ['signed by another key under k1', await token({}, k2, 'k1'), 'bad-signature'],
      ['garbage', 'garbage', 'malformed'],
      ['three dots of garbage', 'x.y.z', 'malformed'],
    ];
    for (const [name, bearer, reason] of attacks) {
      events.length = 0;
      const res = await get('/api/x', bearer);
      assert.equal(res.status, 401, name);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="isogate", error="invalid_token"/, name);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.deepEqual(body, { error: { code: 'ISOGATE_ERR_UNAUTHORIZED', message: 'missing or invalid credentials' } }, name);
      assert.deepEqual(events, [{ type: 'auth-failed', plugin: 'jwt', reason }], name);
    }
    assert.equal(upstream.requests.length, before);
  });

  it('answers a request without a token with a bare challenge', async () => {
    const res = await get('/api/x');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="isogate"');
    await res.body?.cancel();
  });

  it('refuses the same confusion with a configured PEM key', async () => {
    const base = { iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: nowSec() + 600 };
    assert.equal(await status('/pem/x', await token()), 200);
    assert.equal(await status('/pem/x', forgeToken({ alg: 'HS256', kid: 'k1' }, base, k1.publicPem)), 401);
    assert.equal(await status('/pem/x', forgeToken({ alg: 'HS256' }, base, k1.publicPem)), 401);
  });

  it('roles: all → 403 insufficient_scope when one is missing, any → one is enough', async () => {
    const opsOnly = await token({ realm_access: { roles: ['ops'] } });
    const res = await get('/admin/x', opsOnly);
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_FORBIDDEN');
    assert.equal(await status('/staff/x', opsOnly), 200);
    assert.equal(await status('/admin/x', await token({ realm_access: { roles: ['ops', 'admin'] } })), 200);
    assert.equal(await status('/staff/x', await token({ realm_access: { roles: [] } })), 403);
    assert.equal(await status('/staff/x', await token()), 403);
  });

  it('unknown kids: many requests, at most one JWKS fetch per cooldown; a rotated key is found after it', async () => {
    const ep = endpoints.get('/rotate')!;
    assert.equal(await status('/rotate/x', await token()), 200);
    await sleep(2_100); // past the cooldown the first fetch started
    const fetchesBefore = ep.fetches;
    const forged = await Promise.all(Array.from({ length: 40 }, (_, i) => token({}, k1, `forged-${i}`)));
    const statuses = await Promise.all(forged.map((t) => status('/rotate/x', t)));
    assert.deepEqual(new Set(statuses), new Set([401]));
    for (const t of forged.slice(0, 10)) assert.equal(await status('/rotate/x', t), 401);
    assert.equal(ep.fetches - fetchesBefore, 1, 'fifty requests with unknown kids: one fetch');

    // The identity provider rotates: k2 appears. Within the cooldown it is not fetched yet...
    ep.keys = [k1, k2];
    const rotated = await token({}, k2);
    assert.equal(await status('/rotate/x', rotated), 401);
    assert.equal(ep.fetches - fetchesBefore, 1);
    // ...after it, the first k2 token triggers the refetch and passes.
    await sleep(2_100);
    assert.equal(await status('/rotate/x', rotated), 200);
    assert.equal(ep.fetches - fetchesBefore, 2);
    assert.equal(await status('/rotate/x', await token()), 200, 'k1 still works');
  });

  it('JWKS down with a cached set: served stale within staleIfError, then 503', async () => {
    const ep = endpoints.get('/stale')!;
    assert.equal(await status('/stale/x', await token()), 200);
    ep.mode = 'error';
    await sleep(400); // past maxAge (300 ms), inside maxAge + staleIfError (1.2 s)
    assert.equal(await status('/stale/x', await token()), 200);
    assert.equal(await status('/stale/x', await token()), 200);
    assert.ok(ep.fetches >= 2, 'a refresh was attempted');
    await sleep(900); // past the stale window
    events.length = 0;
    const res = await get('/stale/x', await token());
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_AUTH_UNAVAILABLE');
    assert.deepEqual(events, [{ type: 'auth-failed', plugin: 'stale', reason: 'jwks-unavailable' }]);
    ep.mode = 'up';
    await sleep(1100); // past the failure backoff
    assert.equal(await status('/stale/x', await token()), 200, 'recovers when the endpoint does');
  });

  it('JWKS unreachable with nothing cached: 503 within the configured timeout', async () => {
    const started = Date.now();
    const res = await get('/cold/x', await token());
    const elapsed = Date.now() - started;
    assert.equal(res.status, 503);
    await res.body?.cancel();
    // timeout 400 ms: bounded by it (plus scheduling), never a hang.
    assert.ok(elapsed < 3_000, `answered in ${elapsed} ms`);
    assert.ok(endpoints.get('/hang')!.fetches >= 1);
  });

  it('shares one JWKS cache between instances with the same settings', () => {
    // jwt, admins, staff and maybe all use /main with the same settings: one fetch (the warm-up) served them all.
    assert.equal(endpoints.get('/main')!.fetches, 1);
  });

  it('optional auth: a bearer header with a tab is verified or refused, never passed as anonymous', async () => {
    const forged = forgeToken({ alg: 'HS256', kid: 'k1' }, { iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: nowSec() + 600 }, 'some-secret-some-secret-some-secret!');
    const before = upstream.requests.length;
    for (const authorization of [`Bearer\t${forged}`, `Bearer \t ${forged}`, `bearer\t\t${forged}`]) {
      const res = await httpRequest(`${gatewayUrl}/maybe/x`, { headers: { authorization } });
      assert.equal(res.status, 401, JSON.stringify(authorization));
      assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
    }
    const res = await httpRequest(`${gatewayUrl}/maybe/x`, { headers: { authorization: `Bearer:${forged}` } });
    assert.equal(res.status, 401);
    assert.equal(upstream.requests.length, before, 'none reached the upstream');

    const good = await token({ sub: 'bob' });
    const ok = await httpRequest(`${gatewayUrl}/maybe/x`, { headers: { authorization: `Bearer\t${good}` } });
    assert.equal(ok.status, 200);
    assert.equal((JSON.parse(ok.text) as Echo).headers['x-user-id'], 'bob');
  });

  it('optional auth: credentials of another scheme are not forwarded to the upstream', async () => {
    const res = await httpRequest(`${gatewayUrl}/maybe/x`, { headers: { authorization: 'Basic dXNlcjpwYXNz', 'x-user-id': 'root' } });
    assert.equal(res.status, 200);
    const echo = JSON.parse(res.text) as Echo;
    assert.equal(echo.headers['authorization'], undefined);
    assert.equal(echo.headers['x-user-id'], undefined);
  });

  it('propagated headers tell different claim values apart, as the upstream parses them', async () => {
    const seen = async (claims: Record<string, unknown>) => {
      const res = await httpRequest(`${gatewayUrl}/maybe/x`, { headers: { authorization: `Bearer ${await token(claims)}` } });
      assert.equal(res.status, 200);
      const echo = JSON.parse(res.text) as Echo;
      return [echo.headers['x-user-id'], echo.headers['x-groups']];
    };
    const pairs: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ sub: 'José' }, { sub: 'Jos%C3%A9' }],
      [{ sub: 'alice ' }, { sub: 'alice' }],
      [{ sub: ' alice' }, { sub: 'alice' }],
      [{ groups: ['a,b'] }, { groups: ['a', 'b'] }],
      [{ groups: ['a', ' b'] }, { groups: ['a', 'b'] }],
    ];
    for (const [x, y] of pairs) assert.notDeepEqual(await seen(x), await seen(y), `${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
    assert.deepEqual(await seen({ sub: 'alice ', groups: ['a,b', 'c'] }), ['alice%20', 'a%2Cb,c']);
  });

  it('several Authorization fields over a socket: Node keeps the first, and so do gateway and upstream', async () => {
    const good = await token({ sub: 'first' });
    const res = await httpRequest(`${gatewayUrl}/api/x`, { headers: [['Authorization', `Bearer ${good}`], ['Authorization', 'Bearer garbage']] });
    assert.equal(res.status, 200);
    const echo = JSON.parse(res.text) as Echo;
    assert.equal(echo.headers['authorization'], `Bearer ${good}`, 'the upstream gets the field that was verified');
    assert.equal(echo.headers['x-user-id'], 'first');

    events.length = 0;
    const second = await httpRequest(`${gatewayUrl}/api/x`, { headers: [['Authorization', 'Bearer garbage'], ['Authorization', `Bearer ${good}`]] });
    assert.equal(second.status, 401);
    assert.deepEqual(events, [{ type: 'auth-failed', plugin: 'jwt', reason: 'malformed' }]);
  });

  it('a reload that changes the JWKS settings closes the old cache and its connections once the old table retires', async () => {
    const path = '/reload';
    const config = (timeout: Duration): GatewayConfig => ({
      plugins: { jwt: { use: 'auth', options: { jwks: { url: `${idpUrl}${path}`, timeout }, issuer: ISSUER, audience: AUDIENCE } } },
      routes: [{ path: '/r/*', upstream: upstream.url, middleware: ['jwt'] }],
    });
    endpoints.set(path, { keys: [k1], mode: 'up', fetches: 0 });
    const g = await startGateway(config('5s'));
    try {
      assert.equal((await httpRequest(`${g.url}/r/x`, { headers: { authorization: `Bearer ${await token()}` } })).status, 200);
      const oldSockets = [...idpSockets].filter(([, paths]) => paths.has(path)).map(([socket]) => socket);
      assert.equal(oldSockets.length, 1, 'the first cache keeps one connection to the IdP');
      const oldSocket = oldSockets[0]!;

      // Same settings: the cache carries over (no refetch), its connection stays.
      g.gateway.reload(resolveConfig({ ...config('5s'), server: { port: 0 } }, builtinPlugins));
      assert.equal((await httpRequest(`${g.url}/r/x`, { headers: { authorization: `Bearer ${await token()}` } })).status, 200);
      await sleep(200);
      assert.equal(endpoints.get(path)!.fetches, 1);
      assert.ok(idpSockets.has(oldSocket));

      // Another timeout: a new cache; the old one and its pool go with the retired table.
      g.gateway.reload(resolveConfig({ ...config('6s'), server: { port: 0 } }, builtinPlugins));
      assert.equal((await httpRequest(`${g.url}/r/x`, { headers: { authorization: `Bearer ${await token()}` } })).status, 200);
      assert.equal(endpoints.get(path)!.fetches, 2);
      const deadline = Date.now() + 2_000;
      while (idpSockets.has(oldSocket) && Date.now() < deadline) await sleep(20);
      assert.equal(idpSockets.has(oldSocket), false, 'the old JWKS pool closed its connection');
      assert.equal([...idpSockets.values()].filter((paths) => paths.has(path)).length, 1, 'the new cache keeps its own');
    } finally {
      await g.close();
    }
  });
});
