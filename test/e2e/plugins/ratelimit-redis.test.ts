import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../../../plugins/shared/redis-test-support.ts';
import { builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import type { GatewayConfig } from '../../../sdk/src/config.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { CliProcess } from '../lifecycle/helpers/cli.ts';
import { makeConfigDir, type ConfigDir } from '../lifecycle/helpers/config-dir.ts';
import { freePort } from '../lifecycle/helpers/http-client.ts';

/**
 * The Redis store end to end: gateway processes sharing one exact limit through the real Redis
 * (127.0.0.1:6379 or REDIS_URL; the tests fail, with how to start one, when it is unreachable),
 * and a private redis-server stalled and killed in the middle of a load.
 */
let upstream: Upstream;
let admin: Redis;
const prefixes: string[] = [];

before(async () => {
  await requireRedis();
  admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  upstream = await startUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
});
after(async () => {
  for (const p of prefixes) await deleteKeys(admin, p);
  admin?.disconnect();
  await upstream?.close();
});

/** One request on a fresh connection; resolves with the status and how long it took. */
function timedGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; ms: number; startedAt: number }> {
  const startedAt = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, signal: AbortSignal.timeout(10_000) }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, ms: Date.now() - startedAt, startedAt }));
    });
    req.on('error', reject);
  });
}

describe('ratelimit with Redis across gateway processes', () => {
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

  it('two gateway processes share one exact limit', { timeout: 90_000 }, async () => {
    const prefix = uniquePrefix('two-processes');
    prefixes.push(prefix);
    const LIMIT = 25;
    const config = {
      plugins: { fleet: { use: 'ratelimit', options: { points: LIMIT, duration: '1m', key: 'global', redis: REDIS_URL, prefix } } },
      routes: [{ path: '/shared/*', upstream: upstream.url, middleware: ['fleet'] }],
    };
    const file = await dir.write('shared-limit.config.ts', `export default ${JSON.stringify(config, null, 2)};\n`);
    for (let i = 0; i < 2; i++) processes.push(new CliProcess(['start', '--config', file, '--port', '0']));
    const urls = await Promise.all(processes.map((p) => p.listening(30_000)));
    // Counting starts in Redis only once each process's connection is up (before that the insurance limiter would answer).
    await Promise.all(processes.map((p) => p.waitForLogs('rate limit store connected', 1, 15_000)));

    const before = upstream.requests.length;
    // First in lockstep, alternating processes: each must spend from the one budget (a burst alone
    // may be answered entirely by whichever process its scheduler happens to run first).
    const SEQUENTIAL = 10;
    const stepped: { status: number }[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) stepped.push(await timedGet(`${urls[i % 2]}/shared/x`));
    assert.deepEqual(stepped.map((a) => a.status), Array(SEQUENTIAL).fill(200), 'both processes spend from the budget while it lasts');
    // Then a concurrent burst over both: exactly what is left of the budget passes, in all.
    const burst = await Promise.all(Array.from({ length: 70 }, (_, i) => timedGet(`${urls[i % 2]}/shared/x`)));
    const answers = [...stepped, ...burst];
    assert.equal(answers.filter((a) => a.status === 200).length, LIMIT, 'exactly the limit, not the limit per process');
    assert.equal(answers.filter((a) => a.status === 429).length, 80 - LIMIT);
    assert.equal(upstream.requests.length - before, LIMIT);
    assert.equal(await admin.get(`${prefix}:global`), '80', 'one counter in Redis saw every request');
  });
});

describe('ratelimit when Redis goes away mid-load', () => {
  let redisServer: ChildProcess | null = null;

  after(() => {
    if (redisServer && redisServer.exitCode === null && redisServer.signalCode === null) {
      redisServer.kill('SIGCONT');
      redisServer.kill('SIGKILL');
    }
  });

  it('stalled then killed: no request hangs past the command timeout, no 5xx, insurance keeps limiting, deny refuses; then back', { timeout: 90_000 }, async (t) => {
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
    const INSURED_POINTS = 30;
    const options = { duration: '1m', key: 'global', redis: privateUrl, redisTimeout: `${TIMEOUT_MS}ms` } as const;
    const g = await startGateway({
      plugins: {
        insured: { use: 'ratelimit', options: { ...options, points: INSURED_POINTS } },
        denied: { use: 'ratelimit', options: { ...options, points: 1_000_000, onStoreError: 'deny' } },
      },
      routes: [
        { path: '/insured/*', upstream: upstream.url, middleware: ['insured'] },
        { path: '/denied/*', upstream: upstream.url, middleware: ['denied'] },
      ],
    });
    try {
      // Both instances share the one connection to the private Redis: wait until it is up.
      for (let i = 0; (await timedGet(`${g.url}/denied/warmup`)).status !== 200; i++) {
        if (i === 50) throw new Error('the gateway never reached the private Redis');
        await sleep(100);
      }

      const results: { route: 'insured' | 'denied'; status: number; ms: number; startedAt: number }[] = [];
      const deadline = Date.now() + 4_000;
      const MAX_REQUESTS = 6_000; // a safety cap: pacing keeps the load near 600 requests/s
      const worker = async (route: 'insured' | 'denied') => {
        while (Date.now() < deadline && results.length < MAX_REQUESTS) {
          results.push({ route, ...(await timedGet(`${g.url}/${route}/x`)) });
          await sleep(5);
        }
      };
      const load = Promise.all([worker('insured'), worker('insured'), worker('denied'), worker('denied')]);

      await sleep(1_000);
      const stalledAt = Date.now();
      redisServer.kill('SIGSTOP'); // connected but silent: only the command timeout can tell
      await sleep(1_500);
      const killedAt = Date.now();
      redisServer.kill('SIGKILL'); // gone: the connection closes
      redisServer.kill('SIGCONT');
      await once(redisServer, 'exit');
      await load;

      const statuses = new Set(results.map((r) => r.status));
      assert.deepEqual([...statuses].sort(), [200, 429], 'only 200 and 429: never a 5xx');
      const slowest = Math.max(...results.map((r) => r.ms));
      // A command stalled by SIGSTOP fails after 200 ms; the rest is this busy test machine's scheduling.
      assert.ok(slowest < TIMEOUT_MS + 800, `slowest request took ${slowest} ms`);

      const during = (from: number) => (r: (typeof results)[number]) => r.startedAt > from + 50;
      const insuredAfter = results.filter((r) => r.route === 'insured').filter(during(stalledAt));
      const deniedAfter = results.filter((r) => r.route === 'denied').filter(during(stalledAt));
      assert.ok(insuredAfter.length > INSURED_POINTS * 2, `enough load during the outage (${insuredAfter.length})`);
      const insuredAllowed = insuredAfter.filter((r) => r.status === 200).length;
      assert.ok(insuredAllowed <= INSURED_POINTS, `the insurance limiter allowed ${insuredAllowed} of ${INSURED_POINTS}`);
      assert.ok(insuredAfter.some((r) => r.status === 429), 'and refused the rest');
      assert.ok(deniedAfter.length > 0 && deniedAfter.every((r) => r.status === 429), 'deny: every request during the outage is refused with 429');
      assert.ok(results.some((r) => r.route === 'denied' && r.startedAt < stalledAt && r.status === 200), 'deny passed requests while Redis was up');
      assert.ok(results.some((r) => r.startedAt > killedAt + 50), 'the load ran on after the kill');

      // Redis back on the same port: the background reconnection picks it up, the limit is shared again.
      redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const backAt = Date.now();
      let status = 0;
      while (Date.now() - backAt < 15_000 && (status = (await timedGet(`${g.url}/denied/x`)).status) !== 200) await sleep(100);
      assert.equal(status, 200, 'deny serves again once Redis is back');
      t.diagnostic(`Redis back: served again after ${Date.now() - backAt} ms`);
      t.diagnostic(`${results.length} requests, slowest ${slowest} ms; insured during the outage: ${insuredAllowed} allowed of ${insuredAfter.length}; denied during the outage: ${deniedAfter.length} refused`);
    } finally {
      await g.close();
    }
  });
});

describe('ratelimit Redis connections across config reloads', () => {
  let redisServer: ChildProcess | null = null;
  after(() => {
    if (redisServer && redisServer.exitCode === null && redisServer.signalCode === null) redisServer.kill('SIGKILL');
  });

  it('a reload that changes the Redis settings closes the old connection once the old table retires; unchanged settings keep it', { timeout: 60_000 }, async () => {
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
    const probe = new Redis(privateUrl, { maxRetriesPerRequest: 1 });
    /** The ids of the gateway's connections to the private Redis (ioredis names them). */
    const gatewayClients = async (): Promise<string[]> =>
      ((await probe.call('CLIENT', 'LIST')) as string)
        .split('\n')
        .filter((line) => / name=isogate-ratelimit /.test(line))
        .map((line) => /^id=(\d+)/.exec(line)![1]!);
    const until = async (what: string, ok: (ids: string[]) => boolean): Promise<string[]> => {
      let ids: string[] = [];
      for (let i = 0; i < 100; i++) {
        if (ok((ids = await gatewayClients()))) return ids;
        await sleep(50);
      }
      throw new Error(`${what}: the gateway's connections are ${JSON.stringify(ids)}`);
    };
    const prefix = uniquePrefix('reload');
    const config = (redisTimeout: `${number}ms`): GatewayConfig => ({
      plugins: { rl: { use: 'ratelimit', options: { points: 100, duration: '1m', redis: privateUrl, prefix, redisTimeout } } },
      routes: [{ path: '/r/*', upstream: upstream.url, middleware: ['rl'] }],
    });

    try {
      const g = await startGateway(config('200ms'));
      try {
        const [first] = await until('connected at start', (ids) => ids.length === 1);
        assert.equal((await timedGet(`${g.url}/r/x`)).status, 200);

        g.gateway.reload(resolveConfig({ ...config('200ms'), server: { port: 0 } }, builtinPlugins));
        await sleep(300); // the old table retires at once (nothing in flight)
        assert.deepEqual(await gatewayClients(), [first], 'unchanged settings: the same connection');

        g.gateway.reload(resolveConfig({ ...config('300ms'), server: { port: 0 } }, builtinPlugins));
        const [second] = await until('the old connection closed, the new one up', (ids) => ids.length === 1 && ids[0] !== first);
        assert.notEqual(second, first);
        assert.equal((await timedGet(`${g.url}/r/x`)).status, 200);
      } finally {
        await g.close();
      }
      await until('every connection closed with the gateway', (ids) => ids.length === 0);
    } finally {
      probe.disconnect();
    }
  });
});
