import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseExposition } from '../../../plugins/metrics/parse-exposition.ts';
import { assertPromtoolAccepts } from '../../../plugins/metrics/promtool.ts';
import { cleanupStack } from '../lifecycle/helpers/cleanup.ts';
import { CliProcess, killAllChildren } from '../lifecycle/helpers/cli.ts';
import { makeConfigDir, type ConfigDir } from '../lifecycle/helpers/config-dir.ts';
import { httpGet } from '../lifecycle/helpers/http-client.ts';
import { startTextUpstream, type TestUpstream } from '../lifecycle/helpers/upstream.ts';

// `isogate start --workers 2`: whichever worker answers the scrape, it reports the whole gateway.
// The config is evaluated in each worker, so `process.pid` in it tells the test which worker
// served a request (through a response header set by the headers built-in). A rate limit, JWT
// auth and a user plugin fill the other series, and every page must pass Prometheus' linter
// (`promtool check metrics`, which must be installed: the test fails without it).

const hostile = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/hostile.ts');

describe('metrics with --workers 2', () => {
  let upstream: TestUpstream;
  let tmp: ConfigDir;

  before(async () => {
    upstream = await startTextUpstream('up');
    tmp = await makeConfigDir('os');
  });

  after(async () => {
    killAllChildren();
    await upstream?.close();
    await tmp?.remove();
  });

  test('every scrape reports the sum over both workers', { timeout: 90_000 }, async (t) => {
    const defer = cleanupStack(t);
    const file = await tmp.write(
      'metrics-workers.config.ts',
      `export default {
  plugins: {
    metrics: { use: 'metrics', options: { clusterTimeout: '5s', cacheFor: 0 } },
    who: { use: 'headers', options: { response: { set: { 'x-worker': String(process.pid) } } } },
    limit: { use: 'ratelimit', options: { points: 1, duration: '1m', key: 'ip' } },
    auth: { use: 'auth', options: { secret: 'cluster-test-secret-0123456789-0123456789' } },
    hostile: { use: ${JSON.stringify(hostile)}, failurePolicy: 'fail-closed', limits: { cpuMs: 50, wallMs: 400, memoryMb: 32 } },
  },
  middleware: ['metrics', 'who'],
  routes: [
    { path: '/v/:id', upstream: ${JSON.stringify(upstream.url)} },
    { path: '/limited', upstream: ${JSON.stringify(upstream.url)}, middleware: ['limit'] },
    { path: '/me', upstream: ${JSON.stringify(upstream.url)}, middleware: ['auth'] },
    { path: '/plugin/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['hostile'] },
  ],
};
`,
    );
    const cli = new CliProcess(['start', '--config', file, '--port', '0', '--host', '127.0.0.1', '--workers', '2']);
    defer(() => cli.kill());
    const listening = await cli.waitForLogs('gateway listening', 2, 30_000);
    const url = listening[0]!['url'] as string;
    const pids = new Set(listening.map((l) => String(l['pid'])));
    assert.equal(pids.size, 2);

    // Fresh connections (agent: false) are spread over the workers by the primary: send until
    // both have served at least three, within a bound.
    const servedBy = new Map<string, number>();
    let sent = 0;
    while (sent < 200 && ![...pids].every((pid) => (servedBy.get(pid) ?? 0) >= 3)) {
      const res = await httpGet(`${url}/v/${sent}`);
      assert.equal(res.status, 200);
      const worker = String(res.headers['x-worker']);
      assert.ok(pids.has(worker), `served by ${worker}`);
      servedBy.set(worker, (servedBy.get(worker) ?? 0) + 1);
      sent++;
    }
    assert.equal(servedBy.size, 2, `both workers served: ${JSON.stringify([...servedBy])}`);

    // The other kinds of series, from whichever workers serve them (one point per worker and client: a 429 within a few tries).
    let limited = 0;
    for (let i = 0; i < 20 && limited === 0; i++) if ((await httpGet(`${url}/limited`)).status === 429) limited++;
    assert.equal(limited, 1, 'a rate-limited request');
    for (let i = 0; i < 2; i++) assert.equal((await httpGet(`${url}/me`)).status, 401);
    assert.equal((await httpGet(`${url}/plugin/1`)).status, 200);
    assert.equal((await httpGet(`${url}/plugin/1`, { headers: { 'x-mode': 'throw' } })).status, 500);
    assert.equal((await httpGet(`${url}/nowhere`)).status, 404);

    for (let i = 0; i < 6; i++) {
      const res = await httpGet(`${url}/metrics`);
      assert.equal(res.status, 200, res.body);
      const m = parseExposition(res.body);
      assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/v/:id', status: '200' }), sent, `scrape ${i}`);
      assert.equal(m.value('gateway_request_duration_seconds_count', { method: 'GET', route: '/v/:id' }), sent);
      assert.equal(m.value('gateway_upstream_duration_seconds_count', { route: '/v/:id', upstream: upstream.url }), sent);
      assert.equal(m.value('gateway_requests_in_flight'), 0);
      assert.equal(m.value('gateway_metrics_workers'), 2);
      // Process metrics follow prom-client's aggregation: summed, except where averaging or omitting is right.
      assert.ok((m.value('process_resident_memory_bytes') ?? 0) > 0);
      assert.equal(m.value('process_start_time_seconds'), undefined, 'omitted across workers');
      if (i === 0) {
        assert.equal(m.sum('gateway_ratelimit_rejections_total'), 1);
        assert.equal(m.sum('gateway_auth_failures_total', { route: '/me' }), 2);
        assert.equal(m.value('gateway_plugin_errors_total', { plugin: 'hostile', kind: 'throw' }), 1);
        assert.equal(m.value('gateway_plugin_hook_duration_seconds_count', { plugin: 'hostile', hook: 'onRequest' }), 2);
        assert.ok((m.value('nodejs_active_handles_all') ?? 0) > 0, 'summed over the workers');
        await assertPromtoolAccepts(res.body, 'the --workers 2 scrape');
      }
    }

    // And they keep moving.
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(`${url}/v/more-${i}`)).status, 200);
    const m = parseExposition((await httpGet(`${url}/metrics`)).body);
    assert.equal(m.value('gateway_requests_total', { method: 'GET', route: '/v/:id', status: '200' }), sent + 4);

    // A worker killed outright: the primary replaces it, and its counts as of the last scrape stay
    // in the total, which Prometheus would otherwise read as a counter reset.
    process.kill(Number([...pids][0]), 'SIGKILL');
    const relisten = await cli.waitForLogs('gateway listening', 3, 30_000);
    assert.ok(!pids.has(String(relisten[2]!['pid'])), 'a new worker');
    const afterText = (await httpGet(`${url}/metrics`)).body;
    const after = parseExposition(afterText);
    assert.equal(after.value('gateway_requests_total', { method: 'GET', route: '/v/:id', status: '200' }), sent + 4, 'the total does not drop');
    assert.equal(after.value('gateway_request_duration_seconds_count', { method: 'GET', route: '/v/:id' }), sent + 4);
    assert.equal(after.value('gateway_metrics_workers'), 2, 'live workers');
    assert.equal(after.value('gateway_metrics_workers_missing'), 0);
    assert.equal(after.value('gateway_requests_in_flight'), 0);
    // The retired worker's counters and histograms, added by the primary, print as cleanly.
    await assertPromtoolAccepts(afterText, 'the --workers 2 scrape after a worker was replaced');
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(`${url}/v/after-${i}`)).status, 200);
    const later = parseExposition((await httpGet(`${url}/metrics`)).body);
    assert.equal(later.value('gateway_requests_total', { method: 'GET', route: '/v/:id', status: '200' }), sent + 8);

    cli.child.kill('SIGTERM');
    assert.deepEqual(await cli.waitForExit(30_000), { code: 0, signal: null });
  });
});
