import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { z } from 'zod';
import { emitRequestEvent } from '../../../runtime/src/chain/instruments.ts';
import type { Middleware } from '../../../runtime/src/chain/types.ts';
import { loadConfigFile } from '../../../runtime/src/config/load-config.ts';
import { Gateway } from '../../../runtime/src/gateway.ts';
import { definePluginRegistry, type BuiltinPlugin } from '../../../runtime/src/plugins/builtin-plugin.ts';
import { builtinPlugins } from '../../../runtime/src/plugins/builtins.ts';
import { GatewayServer } from '../../../runtime/src/server/http-server.ts';
import { parseExposition, type Exposition } from '../../../plugins/metrics/parse-exposition.ts';
import { UNMATCHED_ROUTE } from '../../../plugins/metrics/request-instrument.ts';
import { httpRequest } from '../../helpers/http-client.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// The metrics plugin through real sockets: a real user plugin (the hostile fixture) for hook
// durations and plugin errors, a stand-in middleware emitting the rate-limit and auth events the
// real plugins emit, and the scrape parsed as Prometheus would.

const hostile = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/hostile.ts');

const events: BuiltinPlugin<Record<string, never>> = {
  name: 'events',
  options: z.strictObject({}),
  create(): Middleware {
    return (next) =>
      async function emitEvents(req) {
        if (req.headers['x-limit'] !== undefined) {
          emitRequestEvent(req, { type: 'ratelimit-rejected', plugin: 'limit' });
          return { status: 429, headers: { 'retry-after': '1' }, body: null };
        }
        if (typeof req.headers['x-deny'] === 'string') {
          emitRequestEvent(req, { type: 'auth-failed', plugin: 'jwt', reason: req.headers['x-deny'] });
          return { status: 401, headers: { 'www-authenticate': 'Bearer' }, body: null };
        }
        return next(req);
      };
  },
};
const plugins = definePluginRegistry([...builtinPlugins.values(), events as BuiltinPlugin<never>]);

let dir: string;
let configFile: string;
let a: Upstream;
let b: Upstream;
let wss: WebSocketServer;
let gateway: Gateway;
let server: GatewayServer;
let base: string;
let port: number;

const handler = (req: IncomingMessage, res: ServerResponse) => {
  if (req.url?.includes('stream')) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('x'.repeat(1024));
    const timer = setInterval(() => res.write('x'.repeat(1024)), 20);
    res.once('close', () => clearInterval(timer));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
};

before(async () => {
  a = await startUpstream(handler);
  b = await startUpstream(handler);
  wss = new WebSocketServer({ server: b.server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-metrics-'));
  configFile = path.join(dir, 'gateway.config.ts');
  await fs.writeFile(
    configFile,
    `export default {
  plugins: {
    // cacheFor 0: every scrape collects, since the tests count between scrapes.
    metrics: { use: 'metrics', options: { buckets: { request: [0.001, 0.01, 0.1, 1, 10] }, cacheFor: 0 } },
    events: { use: 'events' },
    hostile: { use: ${JSON.stringify(hostile)}, failurePolicy: 'fail-closed', limits: { cpuMs: 50, wallMs: 400, memoryMb: 32 } },
  },
  middleware: ['metrics', 'events'],
  routes: [
    { path: '/users/:id', upstream: ${JSON.stringify(a.url)} },
    { path: '/b/*', upstream: ${JSON.stringify(b.url)}, websocket: true },
    { path: '/hostile/*', upstream: ${JSON.stringify(a.url)}, middleware: ['hostile'] },
    { path: '/read-only', methods: ['GET'], upstream: ${JSON.stringify(a.url)} },
  ],
};
`,
  );
  const loaded = await loadConfigFile(configFile, plugins);
  gateway = new Gateway(loaded.config, { plugins, userPlugins: loaded.userPlugins });
  server = new GatewayServer(gateway);
  port = (await server.listen(0, '127.0.0.1')).port;
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  for (const ws of wss?.clients ?? []) ws.terminate();
  wss?.close();
  await server?.shutdown(1_000);
  await a?.close();
  await b?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function scrape(): Promise<Exposition> {
  const res = await httpRequest(`${base}/metrics`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(res.text);
}

/** A request with a raw request-target exactly as written (no client-side normalisation). */
function rawGet(target: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${method} ${target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`));
    let data = '';
    socket.setEncoding('latin1').on('data', (c: string) => (data += c));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('timed out')));
  });
}

const users = { method: 'GET', route: '/users/:id', status: '200' };

describe('metrics over real sockets', () => {
  it('counts by route template: clients cannot mint label values with raw paths', async () => {
    const before = (await scrape()).value('gateway_requests_total', users) ?? 0;
    const targets = ['/users/1', '/users/%E2%98%83', '/users/a;b=c?q=%22%7D%0A', '/users/x%25y', '/users/' + 'z'.repeat(500)];
    for (const t of targets) assert.equal(await rawGet(t), 200, t);
    const m = await scrape();
    assert.equal(m.value('gateway_requests_total', users), before + targets.length);
    const labelValues = m.samples.flatMap((s) => Object.values(s.labels));
    for (const bad of ['☃', '%E2', 'a;b', 'x%25', 'zzzz', '"}']) assert.ok(!labelValues.some((v) => v.includes(bad)), `label value containing ${bad}`);
    const templates = new Set(['/users/:id', '/b/*', '/hostile/*', '/read-only', UNMATCHED_ROUTE]);
    for (const s of m.samples) if (s.labels['route'] !== undefined) assert.ok(templates.has(s.labels['route']), `route label ${s.labels['route']}`);
  });

  it('the duration histogram and the per-origin upstream histogram move with each request', async () => {
    const m0 = await scrape();
    const count0 = m0.value('gateway_request_duration_seconds_count', { method: 'GET', route: '/b/*' }) ?? 0;
    const upA0 = m0.value('gateway_upstream_duration_seconds_count', { route: '/users/:id', upstream: a.url }) ?? 0;
    const upB0 = m0.value('gateway_upstream_duration_seconds_count', { route: '/b/*', upstream: b.url }) ?? 0;
    for (let i = 0; i < 3; i++) assert.equal((await httpRequest(`${base}/b/${i}`)).status, 200);
    assert.equal((await httpRequest(`${base}/users/9`)).status, 200);
    const m = await scrape();
    assert.equal(m.value('gateway_request_duration_seconds_count', { method: 'GET', route: '/b/*' }), count0 + 3);
    assert.equal(m.value('gateway_request_duration_seconds_bucket', { method: 'GET', route: '/b/*', le: '+Inf' }), count0 + 3);
    const buckets = m.find('gateway_request_duration_seconds_bucket', { method: 'GET', route: '/b/*' }).map((s) => s.labels['le']);
    assert.deepEqual(buckets, ['0.001', '0.01', '0.1', '1', '10', '+Inf']);
    assert.equal(m.value('gateway_upstream_duration_seconds_count', { route: '/b/*', upstream: b.url }), upB0 + 3);
    assert.equal(m.value('gateway_upstream_duration_seconds_count', { route: '/users/:id', upstream: a.url }), upA0 + 1);
    assert.equal(m.value('gateway_upstream_duration_seconds_count', { route: '/b/*', upstream: a.url }), undefined);
  });

  it('in flight rises during a streamed response and returns to 0 when the client goes away (counted as aborted)', async () => {
    const aborted0 = (await scrape()).value('gateway_requests_aborted_total', { route: '/b/*' }) ?? 0;
    const socket = net.connect(port, '127.0.0.1');
    socket.write('GET /b/stream HTTP/1.1\r\nHost: gw\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    assert.equal((await scrape()).value('gateway_requests_in_flight'), 1);
    socket.destroy();
    let m: Exposition | undefined;
    for (let i = 0; i < 100; i++) {
      m = await scrape();
      if (m.value('gateway_requests_in_flight') === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(m!.value('gateway_requests_in_flight'), 0);
    assert.equal(m!.value('gateway_requests_aborted_total', { route: '/b/*' }), aborted0 + 1);
  });

  it('a failing user plugin shows in plugin errors and hook durations', async () => {
    const m0 = await scrape();
    const errors0 = m0.value('gateway_plugin_errors_total', { plugin: 'hostile', kind: 'throw' }) ?? 0;
    const hooks0 = m0.value('gateway_plugin_hook_duration_seconds_count', { plugin: 'hostile', hook: 'onRequest' }) ?? 0;
    assert.equal((await httpRequest(`${base}/hostile/x`, { headers: { 'x-mode': 'throw' } })).status, 500);
    assert.equal((await httpRequest(`${base}/hostile/x`)).status, 200);
    const m = await scrape();
    assert.equal(m.value('gateway_plugin_errors_total', { plugin: 'hostile', kind: 'throw' }), errors0 + 1);
    assert.equal(m.value('gateway_plugin_hook_duration_seconds_count', { plugin: 'hostile', hook: 'onRequest' }), hooks0 + 2);
    assert.ok(m.find('gateway_plugin_hook_duration_seconds_bucket', { plugin: 'hostile', hook: 'onRequest', le: '0.0001' }).length === 1, 'hook buckets start at 100 µs');
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/hostile/*', status: '500' }), 1);
  });

  it('rate-limit rejections and auth failures from their events', async () => {
    assert.equal((await httpRequest(`${base}/users/1`, { headers: { 'x-limit': '1' } })).status, 429);
    assert.equal((await httpRequest(`${base}/users/1`, { headers: { 'x-deny': 'expired' } })).status, 401);
    assert.equal((await httpRequest(`${base}/users/1`, { headers: { 'x-deny': 'expired' } })).status, 401);
    assert.equal((await httpRequest(`${base}/b/1`, { headers: { 'x-deny': 'bad-signature' } })).status, 401);
    const m = await scrape();
    assert.equal(m.value('gateway_ratelimit_rejections_total', { route: '/users/:id' }), 1);
    assert.equal(m.value('gateway_auth_failures_total', { route: '/users/:id', reason: 'expired' }), 2);
    assert.equal(m.value('gateway_auth_failures_total', { route: '/b/*', reason: 'bad-signature' }), 1);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/users/:id', status: '401' }), 2);
  });

  it('config reloads are counted by result and the counters carry over', async () => {
    const m0 = await scrape();
    const served0 = m0.value('gateway_requests_total', users)!;
    assert.ok(served0 > 0);
    const loaded = await loadConfigFile(configFile, plugins);
    gateway.reload(loaded.config, loaded.userPlugins);
    gateway.reloadFailed();
    assert.equal((await httpRequest(`${base}/users/1`)).status, 200);
    const m = await scrape();
    assert.equal(m.value('gateway_config_reloads_total', { result: 'success' }), (m0.value('gateway_config_reloads_total', { result: 'success' }) ?? 0) + 1);
    assert.equal(m.value('gateway_config_reloads_total', { result: 'failure' }), (m0.value('gateway_config_reloads_total', { result: 'failure' }) ?? 0) + 1);
    assert.equal(m.value('gateway_requests_total', users), served0 + 1);
  });

  it('a WebSocket is counted once its handshake is answered, and is not in flight while it lives', async () => {
    const before101 = (await scrape()).value('gateway_requests_total', { method: 'GET', route: '/b/*', status: '101' }) ?? 0;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/b/ws`, { handshakeTimeout: 5_000 });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('ping');
    assert.equal(await echoed, 'ping');
    const m = await scrape();
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/b/*', status: '101' }), before101 + 1);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close();
    await closed;
    assert.equal((await scrape()).value('gateway_requests_total', { method: 'GET', route: '/b/*', status: '101' }), before101 + 1);
  });

  it('HEAD is answered without a body; other methods get 405', async () => {
    const head = await httpRequest(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const post = await httpRequest(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET, HEAD');
  });

  it('scrapes are not counted as requests (the endpoint is served before routing)', async () => {
    const m0 = await scrape();
    await scrape();
    const m = await scrape();
    assert.equal(m.sum('gateway_requests_total'), m0.sum('gateway_requests_total'));
    assert.equal(m.value('gateway_requests_in_flight'), 0);
  });

  it(`requests answered before routing (404, 405, a refused upgrade) are counted as route="${UNMATCHED_ROUTE}"; their paths never become labels`, async () => {
    const m0 = await scrape();
    const notFound = { method: 'GET', route: UNMATCHED_ROUTE, status: '404' };
    const notFound0 = m0.value('gateway_requests_total', notFound) ?? 0;
    const count0 = m0.value('gateway_request_duration_seconds_count', { method: 'GET', route: UNMATCHED_ROUTE }) ?? 0;
    const scans = ['/wp-login.php', '/.env?token=s3cret', '/%E2%98%83/admin', '/nowhere/' + 'q'.repeat(300)];
    for (const t of scans) assert.equal(await rawGet(t), 404, t);
    assert.equal(await rawGet('/read-only', 'DELETE'), 405);
    assert.equal(await rawGet('/read-only', 'PROPFIND'), 405);
    // A WebSocket handshake to an unknown path: the transport writes the refusal raw and reports no send.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/no-socket-here`, { handshakeTimeout: 5_000 });
    const refused = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', reject);
    });
    ws.terminate();
    assert.equal(refused, 404);

    const m = await scrape();
    assert.equal(m.value('gateway_requests_total', notFound), notFound0 + scans.length + 1);
    assert.equal(m.value('gateway_request_duration_seconds_count', { method: 'GET', route: UNMATCHED_ROUTE }), count0 + scans.length + 1);
    assert.equal(m.value('gateway_requests_total', { method: 'DELETE', route: UNMATCHED_ROUTE, status: '405' }), 1);
    assert.equal(m.value('gateway_requests_total', { method: '_OTHER', route: UNMATCHED_ROUTE, status: '405' }), 1);
    assert.equal(m.value('gateway_requests_in_flight'), 0);
    const labelValues = m.samples.flatMap((s) => Object.values(s.labels));
    for (const bad of ['wp-login', '.env', 's3cret', '☃', '%E2', 'admin', 'qqqq', 'no-socket', 'PROPFIND']) {
      assert.ok(!labelValues.some((v) => v.includes(bad)), `label value containing ${bad}`);
    }
  });
});
