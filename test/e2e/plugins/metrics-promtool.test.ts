import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfigFile } from '../../../runtime/src/config/load-config.ts';
import { Gateway } from '../../../runtime/src/gateway.ts';
import { builtinPlugins } from '../../../runtime/src/plugins/builtins.ts';
import { GatewayServer } from '../../../runtime/src/server/http-server.ts';
import { parseExposition, type Exposition } from '../../../plugins/metrics/parse-exposition.ts';
import { assertPromtoolAccepts, promtoolCheckMetrics } from '../../../plugins/metrics/promtool.ts';
import { UNMATCHED_ROUTE } from '../../../plugins/metrics/request-instrument.ts';
import { httpRequest } from '../../helpers/http-client.ts';
import { closedPort, startUpstream, type Upstream } from '../../helpers/upstream.ts';

// The scrape page as Prometheus' own linter sees it (`promtool check metrics`), over a real
// socket, from a gateway configured like the example one (metrics first, a rate limit, JWT auth,
// a headers plugin, a user plugin in an isolate) after traffic that fills every kind of series.
// The --workers page is checked in metrics-cluster.test.ts. promtool must be installed: these
// tests fail (they never skip) without it, saying how to install it.

const hostile = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/hostile.ts');

let upstream: Upstream;
let dir: string;
/** An upstream nobody listens on, behind a circuit breaker: the circuit series. */
let down: string;

const handler = (req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  if (!req.url?.includes('stream')) return void res.end('ok');
  // A response that never ends, for a client that goes away mid-body (an aborted request).
  res.write('x'.repeat(1024));
  const timer = setInterval(() => res.write('x'.repeat(1024)), 20);
  res.once('close', () => clearInterval(timer));
};

before(async () => {
  upstream = await startUpstream(handler);
  down = `http://127.0.0.1:${await closedPort()}`;
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-metrics-promtool-'));
});

after(async () => {
  await upstream?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** Like gateway.config.ts: observers first in the global middleware, the rest on routes. */
function exampleLikeConfig(upstreamUrl: string, metricsOptions: Record<string, unknown>): string {
  const up = JSON.stringify(upstreamUrl);
  return `export default {
  plugins: {
    metrics: { use: 'metrics', options: ${JSON.stringify({ cacheFor: 0, ...metricsOptions })} },
    'per-client': { use: 'ratelimit', options: { points: 1, duration: '1m', key: 'ip' } },
    auth: { use: 'auth', options: { secret: 'promtool-test-secret-0123456789-0123456789' } },
    'powered-by': { use: 'headers', options: { response: { set: { 'x-powered-by': 'isogate' } } } },
    hostile: { use: ${JSON.stringify(hostile)}, failurePolicy: 'fail-closed', limits: { cpuMs: 50, wallMs: 400, memoryMb: 32 } },
  },
  middleware: ['metrics', 'powered-by'],
  routes: [
    { path: '/api/users/:id', upstream: ${up} },
    { path: '/api/limited', methods: ['GET'], upstream: ${up}, middleware: ['per-client'] },
    { path: '/api/me', methods: ['GET'], upstream: ${up}, middleware: ['auth'] },
    { path: '/api/orders/*', upstream: ${up}, middleware: ['hostile'] },
    { path: '/api/down', upstream: ${JSON.stringify(down)}, circuitBreaker: { consecutiveFailures: 1, cooldown: '1m' } },
  ],
};
`;
}

interface Running {
  readonly base: string;
  readonly port: number;
  readonly gateway: Gateway;
  readonly configFile: string;
  stop(): Promise<void>;
}

async function startGateway(name: string, metricsOptions: Record<string, unknown> = {}): Promise<Running> {
  const configFile = path.join(dir, `${name}.config.ts`);
  await fs.writeFile(configFile, exampleLikeConfig(upstream.url, metricsOptions));
  const loaded = await loadConfigFile(configFile, builtinPlugins);
  const gateway = new Gateway(loaded.config, { plugins: builtinPlugins, userPlugins: loaded.userPlugins });
  const server = new GatewayServer(gateway);
  const port = (await server.listen(0, '127.0.0.1')).port;
  return { base: `http://127.0.0.1:${port}`, port, gateway, configFile, stop: async () => void (await server.shutdown(1_000)) };
}

async function scrapeText(base: string): Promise<string> {
  const res = await httpRequest(`${base}/metrics`);
  assert.equal(res.status, 200, res.text);
  return res.text;
}

/** A client that reads the start of a streamed response and goes away. */
async function abortMidBody(port: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.write('GET /api/users/stream HTTP/1.1\r\nHost: gw\r\n\r\n');
  await new Promise<void>((resolve, reject) => socket.once('data', () => resolve()).once('error', reject));
  socket.destroy();
}

/** Requests that put a series in every family of the gateway's own metrics. */
async function driveEveryKind(g: Running): Promise<void> {
  const status = async (p: string, headers: Record<string, string> = {}) => (await httpRequest(`${g.base}${p}`, { headers })).status;
  assert.equal(await status('/api/users/1'), 200);
  assert.equal(await status('/api/limited'), 200);
  assert.equal(await status('/api/limited'), 429);
  assert.equal(await status('/api/me'), 401);
  assert.equal(await status('/api/me', { authorization: 'Bearer not.a.jwt' }), 401);
  assert.equal(await status('/api/orders/1'), 200);
  assert.equal(await status('/api/orders/1', { 'x-mode': 'throw' }), 500);
  assert.equal(await status('/wp-login.php'), 404);
  assert.equal(await status('/api/down'), 502);
  assert.equal(await status('/api/down'), 503, 'the circuit opened');
  await abortMidBody(g.port);
  const loaded = await loadConfigFile(g.configFile, builtinPlugins);
  g.gateway.reload(loaded.config, loaded.userPlugins);
  g.gateway.reloadFailed();
}

/** Every family has its series: the page that promtool checks is the full one. */
function assertEveryKindPresent(m: Exposition, prefix = ''): void {
  const positive = (name: string, labels?: Record<string, string>) => assert.ok((m.value(name, labels) ?? 0) > 0, `${name} ${JSON.stringify(labels ?? {})}`);
  positive('gateway_requests_total', { method: 'GET', route: '/api/users/:id', status: '200' });
  positive('gateway_requests_total', { method: 'GET', route: UNMATCHED_ROUTE, status: '404' });
  positive('gateway_request_duration_seconds_count', { method: 'GET', route: '/api/users/:id' });
  positive('gateway_upstream_duration_seconds_count', { route: '/api/users/:id', upstream: upstream.url });
  positive('gateway_plugin_hook_duration_seconds_count', { plugin: 'hostile', hook: 'onRequest' });
  positive('gateway_plugin_errors_total', { plugin: 'hostile', kind: 'throw' });
  positive('gateway_ratelimit_rejections_total', { route: '/api/limited' });
  assert.ok(m.sum('gateway_auth_failures_total', { route: '/api/me' }) >= 2, 'auth failures');
  positive('gateway_config_reloads_total', { result: 'success' });
  positive('gateway_config_reloads_total', { result: 'failure' });
  assert.equal(m.value('gateway_upstream_circuit_state', { upstream: down }), 2);
  positive('gateway_upstream_circuit_transitions_total', { upstream: down, state: 'open' });
  assert.equal(m.value('gateway_metrics_workers'), 1);
  assert.equal(m.value('gateway_metrics_workers_missing'), 0);
  assert.notEqual(m.value('gateway_requests_in_flight'), undefined);
  positive(`${prefix}process_cpu_seconds_total`);
  positive(`${prefix}process_resident_memory_bytes`);
  positive(`${prefix}nodejs_heap_size_used_bytes`);
  positive(`${prefix}nodejs_active_handles_all`);
  assert.equal(m.types.get(`${prefix}nodejs_gc_duration_seconds`), 'histogram');
}

async function scrapeWhenSettled(base: string): Promise<string> {
  // The aborted request leaves in flight when the gateway notices the client gone.
  for (let i = 0; i < 100; i++) {
    const text = await scrapeText(base);
    const m = parseExposition(text);
    if (m.value('gateway_requests_in_flight') === 0 && (m.sum('gateway_requests_aborted_total') ?? 0) > 0) return text;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail('the aborted request was never counted');
}

describe('the /metrics page passes promtool check metrics', () => {
  it('promtool is installed, and it reports what it finds (a gauge named like a counter)', async () => {
    const bad = '# HELP queue_items_total Items waiting\n# TYPE queue_items_total gauge\nqueue_items_total 3\n';
    const { code, output } = await promtoolCheckMetrics(bad);
    assert.notEqual(code, 0);
    assert.match(output, /queue_items_total non-counter metrics should not have "_total" suffix/);
  });

  it('one process, example-like config, every kind of series present', async () => {
    const g = await startGateway('default');
    try {
      await driveEveryKind(g);
      const text = await scrapeWhenSettled(g.base);
      await assertPromtoolAccepts(text, 'the scrape of one gateway process');
      assertEveryKindPresent(parseExposition(text));
    } finally {
      await g.stop();
    }
  });

  it('with processMetricsPrefix', async () => {
    const g = await startGateway('prefixed', { processMetricsPrefix: 'isogate_' });
    try {
      await driveEveryKind(g);
      const text = await scrapeWhenSettled(g.base);
      await assertPromtoolAccepts(text, 'the scrape with processMetricsPrefix "isogate_"');
      assertEveryKindPresent(parseExposition(text), 'isogate_');
    } finally {
      await g.stop();
    }
  });
});
