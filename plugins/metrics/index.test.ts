import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { emitRequestEvent, startHook } from '../../runtime/src/chain/instruments.ts';
import type { Middleware } from '../../runtime/src/chain/types.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';
import { Gateway } from '../../runtime/src/gateway.ts';
import { definePluginRegistry, type BuiltinPlugin } from '../../runtime/src/plugins/builtin-plugin.ts';
import { builtinPlugins } from '../../runtime/src/plugins/builtins.ts';
import { createLogger } from '../../runtime/src/logging/logger.ts';
import type { GatewayConfig } from '../../sdk/src/config.ts';
import { MAX_REASONS_PER_ROUTE } from './gateway-metrics.ts';
import { UNMATCHED_ROUTE } from './request-instrument.ts';
import { parseExposition, type Exposition } from './parse-exposition.ts';

/**
 * A stand-in for the plugins that report to the metrics (auth, ratelimit, user plugins): what it
 * does is chosen per request by headers, so one config covers every case.
 */
const probe: BuiltinPlugin<Record<string, never>> = {
  name: 'probe',
  options: z.strictObject({}),
  create(): Middleware {
    return (next) =>
      async function probeRequest(req) {
        const h = req.headers;
        if (h['x-ratelimit'] !== undefined) {
          emitRequestEvent(req, { type: 'ratelimit-rejected', plugin: 'limit' });
          return { status: 429, headers: {}, body: null };
        }
        if (typeof h['x-auth-fail'] === 'string') {
          emitRequestEvent(req, { type: 'auth-failed', plugin: 'jwt', reason: h['x-auth-fail'] });
          return { status: 401, headers: {}, body: null };
        }
        if (h['x-hook'] !== undefined) {
          const done = startHook(req, 'p1', 'onRequest');
          await new Promise((resolve) => setTimeout(resolve, 5));
          done?.('throw');
          emitRequestEvent(req, { type: 'plugin-error', plugin: 'p1', hook: 'onRequest', kind: 'throw' });
        }
        if (h['x-throw'] !== undefined) throw new Error('boom');
        return next(req);
      };
  },
};
const plugins = definePluginRegistry([...builtinPlugins.values(), probe as BuiltinPlugin<never>]);

let upstream: http.Server;
let origin: string;
before(async () => {
  upstream = http.createServer((req, res) => {
    if (req.url?.startsWith('/slow')) setTimeout(() => res.end('slow'), 30);
    else if (req.url?.startsWith('/stream')) {
      res.write('first');
      setTimeout(() => res.end('last'), 50);
    }
    else res.end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(() => {
  upstream.closeAllConnections();
  upstream.close();
});

function config(overrides: Partial<GatewayConfig> = {}, metricsOptions: Record<string, unknown> = {}) {
  return resolveConfig(
    {
      // Every scrape collects (cacheFor 0) unless a test says otherwise: the tests count between scrapes.
      plugins: { metrics: { use: 'metrics', options: { cacheFor: 0, ...metricsOptions } }, probe: { use: 'probe' } } as never,
      middleware: ['metrics', 'probe'],
      routes: [
        { path: '/users/:id', upstream: origin },
        { path: '/files/*', upstream: origin },
      ],
      ...overrides,
    } as GatewayConfig,
    plugins,
  );
}

async function scrape(gateway: Gateway, path = '/metrics'): Promise<Exposition> {
  const res = await gateway.request(path);
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await res.text());
}

async function get(gateway: Gateway, path: string, init: RequestInit = {}): Promise<number> {
  const res = await gateway.request(path, init);
  await res.arrayBuffer();
  return res.status;
}

describe('metrics plugin', () => {
  it('counts requests by method, route template and status; the raw path never becomes a label', async () => {
    const gateway = new Gateway(config(), { plugins });
    assert.equal(await get(gateway, '/users/1'), 200);
    assert.equal(await get(gateway, '/users/%F0%9F%92%A5weird%20id?x=<script>'), 200);
    assert.equal(await get(gateway, '/files/a/b/c'), 200);
    assert.equal(await get(gateway, '/users/2', { method: 'POST', body: 'x' }), 200);
    assert.equal(await get(gateway, '/users/3', { method: 'PROPFIND' }), 200);
    const m = await scrape(gateway);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '200' }), 2);
    assert.equal(m.value('gateway_requests_total', { method: 'POST', route: '/users/:id', status: '200' }), 1);
    assert.equal(m.value('gateway_requests_total', { method: '_OTHER', route: '/users/:id', status: '200' }), 1);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/files/*', status: '200' }), 1);
    const routes = new Set(m.samples.filter((s) => s.labels['route'] !== undefined).map((s) => s.labels['route']));
    assert.deepEqual([...routes].sort(), ['/files/*', '/users/:id']);
    assert.ok(!m.samples.some((s) => Object.values(s.labels).some((v) => /weird|script|PROPFIND|a\/b/.test(v))));
    assert.equal(m.value('gateway_request_duration_seconds_count', { method: 'GET', route: '/users/:id' }), 2);
    assert.equal(m.value('gateway_request_duration_seconds_bucket', { method: 'GET', route: '/users/:id', le: '+Inf' }), 2);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    assert.equal(m.value('gateway_metrics_workers'), 1);
    assert.equal(m.value('gateway_upstream_duration_seconds_count', { route: '/users/:id', upstream: origin }), 4);
    assert.ok(m.value('gateway_upstream_duration_seconds_sum', { route: '/users/:id', upstream: origin })! > 0);
    assert.equal(m.types.get('gateway_requests_total'), 'counter');
    assert.equal(m.types.get('gateway_request_duration_seconds'), 'histogram');
    assert.equal(m.types.get('gateway_requests_in_flight'), 'gauge');
    assert.ok(m.types.has('process_cpu_user_seconds_total'), 'Node process metrics');
    assert.ok(m.types.has('nodejs_heap_size_total_bytes'));
    await gateway.close();
  });

  it('the duration histogram puts a slow request in a slower bucket', async () => {
    const gateway = new Gateway(config({ routes: [{ path: '/*', upstream: origin }] }, { buckets: { request: [0.02, 10] } }), { plugins });
    await get(gateway, '/slow');
    const m = await scrape(gateway);
    assert.equal(m.value('gateway_request_duration_seconds_bucket', { method: 'GET', route: '/*', le: '0.02' }), 0);
    assert.equal(m.value('gateway_request_duration_seconds_bucket', { method: 'GET', route: '/*', le: '10' }), 1);
    assert.ok(m.value('gateway_request_duration_seconds_sum', { method: 'GET', route: '/*' })! >= 0.025);
    await gateway.close();
  });

  it('in flight: up while the response is pending, back to 0 after it was sent', async () => {
    const gateway = new Gateway(config({ routes: [{ path: '/*', upstream: origin }] }), { plugins });
    const pending = gateway.request('/slow');
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await scrape(gateway)).value('gateway_requests_in_flight'), 1);
    await (await pending).text();
    assert.equal((await scrape(gateway)).value('gateway_requests_in_flight'), 0);
    await gateway.close();
  });

  it('counts the error response when the chain throws, and in flight returns to 0', async () => {
    const gateway = new Gateway(config(), { plugins });
    assert.equal(await get(gateway, '/users/1', { headers: { 'x-throw': '1' } }), 500);
    const m = await scrape(gateway);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '500' }), 1);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    await gateway.close();
  });

  it('counts an aborted streamed response once, as aborted', async () => {
    const gateway = new Gateway(config({ routes: [{ path: '/*', upstream: origin }] }), { plugins });
    const res = await gateway.request('/stream');
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    const m = await scrape(gateway);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/*', status: '200' }), 1);
    assert.equal(m.value('gateway_requests_aborted_total', { route: '/*' }), 1);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    await gateway.close();
  });

  it('counts rate-limit rejections, auth failures (by reason), hook durations and plugin errors from events', async () => {
    const gateway = new Gateway(config(), { plugins });
    assert.equal(await get(gateway, '/users/1', { headers: { 'x-ratelimit': '1' } }), 429);
    assert.equal(await get(gateway, '/users/1', { headers: { 'x-ratelimit': '1' } }), 429);
    assert.equal(await get(gateway, '/users/1', { headers: { 'x-auth-fail': 'expired' } }), 401);
    assert.equal(await get(gateway, '/files/x', { headers: { 'x-auth-fail': 'missing' } }), 401);
    assert.equal(await get(gateway, '/users/1', { headers: { 'x-auth-fail': 'has spaces and <junk>' } }), 401);
    assert.equal(await get(gateway, '/users/1', { headers: { 'x-hook': '1' } }), 200);
    const m = await scrape(gateway);
    assert.equal(m.value('gateway_ratelimit_rejections_total', { route: '/users/:id' }), 2);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '429' }), 2);
    assert.equal(m.value('gateway_auth_failures_total', { route: '/users/:id', reason: 'expired' }), 1);
    assert.equal(m.value('gateway_auth_failures_total', { route: '/files/*', reason: 'missing' }), 1);
    assert.equal(m.value('gateway_auth_failures_total', { route: '/users/:id', reason: 'other' }), 1);
    assert.equal(m.value('gateway_plugin_errors_total', { plugin: 'p1', kind: 'throw' }), 1);
    assert.equal(m.value('gateway_plugin_hook_duration_seconds_count', { plugin: 'p1', hook: 'onRequest' }), 1);
    assert.ok(m.value('gateway_plugin_hook_duration_seconds_sum', { plugin: 'p1', hook: 'onRequest' })! >= 0.004);
    await gateway.close();
  });

  it(`keeps at most ${MAX_REASONS_PER_ROUTE} auth failure reasons per route; the rest count as "other"`, async () => {
    const gateway = new Gateway(config(), { plugins });
    for (let i = 0; i < MAX_REASONS_PER_ROUTE + 10; i++) await get(gateway, '/users/1', { headers: { 'x-auth-fail': `reason-${i}` } });
    const m = await scrape(gateway);
    const reasons = m.find('gateway_auth_failures_total', { route: '/users/:id' });
    assert.equal(reasons.length, MAX_REASONS_PER_ROUTE + 1);
    assert.equal(m.value('gateway_auth_failures_total', { route: '/users/:id', reason: 'other' }), 10);
    await gateway.close();
  });

  it('counts config reloads by result, and counters survive a reload', async () => {
    const gateway = new Gateway(config(), { plugins });
    await get(gateway, '/users/1');
    let m = await scrape(gateway);
    assert.equal(m.value('gateway_config_reloads_total', { result: 'success' }), 0);
    assert.equal(m.value('gateway_config_reloads_total', { result: 'failure' }), 0);

    gateway.reload(config({ routes: [{ path: '/users/:id', upstream: origin }, { path: '/new', upstream: origin }] }));
    await get(gateway, '/users/1');
    await get(gateway, '/new');
    gateway.reloadFailed();
    // A reload whose build fails (a plugin's create throws) is counted as a failure too.
    const conflicting = config(
      { plugins: { metrics: { use: 'metrics' }, other: { use: 'metrics', options: { path: '/m2', processMetrics: false } } } as never, middleware: ['metrics'] },
      {},
    );
    assert.throws(() => gateway.reload(conflicting), /share the gateway's registry/);

    m = await scrape(gateway);
    assert.equal(m.value('gateway_config_reloads_total', { result: 'success' }), 1);
    assert.equal(m.value('gateway_config_reloads_total', { result: 'failure' }), 2);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '200' }), 2, 'counts from before the reload are kept');
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/new', status: '200' }), 1);
    await gateway.close();
  });

  it('warns once at start when the endpoint is open and the gateway listens beyond loopback', async () => {
    const warnings = async (server: Record<string, unknown>, metricsOptions: Record<string, unknown> = {}) => {
      const lines: string[] = [];
      const logger = createLogger({ level: 'warn', destination: { write: (line: string) => lines.push(line) } });
      const gateway = new Gateway(config({ server } as never, metricsOptions), { plugins, logger });
      gateway.reload(config({ server } as never, metricsOptions));
      await gateway.close();
      return lines.filter((l) => /scrape endpoint is open/.test(l));
    };
    const open = await warnings({ host: '0.0.0.0' });
    assert.equal(open.length, 1, 'once, not again on reload');
    assert.match(open[0]!, /"host":"0.0.0.0"/);
    assert.match(open[0]!, /allow/);
    assert.deepEqual(await warnings({ host: '0.0.0.0' }, { allow: ['10.0.0.0/8'] }), []);
    assert.deepEqual(await warnings({ host: '127.0.0.1' }), []);
  });

  it('caches the rendered scrape for cacheFor (1 s by default)', async () => {
    const gateway = new Gateway(config({}, { cacheFor: undefined }), { plugins });
    await get(gateway, '/users/1');
    const first = await scrape(gateway);
    await get(gateway, '/users/1');
    const second = await scrape(gateway);
    assert.equal(first.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '200' }), 1);
    assert.equal(second.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '200' }), 1, 'served from the cache');
    await gateway.close();
  });

  it('a reload that changes buckets keeps the registry and warns that the change needs a restart', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (line: string) => lines.push(line) } });
    const gateway = new Gateway(config(), { plugins, logger });
    await get(gateway, '/users/1');
    gateway.reload(config({}, { buckets: { request: [1, 2] } }));
    await get(gateway, '/users/1');
    const m = await scrape(gateway);
    assert.equal(m.value('gateway_request_duration_seconds_count', { method: 'GET', route: '/users/:id' }), 2);
    assert.notEqual(m.value('gateway_request_duration_seconds_bucket', { method: 'GET', route: '/users/:id', le: '0.005' }), undefined, 'the first buckets stay');
    assert.equal(m.value('gateway_request_duration_seconds_bucket', { method: 'GET', route: '/users/:id', le: '2' }), undefined);
    await gateway.close();
    assert.ok(lines.some((l) => /next restart/.test(l)), lines.join('\n'));
  });

  it('two instances on one request (globally and on the route) count it once', async () => {
    const gateway = new Gateway(
      config({
        plugins: { metrics: { use: 'metrics' }, again: { use: 'metrics', options: { path: '/again' } }, probe: { use: 'probe' } } as never,
        routes: [{ path: '/users/:id', upstream: origin, middleware: ['again'] }],
      }),
      { plugins },
    );
    await get(gateway, '/users/1');
    const m = await scrape(gateway);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '200' }), 1);
    assert.equal(m.value('gateway_upstream_duration_seconds_count', { route: '/users/:id', upstream: origin }), 1);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    await gateway.close();
  });

  it('an upgrade request is counted when the handshake is answered', async () => {
    const gateway = new Gateway(config({ routes: [{ path: '/users/:id', upstream: origin, websocket: true }] }), { plugins });
    const res = await gateway.handle({
      method: 'GET',
      target: '/users/1',
      headers: { host: 'gateway.test', connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      body: null,
      remoteAddress: '127.0.0.1',
      protocol: 'http',
      signal: new AbortController().signal,
      upgrade: true,
    });
    if (res.body instanceof Readable) res.body.resume();
    res.upgradeSocket?.destroy();
    const m = await scrape(gateway);
    assert.equal(m.sum('gateway_requests_total', { route: '/users/:id' }), 1);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    await gateway.close();
  });

  it('serves a configurable path, GET and HEAD only, restricted to the allow-list when set', async () => {
    const gateway = new Gateway(config({}, { path: '/internal/metrics', allow: ['10.0.0.0/8', '::1'] }), { plugins });
    assert.equal((await gateway.request('/internal/metrics', { remoteAddress: '10.1.2.3' })).status, 200);
    assert.equal((await gateway.request('/internal/metrics', { remoteAddress: '::ffff:10.1.2.3' })).status, 200);
    assert.equal((await gateway.request('/internal/metrics', { remoteAddress: '::1' })).status, 200);
    const head = await gateway.request('/internal/metrics', { method: 'HEAD', remoteAddress: '10.0.0.1' });
    assert.equal(head.status, 200);
    const denied = await gateway.request('/internal/metrics', { remoteAddress: '192.168.1.1' });
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_FORBIDDEN');
    const post = await gateway.request('/internal/metrics', { method: 'POST', body: 'x', remoteAddress: '10.0.0.1' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    // The default path is not served when another is configured: it is routed like any path.
    assert.equal((await gateway.request('/metrics', { remoteAddress: '10.0.0.1' })).status, 404);
    await gateway.close();
  });

  it('processMetrics: false leaves Node process metrics out; a prefix renames them', async () => {
    const without = new Gateway(config({}, { processMetrics: false }), { plugins });
    const m = await scrape(without);
    assert.ok(!m.samples.some((s) => s.name.startsWith('process_') || s.name.startsWith('nodejs_')));
    assert.ok(m.types.has('gateway_requests_total'));
    await without.close();
    const prefixed = new Gateway(config({}, { processMetricsPrefix: 'isogate_' }), { plugins });
    const p = await scrape(prefixed);
    assert.ok(p.types.has('isogate_process_cpu_user_seconds_total'));
    assert.ok(!p.types.has('process_cpu_user_seconds_total'));
    await prefixed.close();
  });

  it('no gauge carries a counter suffix: prom-client\'s active handles/requests/resources totals are exposed as *_all', async () => {
    for (const prefix of ['', 'isogate_']) {
      const gateway = new Gateway(config({}, { processMetricsPrefix: prefix }), { plugins });
      const m = await scrape(gateway);
      for (const kind of ['handles', 'requests', 'resources']) {
        assert.equal(m.types.get(`${prefix}nodejs_active_${kind}_total`), undefined, `${prefix}nodejs_active_${kind}_total`);
        assert.equal(m.types.get(`${prefix}nodejs_active_${kind}_all`), 'gauge');
        // One series, always there (0 rather than missing when nothing of the kind is active).
        assert.equal(m.find(`${prefix}nodejs_active_${kind}_all`).length, 1);
      }
      assert.ok(m.value(`${prefix}nodejs_active_handles_all`)! > 0, 'the upstream server of this test is a handle');
      for (const [name, type] of m.types) {
        if (name.endsWith('_total')) assert.equal(type, 'counter', name);
        if (type === 'counter') assert.ok(name.endsWith('_total'), name);
      }
      await gateway.close();
    }
  });

  it('each gateway has its own registry', async () => {
    const a = new Gateway(config(), { plugins });
    const b = new Gateway(config(), { plugins });
    await get(a, '/users/1');
    assert.equal((await scrape(a)).value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '200' }), 1);
    assert.equal((await scrape(b)).value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '200' }), undefined);
    await a.close();
    await b.close();
  });

  it(`counts requests answered before routing under route="${UNMATCHED_ROUTE}", never the raw path, and not in flight`, async () => {
    const gateway = new Gateway(
      config({
        server: { underscoreHeaders: 'reject', limits: { maxUrlLength: 64 } },
        routes: [{ path: '/users/:id', methods: ['GET'], upstream: origin }],
      }),
      { plugins },
    );
    assert.equal(await get(gateway, '/nowhere/secret-token-123?x=1'), 404);
    assert.equal(await get(gateway, '/also/missing'), 404);
    assert.equal(await get(gateway, '/users/1', { method: 'DELETE' }), 405);
    assert.equal(await get(gateway, '/users/1', { method: 'PROPFIND' }), 405);
    assert.equal(await get(gateway, '/a/%2e%2e/x'), 400);
    assert.equal(await get(gateway, '/users/' + 'z'.repeat(100)), 414);
    assert.equal(await get(gateway, '/users/1', { headers: { x_tenant: 'a' } }), 400);
    // Not requests: the health probes and the scrape.
    assert.equal(await get(gateway, '/healthz'), 200);
    await scrape(gateway);
    const m = await scrape(gateway);
    const unmatched = { route: UNMATCHED_ROUTE };
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: UNMATCHED_ROUTE, status: '404' }), 2);
    assert.equal(m.value('gateway_requests_total', { method: 'DELETE', route: UNMATCHED_ROUTE, status: '405' }), 1);
    assert.equal(m.value('gateway_requests_total', { method: '_OTHER', route: UNMATCHED_ROUTE, status: '405' }), 1);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: UNMATCHED_ROUTE, status: '400' }), 2);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: UNMATCHED_ROUTE, status: '414' }), 1);
    assert.equal(m.sum('gateway_requests_total', unmatched), 7, 'health and scrapes are not counted');
    assert.equal(m.value('gateway_request_duration_seconds_count', { method: 'GET', route: UNMATCHED_ROUTE }), 5);
    assert.equal(m.value('gateway_request_duration_seconds_bucket', { method: 'GET', route: UNMATCHED_ROUTE, le: '+Inf' }), 5);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    assert.equal(m.sum('gateway_requests_aborted_total', unmatched), 0);
    const routes = new Set(m.samples.filter((s) => s.labels['route'] !== undefined).map((s) => s.labels['route']));
    assert.deepEqual([...routes], [UNMATCHED_ROUTE]);
    assert.ok(!m.samples.some((s) => Object.values(s.labels).some((v) => /nowhere|secret|missing|zzz|PROPFIND|%2e/.test(v))));
    await gateway.close();
  });

  it('unrouted requests are counted once with two global instances, and not at all by an instance listed only on routes', async () => {
    const twice = new Gateway(
      config({ plugins: { metrics: { use: 'metrics' }, again: { use: 'metrics', options: { path: '/again' } }, probe: { use: 'probe' } } as never, middleware: ['metrics', 'again'] }),
      { plugins },
    );
    assert.equal(await get(twice, '/nowhere'), 404);
    assert.equal((await scrape(twice)).value('gateway_requests_total', { method: 'GET', route: UNMATCHED_ROUTE, status: '404' }), 1);
    await twice.close();

    const routeOnly = new Gateway(config({ middleware: ['probe'], routes: [{ path: '/users/:id', upstream: origin, middleware: ['metrics'] }] }), { plugins });
    assert.equal(await get(routeOnly, '/nowhere'), 404);
    assert.equal(await get(routeOnly, '/users/1'), 200);
    const m = await scrape(routeOnly);
    assert.equal(m.sum('gateway_requests_total', { route: UNMATCHED_ROUTE }), 0);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '200' }), 1);
    await routeOnly.close();
  });

  it('a refused upgrade to an unknown path is counted when answered (the transport reports no send for it)', async () => {
    const gateway = new Gateway(config(), { plugins });
    const res = await gateway.handle({
      method: 'GET',
      target: '/chat',
      headers: { host: 'gateway.test', connection: 'keep-alive, Upgrade', upgrade: 'websocket' },
      body: null,
      remoteAddress: '127.0.0.1',
      protocol: 'http',
      signal: new AbortController().signal,
      upgrade: true,
    });
    assert.equal(res.status, 404);
    assert.equal(res.onSent, undefined, 'nothing waits for a report that never comes');
    const m = await scrape(gateway);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: UNMATCHED_ROUTE, status: '404' }), 1);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    await gateway.close();
  });
});
