import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../../runtime/src/index.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { configSource, makeConfigDir, type RouteSpec } from './helpers/config-dir.ts';
import { startWatched } from './helpers/gateway.ts';
import { httpGet } from './helpers/http-client.ts';
import { startTextUpstream, startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { deferred, waitFor, withTimeout } from './helpers/wait.ts';

/** Bodies of upstream A's slow answers (big enough to span several chunks). */
const SLOW_HEAD_BODY = `A-slow-head:${'h'.repeat(64 * 1024)}`;
const SLOW_BODY_FIRST = `A-slow-body-1:${'1'.repeat(32 * 1024)}`;
const SLOW_BODY_REST = `A-slow-body-2:${'2'.repeat(32 * 1024)}`;

describe('hot reload', () => {
  let upA: TestUpstream;
  let upB: TestUpstream;
  /** Upstream A holds its slow answers until the test releases this gate (or 15 s pass). */
  let gate = deferred();

  const released = () => Promise.race([gate.promise, new Promise<void>((resolve) => setTimeout(resolve, 15_000).unref())]);

  before(async () => {
    upA = await startUpstream((req, res) => {
      req.resume();
      if (req.url === '/v/slow-head') {
        void released().then(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(SLOW_HEAD_BODY);
        });
      } else if (req.url === '/v/slow-body') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(SLOW_BODY_FIRST);
        void released().then(() => res.end(SLOW_BODY_REST));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('A');
      }
    });
    upB = await startTextUpstream('B');
  });

  after(async () => {
    gate.resolve();
    await upA?.close();
    await upB?.close();
  });

  const body = async (url: string) => (await httpGet(url, { timeoutMs: 10_000 })).body;

  test('(a) an edited config file switches the upstream within seconds', { timeout: 60_000 }, async (t) => {
    const defer = cleanupStack(t);
    // Plain config (no SDK import) in os.tmpdir(); rewritten in place like most editors do.
    const dir = await makeConfigDir('os');
    defer(() => dir.remove());
    const file = await dir.write('gateway.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: upA.url }] }));
    const { running, reloads, stop } = await startWatched(file);
    defer(stop);

    assert.equal(await body(`${running.url}/v/x`), 'A');
    const from = reloads.outcomes.length;
    const editedAt = Date.now();
    await dir.write('gateway.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: upB.url }] }));

    await waitFor(async () => (await body(`${running.url}/v/x`)) === 'B', { timeoutMs: 10_000, intervalMs: 100, message: 'responses to come from upstream B' });
    const switchedAfter = Date.now() - editedAt;
    const outcome = await reloads.waitFor(from, (o) => o.ok, 5_000, 'an ok reload outcome');
    assert.equal(outcome.ok, true);
    if (outcome.ok) assert.ok(outcome.files.includes(file), `watched files ${JSON.stringify(outcome.files)} include the config`);
    assert.deepEqual(running.gateway.config.routes[0]?.upstreams, [upB.url]);
    assert.ok(switchedAfter < 10_000, `switched after ${switchedAfter} ms`);
    t.diagnostic(`switched to B ${switchedAfter} ms after the edit`);
  });

  test('(a2) atomic saves (rename over the file) and edits to imported files reload too', { timeout: 60_000 }, async (t) => {
    const defer = cleanupStack(t);
    const dir = await makeConfigDir('project');
    defer(() => dir.remove());
    const targetsModule = (url: string) => `export const upstream: string = ${JSON.stringify(url)};\n`;
    const importing = (module: string) =>
      `import { defineConfig } from '@isogate/sdk';\nimport { upstream } from './${module}';\n\nexport default defineConfig({ routes: [{ path: '/v/*', upstream }] });\n`;
    await dir.write('targets.ts', targetsModule(upA.url));
    await dir.write('targets-2.ts', targetsModule(upA.url));
    const file = await dir.write('gateway.config.ts', importing('targets.ts'));
    const { running, reloads, stop } = await startWatched(file);
    defer(stop);
    assert.equal(await body(`${running.url}/v/x`), 'A');

    const serves = (expected: string, message: string) =>
      waitFor(async () => (await body(`${running.url}/v/x`)) === expected, { timeoutMs: 10_000, intervalMs: 100, message });

    // 1. The imported file is watched.
    await dir.write('targets.ts', targetsModule(upB.url));
    await serves('B', 'an edit of the imported targets.ts to switch to B');

    // 2. Atomic save of the config (write a temp file, rename it over): now imports targets-2.ts (A).
    await dir.writeAtomic('gateway.config.ts', importing('targets-2.ts'));
    await serves('A', 'the atomically saved config (importing targets-2.ts) to switch back to A');

    // 3. The newly imported file is watched from now on.
    const from = reloads.outcomes.length;
    await dir.writeAtomic('targets-2.ts', targetsModule(upB.url));
    await serves('B', 'an edit of the newly imported targets-2.ts to switch to B');
    const outcome = await reloads.waitFor(from, (o) => o.ok, 5_000, 'an ok reload');
    if (outcome.ok) assert.ok(outcome.files.includes(dir.path('targets-2.ts')), `watched files ${JSON.stringify(outcome.files)}`);
    assert.ok(reloads.outcomes.every((o) => o.ok), `every reload ok: ${reloads.describe()}`);
  });

  test('(b) ten reloads under concurrent keep-alive load drop no request', { timeout: 90_000 }, async (t) => {
    const defer = cleanupStack(t);
    const dir = await makeConfigDir('project');
    defer(() => dir.remove());
    const version = (i: number): RouteSpec[] => {
      const upstream = i % 2 === 0 ? upA.url : upB.url;
      const routes: RouteSpec[] = [{ path: '/v/*', upstream }, { path: `/extra-${i}/*`, upstream }];
      if (i % 3 === 0) routes.push({ path: '/w/:id', methods: ['GET'], upstream: `${upstream}/w/{id}` });
      return routes;
    };
    const file = await dir.write('gateway.config.ts', configSource({ sdk: true, routes: version(0) }));
    const { running, reloads, stop } = await startWatched(file);
    defer(stop);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    defer(() => agent.destroy());

    const CLIENTS = 8;
    const MIN_REQUESTS = 1_500;
    const MAX_REQUESTS = 20_000;
    const MAX_MS = 25_000;
    const stats = { sent: 0, a: 0, b: 0, failures: [] as string[] };
    let writerDone = false;
    const startedAt = Date.now();
    const keepGoing = () => stats.sent < MAX_REQUESTS && Date.now() - startedAt < MAX_MS && !(writerDone && stats.sent >= MIN_REQUESTS);
    const client = async () => {
      while (keepGoing()) {
        stats.sent++;
        try {
          const res = await httpGet(`${running.url}/v/load`, { agent, timeoutMs: 10_000 });
          if (res.status === 200 && res.body === 'A') stats.a++;
          else if (res.status === 200 && res.body === 'B') stats.b++;
          else stats.failures.push(`${res.status} ${res.body.slice(0, 200)}`);
        } catch (err) {
          stats.failures.push(`transport: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`);
        }
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, client));

    let reloadsDone = 0;
    try {
      for (let i = 1; i <= 10 && Date.now() - startedAt < MAX_MS; i++) {
        const from = reloads.outcomes.length;
        await dir.writeAtomic('gateway.config.ts', configSource({ sdk: true, routes: version(i) }));
        await reloads.waitFor(from, (o) => o.ok && running.gateway.config.routes.some((r) => r.path === `/extra-${i}/*`), 15_000, `reload #${i}`);
        reloadsDone++;
        // Let some traffic run on this table before swapping again.
        const sentBefore = stats.sent;
        await waitFor(() => stats.sent >= sentBefore + 25, { timeoutMs: 10_000, intervalMs: 10, message: 'traffic on the new table' });
      }
    } finally {
      writerDone = true;
      await withTimeout(load, 40_000, 'the load clients to finish');
    }

    t.diagnostic(`requests: ${stats.sent} (A ${stats.a}, B ${stats.b}), reloads: ${reloadsDone}, ${Date.now() - startedAt} ms`);
    assert.deepEqual(stats.failures.slice(0, 10), [], `${stats.failures.length} failed request(s) out of ${stats.sent}`);
    assert.equal(reloadsDone, 10);
    assert.ok(reloads.outcomes.every((o) => o.ok), `every reload ok: ${reloads.describe()}`);
    assert.ok(stats.a > 0 && stats.b > 0, 'both upstreams answered during the run');
    // Version 10 is the last one written: /v/* → A, and its route set.
    assert.deepEqual(
      running.gateway.config.routes.map((r) => r.path),
      version(10).map((r) => r.path),
    );
    assert.equal(await body(`${running.url}/v/after`), 'A');
  });

  test('(c) an invalid edit is rejected with its location, the last good config keeps serving, a fix is picked up', { timeout: 60_000 }, async (t) => {
    const defer = cleanupStack(t);
    const dir = await makeConfigDir('project');
    defer(() => dir.remove());
    const file = await dir.write('gateway.config.ts', configSource({ sdk: true, routes: [{ path: '/v/*', upstream: upA.url }] }));
    const { running, reloads, stop } = await startWatched(file);
    defer(stop);
    assert.equal(await body(`${running.url}/v/x`), 'A');

    const stillA = async () => {
      assert.equal(await body(`${running.url}/v/x`), 'A');
      assert.deepEqual(running.gateway.config.routes[0]?.upstreams, [upA.url]);
    };
    const issuesOf = (error: unknown) => (error instanceof ConfigError ? error.issues : []);

    // 1. A validation error: named by key path.
    let from = reloads.outcomes.length;
    await dir.write('gateway.config.ts', configSource({ sdk: true, routes: [{ path: '/v/*', upstream: 'not a url' }] }));
    const invalid = await reloads.waitFor(from, (o) => !o.ok && issuesOf(o.error).some((i) => i.path === 'routes[0].upstream'), 10_000, 'a rejected reload naming routes[0].upstream');
    assert.equal(invalid.ok, false);
    if (!invalid.ok) {
      assert.ok(invalid.error instanceof ConfigError);
      assert.match(invalid.error.message, /routes\[0\]\.upstream: expected an http\(s\) URL/);
    }
    await stillA();

    // 2. A syntax error on line 3: named by file:line:column.
    from = reloads.outcomes.length;
    await dir.write('gateway.config.ts', `import { defineConfig } from '@isogate/sdk';\n\nexport default defineConfig({ routes: [{ path: '/v/*', upstream: '${upB.url}' ] });\n`);
    const syntax = await reloads.waitFor(from, (o) => !o.ok && issuesOf(o.error).some((i) => /gateway\.config\.ts:3:\d+$/.test(i.path)), 10_000, 'a rejected reload naming gateway.config.ts:3:<col>');
    if (!syntax.ok) assert.match((syntax.error as Error).message, /gateway\.config\.ts:3:\d+: Expected "}" but found "]"/);
    await stillA();

    // 3. A config that throws while evaluated.
    from = reloads.outcomes.length;
    await dir.write('gateway.config.ts', `throw new Error('boom at load');\nexport default { routes: [] };\n`);
    await reloads.waitFor(from, (o) => !o.ok && /evaluating the config failed: boom at load/.test((o.error as Error).message), 10_000, 'a rejected reload for a throwing config');
    await stillA();

    // 4. The fix is picked up.
    from = reloads.outcomes.length;
    await dir.write('gateway.config.ts', configSource({ sdk: true, routes: [{ path: '/v/*', upstream: upB.url }] }));
    await reloads.waitFor(from, (o) => o.ok, 10_000, 'an ok reload after the fix');
    assert.equal(await body(`${running.url}/v/x`), 'B');
    assert.deepEqual(running.gateway.config.routes[0]?.upstreams, [upB.url]);
  });

  for (const variant of ['slow-head', 'slow-body'] as const) {
    const what = variant === 'slow-head' ? 'waiting for its response head' : 'halfway through its response body';
    test(`(d) a request ${what} on the old table completes after a swap`, { timeout: 60_000 }, async (t) => {
      const defer = cleanupStack(t);
      gate = deferred();
      defer(() => gate.resolve());
      const dir = await makeConfigDir('os');
      defer(() => dir.remove());
      const file = await dir.write('gateway.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: upA.url }] }));
      const { running, reloads, stop } = await startWatched(file);
      defer(stop);
      assert.equal(await body(`${running.url}/v/x`), 'A');

      const receivedBefore = upA.received;
      let firstChunkAt = 0;
      const slow = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get(`${running.url}/v/${variant}`, { agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            firstChunkAt ||= Date.now();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          res.on('aborted', () => reject(new Error(`slow response aborted after ${Buffer.concat(chunks).length} bytes`)));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.setTimeout(30_000, () => req.destroy(new Error('slow request timed out')));
      });
      slow.catch(() => {}); // observed below
      await upA.waitForRequests(receivedBefore + 1);
      if (variant === 'slow-body') await waitFor(() => firstChunkAt !== 0, { timeoutMs: 10_000, message: 'the first half of the slow body' });

      const from = reloads.outcomes.length;
      await dir.write('gateway.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: upB.url }] }));
      await reloads.waitFor(from, (o) => o.ok, 10_000, 'the swap to B');
      await waitFor(async () => (await body(`${running.url}/v/x`)) === 'B', { timeoutMs: 10_000, intervalMs: 100, message: 'new requests to go to B' });

      // The old table's request is still waiting on A; let A finish now.
      let settled = false;
      void slow.then(
        () => (settled = true),
        () => (settled = true),
      );
      await new Promise((resolve) => setImmediate(resolve));
      if (settled) await slow; // surfaces an early failure (e.g. the old upstream pool closed under it)
      assert.equal(settled, false, 'the slow request was still in flight when the swap happened');
      gate.resolve();
      const res = await withTimeout(slow, 15_000, 'the slow request to finish');
      assert.equal(res.status, 200);
      const expected = variant === 'slow-head' ? SLOW_HEAD_BODY : SLOW_BODY_FIRST + SLOW_BODY_REST;
      assert.equal(res.body.length, expected.length);
      assert.ok(res.body === expected, 'the full body from A');
      // And the gateway is still healthy afterwards.
      assert.equal(await body(`${running.url}/v/x`), 'B');
    });
  }

  test('running.watcher.ready() resolves when awaited after startGateway resolved', { timeout: 30_000 }, async (t) => {
    const defer = cleanupStack(t);
    const dir = await makeConfigDir('os');
    defer(() => dir.remove());
    const file = await dir.write('gateway.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: upA.url }] }));
    const { running, stop } = await startWatched(file);
    defer(stop);
    assert.ok(running.watcher, 'watch: true gives a watcher');
    // Documented as what tests await before editing; chokidar emits 'ready' only once.
    await withTimeout(running.watcher.ready(), 5_000, 'running.watcher.ready() (called after startGateway resolved)');
  });
});
