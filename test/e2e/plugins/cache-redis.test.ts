import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parseExposition } from '../../../plugins/metrics/parse-exposition.ts';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../../../plugins/shared/redis-test-support.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { httpRequest, type SimpleResponse } from '../../helpers/http-client.ts';
import { closedPort, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { CliProcess } from '../lifecycle/helpers/cli.ts';
import { makeConfigDir, type ConfigDir } from '../lifecycle/helpers/config-dir.ts';
import { freePort } from '../lifecycle/helpers/http-client.ts';
import { waitFor } from '../lifecycle/helpers/wait.ts';

/**
 * The Redis cache store end to end: two gateway processes sharing entries through the real Redis
 * (127.0.0.1:6379 or REDIS_URL; the tests fail, with how to start one, when it is unreachable),
 * and the outage policy — a Redis that refuses connections, and a private redis-server stalled
 * mid-traffic — under which every lookup is a miss answered within a bound, never an error.
 */
let upstream: Upstream;
let admin: Redis;
const prefixes: string[] = [];
const calls = new Map<string, number>();
const callsTo = (p: string) => calls.get(p) ?? 0;

before(async () => {
  await requireRedis();
  admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  upstream = await startUpstream((req, res) => {
    const p = (req.url ?? '/').split('?')[0]!;
    calls.set(p, callsTo(p) + 1);
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end(`${p} answer #${callsTo(p)}`);
  });
});
after(async () => {
  for (const p of prefixes) await deleteKeys(admin, p);
  admin?.disconnect();
  await upstream?.close();
});

const status = (r: SimpleResponse) => String(r.headers['cache-status']);

/** Ask `url` until the cache answers with a Cache-Status matching `served` (a hit from Redis, say). */
function cachedAnswer(what: string, url: string, served: RegExp, headers: Record<string, string> = {}): Promise<SimpleResponse> {
  return waitFor(async () => {
    const r = await httpRequest(url, { headers });
    return served.test(status(r)) && r;
  }, { timeoutMs: 15_000, intervalMs: 25, message: what });
}

describe('cache in Redis across gateway processes', () => {
  let dir: ConfigDir;
  const processes: CliProcess[] = [];

  before(async () => {
    dir = await makeConfigDir('os');
  });
  after(async () => {
    for (const p of processes) p.kill();
    await Promise.all(processes.map((p) => p.waitForExit(10_000).catch(() => {})));
    await dir?.remove();
  });

  it('what one process stored, the other serves: one upstream call for both', { timeout: 90_000 }, async () => {
    const prefix = uniquePrefix('cache-two-processes');
    prefixes.push(prefix);
    const config = {
      plugins: { shared: { use: 'cache', options: { redis: REDIS_URL, prefix } } },
      routes: [{ path: '/shared/*', upstream: upstream.url, middleware: ['shared'] }],
    };
    const file = await dir.write('shared-cache.config.ts', `export default ${JSON.stringify(config, null, 2)};\n`);
    for (let i = 0; i < 2; i++) processes.push(new CliProcess(['start', '--config', file, '--port', '0']));
    const [a, b] = await Promise.all(processes.map((p) => p.listening(30_000)));
    await Promise.all(processes.map((p) => p.waitForLogs('cache store connected', 1, 15_000)));
    // Both processes stand behind one public name, as behind a load balancer (the Host is in the key).
    const host = { host: 'api.example.test' };

    const miss = await httpRequest(`${a}/shared/one`, { headers: host });
    assert.equal(miss.text, '/shared/one answer #1');
    assert.equal(status(miss), 'shared; fwd=uri-miss; stored');
    // The entry is written to Redis once its body has ended: the other process finds it then.
    const hit = await cachedAnswer('process B serves the entry process A stored', `${b}/shared/one`, /^shared; hit/, host);
    assert.equal(hit.text, '/shared/one answer #1');
    assert.ok(hit.headers.age !== undefined);
    assert.equal(callsTo('/shared/one'), 1, 'one upstream call for the two processes');

    // And the other way round, with a body worth the name.
    await httpRequest(`${b}/shared/two`, { headers: host });
    const back = await cachedAnswer('process A serves what B stored', `${a}/shared/two`, /^shared; hit/, host);
    assert.equal(back.text, '/shared/two answer #1');
    assert.equal(callsTo('/shared/two'), 1);

    const [cursor, keys] = await admin.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    assert.equal(cursor, '0');
    assert.equal(keys.length, 2, 'one Redis string per entry under the prefix');
  });
});

describe('cache when Redis is not there', () => {
  it('a Redis that refuses connections: every request is a miss, answered at once, never an error', { timeout: 60_000 }, async () => {
    const g = await startGateway({
      plugins: {
        metrics: { use: 'metrics', options: { cacheFor: 0 } },
        down: { use: 'cache', options: { redis: `redis://127.0.0.1:${await closedPort()}`, redisTimeout: '200ms' } },
      },
      routes: [{ path: '/down/*', upstream: upstream.url, middleware: ['down'] }],
    });
    try {
      const results: { status: number; ms: number; cache: string }[] = [];
      for (let i = 0; i < 20; i++) {
        const started = Date.now();
        const r = await httpRequest(`${g.url}/down/x`);
        results.push({ status: r.status, ms: Date.now() - started, cache: status(r) });
      }
      assert.ok(results.every((r) => r.status === 200), JSON.stringify(results));
      assert.ok(results.every((r) => r.cache === 'down; fwd=uri-miss; stored'), 'a miss each time (the writes are dropped)');
      const slowest = Math.max(...results.map((r) => r.ms));
      assert.ok(slowest < 1_000, `slowest request took ${slowest} ms`);
      assert.equal(callsTo('/down/x'), 20);
      const m = parseExposition((await httpRequest(`${g.url}/metrics`)).text);
      assert.ok((m.value('gateway_cache_store_errors_total', { plugin: 'down' }) ?? 0) >= 20);
      assert.equal(m.value('gateway_cache_requests_total', { route: '/down/*', result: 'miss' }), 20);
    } finally {
      await g.close();
    }
  });

  describe('a Redis stalled mid-traffic', () => {
    let redisServer: ChildProcess | null = null;
    after(() => {
      if (redisServer && redisServer.exitCode === null && redisServer.signalCode === null) {
        redisServer.kill('SIGCONT');
        redisServer.kill('SIGKILL');
      }
    });

    it('lookups time out into misses within the command timeout; the cache serves again once Redis is back', { timeout: 90_000 }, async () => {
      const port = await freePort();
      redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const privateUrl = `redis://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        try {
          await requireRedis(privateUrl);
          break;
        } catch (err) {
          if (i === 50) throw err;
          await sleep(100);
        }
      }
      const TIMEOUT_MS = 200;
      const g = await startGateway({
        plugins: { stalled: { use: 'cache', options: { redis: privateUrl, redisTimeout: `${TIMEOUT_MS}ms` } } },
        routes: [{ path: '/stalled/*', upstream: upstream.url, middleware: ['stalled'] }],
      });
      try {
        await cachedAnswer('an entry stored in the private Redis', `${g.url}/stalled/x`, /^stalled; hit/);
        const callsBefore = callsTo('/stalled/x');

        redisServer.kill('SIGSTOP'); // connected but silent: only the command timeout can tell
        const during: { status: number; ms: number; cache: string }[] = [];
        const stalledUntil = Date.now() + 2_000;
        while (Date.now() < stalledUntil) {
          const started = Date.now();
          const r = await httpRequest(`${g.url}/stalled/x`);
          during.push({ status: r.status, ms: Date.now() - started, cache: status(r) });
        }
        assert.ok(during.every((r) => r.status === 200), 'never an error');
        assert.ok(during.every((r) => r.cache === 'stalled; fwd=uri-miss; stored'), 'misses while Redis is stalled');
        const slowest = Math.max(...during.map((r) => r.ms));
        // The stalled lookup fails after 200 ms, then Redis is left alone for its cooldown; the rest is this machine's scheduling.
        assert.ok(slowest < TIMEOUT_MS + 800, `slowest request took ${slowest} ms`);
        assert.ok(during.length > 5, `requests kept being answered (${during.length})`);
        assert.equal(callsTo('/stalled/x') - callsBefore, during.length);

        redisServer.kill('SIGCONT');
        await cachedAnswer('served from Redis again', `${g.url}/stalled/x`, /^stalled; hit/);
      } finally {
        await g.close();
        redisServer.kill('SIGKILL');
        await once(redisServer, 'exit');
      }
    });
  });
});
