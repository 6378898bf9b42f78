import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, Gateway, GatewayServer, builtinPlugins, loadConfigFile, resolveConfig, silentLogger } from '../../../runtime/src/index.ts';
import { attachInstrument, emitRequestEvent, type RequestEvent, type RequestInstrument } from '../../../runtime/src/chain/instruments.ts';
import type { GatewayRequest } from '../../../runtime/src/chain/types.ts';
import { testRequest } from '../../../runtime/src/chain/test-request.ts';
import { definePluginRegistry, type BuiltinPlugin, type GatewayEvent, type UserPluginHandle } from '../../../runtime/src/plugins/builtin-plugin.ts';
import { PluginFailure } from '../../../runtime/src/isolate/plugin-host.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// The observation points the core offers the observing built-ins (metrics, tracing, logging),
// the endpoints served before routing, services that outlive reloads, verified claims in
// upstream templates and a user plugin's verifier, through real sockets.

type Seen = [string, ...unknown[]];
const seen: Seen[] = [];
const gatewayEvents: GatewayEvent[] = [];
let verifierHandle: UserPluginHandle | undefined;
let sharedCreated = 0;
let sharedClosed = 0;

/** Records every observation point it is given, and adds a header to the upstream call. */
const observePlugin: BuiltinPlugin<Record<string, never>> = {
  name: 'observe',
  options: z.strictObject({}),
  create(_options, ctx) {
    ctx.shared('observe:counter', () => {
      sharedCreated++;
      ctx.onGatewayEvent((e) => gatewayEvents.push(e));
      return { close: () => void sharedClosed++ };
    });
    verifierHandle = ctx.userPlugin('verify') ?? verifierHandle;
    const instrument: RequestInstrument = {
      upstreamStart(_req, call) {
        call.headers['x-observed'] = 'yes';
        seen.push(['upstream-start', call.origin, call.method, call.path]);
        return (outcome) => seen.push(['upstream-done', outcome.status ?? 'error']);
      },
      hookStart(_req, plugin, hook) {
        seen.push(['hook-start', plugin, hook]);
        return (error) => seen.push(['hook-done', plugin, hook, error ?? null]);
      },
      event(_req, event: RequestEvent) {
        seen.push(['event', event.type]);
      },
      sent(_req, status, outcome) {
        seen.push(['sent', status, outcome.bytes, outcome.aborted]);
      },
    };
    return {
      middleware: (next) =>
        async function observe(req) {
          attachInstrument(req, instrument);
          if (req.headers['x-emit'] === 'yes') emitRequestEvent(req, { type: 'ratelimit-rejected', plugin: 'observe' });
          return next(req);
        },
      endpoints: { '/observed': () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'observer endpoint' }) },
    };
  },
};

/** Stands in for the auth built-in: claims from a test header (the name `auth` is what enables {claims.x}). */
const fakeAuthPlugin: BuiltinPlugin<Record<string, never>> = {
  name: 'auth',
  options: z.strictObject({}),
  create: () => (next) =>
    async function fakeAuth(req) {
      const sub = req.headers['x-test-sub'];
      if (typeof sub === 'string') req.claims = { sub, org: { id: 'acme' } };
      return next(req);
    },
};

const registry = definePluginRegistry([...builtinPlugins.values(), observePlugin as BuiltinPlugin<never>, fakeAuthPlugin as BuiltinPlugin<never>]);
const fixture = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/verifier.ts');

let upstream: Upstream;
let dir: string;
let gateway: Gateway;
let server: GatewayServer;
let base: string;

before(async () => {
  upstream = await startUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, observed: req.headers['x-observed'] ?? null, verifiedBy: req.headers['x-verified-by'] ?? null }));
  });
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-instruments-'));
  const file = path.join(dir, 'gateway.config.ts');
  await fs.writeFile(
    file,
    `export default {
  plugins: { observe: { use: 'observe' }, auth: { use: 'auth' }, verify: { use: ${JSON.stringify(fixture)}, limits: { cpuMs: 50 } } },
  middleware: ['observe'],
  routes: [
    { path: '/plain/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['verify'] },
    { path: '/mine/*', upstream: ${JSON.stringify(`${upstream.url}/users/{claims.sub}/orgs/{claims.org.id}/{*}`)}, middleware: ['auth'] },
  ],
};\n`,
  );
  const loaded = await loadConfigFile(file, registry);
  gateway = new Gateway(loaded.config, { plugins: registry, userPlugins: loaded.userPlugins });
  server = new GatewayServer(gateway);
  const { port } = await server.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  await server?.shutdown(1_000);
  await upstream?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function waitFor(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !predicate(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(predicate(), 'condition not reached within 1 s');
}

describe('request instruments', () => {
  it('see the upstream call (and may add headers to it), each user-plugin hook, events, and the response as sent', async () => {
    seen.length = 0;
    const res = await fetch(`${base}/plain/a?x=1`, { headers: { 'x-emit': 'yes' } });
    const body = await res.text();
    assert.equal(res.status, 200);
    const echoed = JSON.parse(body) as { url: string; observed: string; verifiedBy: string };
    assert.equal(echoed.observed, 'yes', 'the instrument added a header to the upstream request');
    assert.equal(echoed.verifiedBy, 'fixture');
    await waitFor(() => seen.some((s) => s[0] === 'sent'));
    assert.deepEqual(seen, [
      ['event', 'ratelimit-rejected'],
      ['hook-start', 'verify', 'onRequest'],
      ['hook-done', 'verify', 'onRequest', null],
      ['upstream-start', upstream.url, 'GET', '/plain/a?x=1'],
      ['upstream-done', 200],
      ['sent', 200, Buffer.byteLength(body), false],
    ]);
  });

  it('report a failed upstream call and the error response as sent', async () => {
    const config = resolveConfig({ plugins: { observe: { use: 'observe' } }, middleware: ['observe'], routes: [{ path: '/*', upstream: 'http://127.0.0.1:1' }] }, registry);
    const down = new Gateway(config, { plugins: registry });
    seen.length = 0;
    const res = await down.request('/x');
    const text = await res.text();
    assert.equal(res.status, 502);
    assert.deepEqual(seen.map((s) => s[0]), ['upstream-start', 'upstream-done', 'sent']);
    assert.equal(seen[1]![1], 'error');
    assert.deepEqual(seen[2], ['sent', 502, Buffer.byteLength(text), false]);
    await down.close();
  });

  it('cost nothing on routes no observer runs on: the request carries no instruments', async () => {
    const config = resolveConfig({ routes: [{ path: '/*', upstream: upstream.url }] }, registry);
    let captured: GatewayRequest | null = null;
    const spy: BuiltinPlugin<Record<string, never>> = { name: 'spy', options: z.strictObject({}), create: () => (next) => (req) => ((captured = req), next(req)) };
    const spyRegistry = definePluginRegistry([...registry.values(), spy as BuiltinPlugin<never>]);
    const plain = new Gateway(resolveConfig({ plugins: { spy: { use: 'spy' } }, routes: [{ path: '/*', upstream: upstream.url, middleware: ['spy'] }] }, spyRegistry), { plugins: spyRegistry });
    const res = await plain.request('/x');
    await res.text();
    assert.equal(captured!.instruments, null);
    await plain.close();
    void config;
  });
});

describe('plugin endpoints', () => {
  it('are answered before routing, whatever the routes say', async () => {
    const res = await fetch(`${base}/observed`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'observer endpoint');
  });

  it('cannot shadow the health endpoints', () => {
    const clash: BuiltinPlugin<Record<string, never>> = { name: 'clash', options: z.strictObject({}), create: () => ({ middleware: (next) => next, endpoints: { '/healthz': () => ({ status: 200, headers: {}, body: null }) } }) };
    const clashRegistry = definePluginRegistry([clash as BuiltinPlugin<never>]);
    assert.throws(() => new Gateway(resolveConfig({ plugins: { c: { use: 'clash' } }, routes: [] }, clashRegistry), { plugins: clashRegistry }), /plugins\.c: endpoint \/healthz is already served/);
  });
});

describe('verified claims in upstream templates', () => {
  it('fill {claims.x} placeholders, percent-encoded', async () => {
    const res = await fetch(`${base}/mine/list`, { headers: { 'x-test-sub': 'user/1' } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { url: string }).url, '/users/user%2F1/orgs/acme/list');
  });

  it('answer 401 when nobody authenticated, without calling the upstream', async () => {
    const before = upstream.requests.length;
    const res = await fetch(`${base}/mine/list`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_UNAUTHORIZED');
    assert.equal(upstream.requests.length, before);
  });

  it('answer 403 for a claim that would be a dot segment (".", "..") or is missing', async () => {
    const before = upstream.requests.length;
    for (const sub of ['..', '.']) {
      const res = await fetch(`${base}/mine/list`, { headers: { 'x-test-sub': sub } });
      assert.equal(res.status, 403, sub);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_FORBIDDEN');
    }
    assert.equal(upstream.requests.length, before);
    // "..." and "a.." are ordinary names, not dot segments.
    const res = await fetch(`${base}/mine/list`, { headers: { 'x-test-sub': '...' } });
    assert.equal(((await res.json()) as { url: string }).url, '/users/.../orgs/acme/list');
  });

  it('are a config error on a route without an auth plugin', () => {
    assert.throws(
      () => resolveConfig({ routes: [{ path: '/u', upstream: 'http://127.0.0.1:9/users/{claims.sub}' }] }, registry),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === 'routes[0].upstream' && /needs an auth plugin/.test(i.message)),
    );
    assert.throws(
      () => resolveConfig({ plugins: { auth: { use: 'auth' } }, routes: [{ path: '/u', upstream: 'http://127.0.0.1:9/users/{claims.}', middleware: ['auth'] }] }, registry),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => /not a claim path/.test(i.message)),
    );
  });
});

describe("a user plugin's verifier, as the auth built-in uses it", () => {
  const req = (): GatewayRequest => ({ ...testReq(), instruments: [] });
  const testReq = (): GatewayRequest =>
    testRequest({ headers: {}, route: { name: 't', path: '/' } as GatewayRequest['route'] });

  it('accepts with claims, rejects with null or a throw, and never leaks the plugin message', async () => {
    assert.ok(verifierHandle, 'the factory context hands out user plugin instances');
    assert.deepEqual(await verifierHandle!.verify('good-u7', testReq()), { ok: true, claims: { sub: 'u7', roles: ['reader'] } });
    assert.deepEqual(await verifierHandle!.verify('other', testReq()), { ok: false, reason: 'rejected' });
    assert.deepEqual(await verifierHandle!.verify('throw', testReq()), { ok: false, reason: 'rejected' });
  });

  it('turns a CPU-limit breach or a malformed answer into a PluginFailure, counted as a plugin error', async () => {
    const r = req();
    seen.length = 0;
    const events: RequestEvent[] = [];
    r.instruments!.push({ event: (_q, e) => events.push(e), hookStart: (_q, p, h) => (seen.push(['hook-start', p, h]), (k) => seen.push(['hook-done', k ?? null])) });
    await assert.rejects(verifierHandle!.verify('loop', r), (err: unknown) => err instanceof PluginFailure && err.kind === 'timeout');
    assert.deepEqual(events, [{ type: 'plugin-error', plugin: 'verify', hook: 'verifier', kind: 'timeout' }]);
    assert.deepEqual(seen, [['hook-start', 'verify', 'verifier'], ['hook-done', 'timeout']]);
    await assert.rejects(verifierHandle!.verify('number', testReq()), (err: unknown) => err instanceof PluginFailure);
    // The isolate was recreated after the timeout: the next token is judged normally.
    assert.deepEqual(await verifierHandle!.verify('good-again', testReq()), { ok: true, claims: { sub: 'again', roles: ['reader'] } });
  });
});

describe('gateway services', () => {
  it('outlive reloads, hear reload results and close with the gateway', async () => {
    const config = resolveConfig({ plugins: { observe: { use: 'observe' } }, routes: [] }, registry);
    sharedCreated = 0;
    sharedClosed = 0;
    gatewayEvents.length = 0;
    const g = new Gateway(config, { plugins: registry });
    g.reload(config);
    g.reload(config);
    g.reloadFailed();
    // A table that cannot be built (a user plugin that was never loaded) fails inside reload().
    assert.throws(() => g.reload(resolveConfig({ plugins: { c: { use: './not-loaded.ts' } }, routes: [] }, registry), new Map()), /was not loaded/);
    assert.equal(sharedCreated, 1);
    assert.deepEqual(
      gatewayEvents.map((e) => (e.type === 'config-reload' ? e.result : e.type)),
      ['success', 'success', 'failure', 'failure'],
    );
    await g.close();
    assert.equal(sharedClosed, 1);
  });
});

describe('instrument edge cases', () => {
  const copier: BuiltinPlugin<Record<string, never>> = { name: 'copier', options: z.strictObject({}), create: () => (next) => (req) => next({ ...req, headers: { ...req.headers } }) };
  const badHeader: BuiltinPlugin<Record<string, never>> = {
    name: 'bad-header',
    options: z.strictObject({}),
    create: () => (next) => async (req) => {
      const res = await next(req);
      res.headers['x-bad'] = 'a\r\nInjected: yes';
      return res;
    },
  };
  const edgeRegistry = definePluginRegistry([...registry.values(), copier as BuiltinPlugin<never>, badHeader as BuiltinPlugin<never>]);

  it('a middleware that hands next a copy of the request does not hide the observers attached further down', async () => {
    const config = resolveConfig({ plugins: { copy: { use: 'copier' }, observe: { use: 'observe' } }, middleware: ['copy', 'observe'], routes: [{ path: '/*', upstream: upstream.url }] }, edgeRegistry);
    const g = new Gateway(config, { plugins: edgeRegistry });
    seen.length = 0;
    const res = await g.request('/copied');
    const text = await res.text();
    assert.deepEqual(seen.at(-1), ['sent', 200, Buffer.byteLength(text), false]);
    await g.close();
  });

  it('the socket-less adapter reports a body the caller cancels unread as abandoned', async () => {
    const config = resolveConfig({ plugins: { observe: { use: 'observe' } }, middleware: ['observe'], routes: [{ path: '/*', upstream: upstream.url }] }, edgeRegistry);
    const g = new Gateway(config, { plugins: edgeRegistry });
    seen.length = 0;
    const res = await g.request('/cancelled');
    await res.body!.cancel();
    assert.deepEqual(seen.at(-1), ['sent', 200, 0, true]);
    await g.close();
  });

  it('a response header Node refuses to write becomes a coded 500, and the server keeps serving', async () => {
    const config = resolveConfig({ plugins: { bad: { use: 'bad-header' } }, routes: [{ path: '/bad', upstream: upstream.url, middleware: ['bad'] }, { path: '/good', upstream: upstream.url }] }, edgeRegistry);
    const g = new Gateway(config, { plugins: edgeRegistry, logger: silentLogger() });
    const s = new GatewayServer(g);
    const { port } = await s.listen(0, '127.0.0.1');
    const bad = await fetch(`http://127.0.0.1:${port}/bad`);
    assert.equal(bad.status, 500);
    assert.equal(bad.headers.get('injected'), null);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_INTERNAL');
    const good = await fetch(`http://127.0.0.1:${port}/good`);
    assert.equal(good.status, 200);
    await good.text();
    await s.shutdown(1_000);
  });
});

describe('requests answered before routing', () => {
  const heard: [string, string, number, number?][] = [];
  const watcher: BuiltinPlugin<Record<string, never>> = {
    name: 'watcher',
    options: z.strictObject({}),
    create: (_o, ctx) => ({
      middleware: (next) => next,
      unrouted(req, status) {
        heard.push([ctx.instanceName, `${req.method} ${req.path}`, status]);
        return (outcome) => heard.push([ctx.instanceName, 'sent', status, outcome.bytes]);
      },
    }),
  };
  const watchRegistry = definePluginRegistry([...registry.values(), watcher as BuiltinPlugin<never>]);

  it('reach the global middleware observers, in order, with how the answer was sent; route-only instances hear nothing', async () => {
    const config = resolveConfig(
      {
        plugins: { second: { use: 'watcher' }, first: { use: 'watcher' }, local: { use: 'watcher' } },
        middleware: ['first', 'second'],
        routes: [{ path: '/only-get', methods: ['GET'], upstream: upstream.url, middleware: ['local'] }],
      },
      watchRegistry,
    );
    const g = new Gateway(config, { plugins: watchRegistry });
    const s = new GatewayServer(g);
    const { port } = await s.listen(0, '127.0.0.1');
    const missing = await fetch(`http://127.0.0.1:${port}/nowhere?x=1`);
    const text = await missing.text();
    assert.equal(missing.status, 404);
    const wrongMethod = await fetch(`http://127.0.0.1:${port}/only-get`, { method: 'DELETE' });
    await wrongMethod.text();
    const healthy = await fetch(`http://127.0.0.1:${port}/healthz`);
    await healthy.text();
    await waitFor(() => heard.filter((h) => h[1] === 'sent').length === 4);
    assert.deepEqual(heard, [
      ['first', 'GET /nowhere', 404],
      ['second', 'GET /nowhere', 404],
      ['first', 'sent', 404, Buffer.byteLength(text)],
      ['second', 'sent', 404, Buffer.byteLength(text)],
      ['first', 'DELETE /only-get', 405],
      ['second', 'DELETE /only-get', 405],
      ['first', 'sent', 405, heard[6]![3]],
      ['second', 'sent', 405, heard[6]![3]],
    ]);
    await s.shutdown(1_000);
  });
});

describe('a client that gives up before the answer', () => {
  it('is reported to observers as 499 (client closed request), not as a malformed request', async () => {
    const slow = await startUpstream(() => {
      /* never answers: the client gives up first */
    });
    const config = resolveConfig({ plugins: { observe: { use: 'observe' } }, middleware: ['observe'], routes: [{ path: '/*', upstream: slow.url }] }, registry);
    const g = new Gateway(config, { plugins: registry, logger: silentLogger() });
    const s = new GatewayServer(g);
    const { port } = await s.listen(0, '127.0.0.1');
    seen.length = 0;
    const abort = new AbortController();
    const pending = fetch(`http://127.0.0.1:${port}/slow`, { signal: abort.signal }).catch(() => null);
    await waitFor(() => slow.requests.length === 1);
    abort.abort();
    await pending;
    await waitFor(() => seen.some((e) => e[0] === 'sent'));
    assert.deepEqual(seen.find((e) => e[0] === 'sent'), ['sent', 499, 0, true]);
    await s.shutdown(500);
    await slow.close();
  });
});
