import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, silentLogger } from '../../../runtime/src/index.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { CliProcess, killAllChildren } from './helpers/cli.ts';
import { configSource, makeConfigDir, REPO_ROOT } from './helpers/config-dir.ts';
import { httpGet, probeConnect, type SimpleResponse } from './helpers/http-client.ts';
import { RawConnection } from './helpers/raw-http.ts';
import { startTextUpstream, startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { deferred, sleep, waitFor, withTimeout } from './helpers/wait.ts';

const SLOW_BODY = `slow:${'s'.repeat(16 * 1024)}`;

describe('graceful shutdown', () => {
  /** Holds every response until the test opens `gate` (or 15 s pass: a safety net, never relied on). */
  let slowUp: TestUpstream;
  /** Never answers (not even a status line). */
  let hangUp: TestUpstream;
  /** Sends the head and half a body, then nothing more. */
  let trickleUp: TestUpstream;
  let fastUp: TestUpstream;
  let gate = deferred();

  before(async () => {
    slowUp = await startUpstream((req, res) => {
      req.resume();
      const safetyNet = new Promise<void>((resolve) => setTimeout(resolve, 15_000).unref());
      void Promise.race([gate.promise, safetyNet]).then(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(SLOW_BODY);
      });
    });
    hangUp = await startUpstream((req) => req.resume());
    trickleUp = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
      res.write('x'.repeat(500));
    });
    fastUp = await startTextUpstream('fast');
  });

  after(async () => {
    killAllChildren();
    gate.resolve();
    await Promise.all([slowUp, hangUp, trickleUp, fastUp].map((u) => u?.close()));
  });

  const routes = () => [
    { path: '/slow/*', upstream: slowUp.url },
    { path: '/hang/*', upstream: hangUp.url },
    { path: '/trickle/*', upstream: trickleUp.url },
    { path: '/fast/*', upstream: fastUp.url },
  ];

  async function startCli(t: Parameters<typeof cleanupStack>[0], shutdown: string) {
    const defer = cleanupStack(t);
    const dir = await makeConfigDir('os');
    defer(() => dir.remove());
    const file = await dir.write('gateway.config.ts', configSource({ sdk: false, server: { timeouts: { shutdown } }, routes: routes() }));
    const cli = new CliProcess(['start', '--config', file, '--port', '0', '--host', '127.0.0.1']);
    defer(() => cli.kill());
    const url = await cli.listening();
    return { cli, url, port: Number(new URL(url).port), defer };
  }

  test('SIGTERM: in-flight requests finish with connection: close, new connections are refused, exit 0', { timeout: 90_000 }, async (t) => {
    gate = deferred();
    const { cli, url, port, defer } = await startCli(t, '10s');
    defer(() => gate.resolve());
    assert.equal((await httpGet(`${url}/fast/x`)).body, 'fast');

    // An idle keep-alive connection: it must be closed when the drain starts.
    const idle = await RawConnection.open(port);
    defer(() => idle.destroy());
    idle.write('GET /fast/idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal((await idle.readResponse()).status, 200);

    const receivedBefore = slowUp.received;
    const slow = [1, 2, 3].map((i) => httpGet(`${url}/slow/${i}`, { timeoutMs: 30_000 }));
    for (const p of slow) p.catch(() => {}); // awaited below
    await slowUp.waitForRequests(receivedBefore + 3);

    const signalledAt = Date.now();
    cli.child.kill('SIGTERM');
    const [draining] = await cli.waitForLogs('draining: finishing in-flight requests', 1, 10_000);
    assert.equal(draining!['inFlight'], 3);

    // New connections are refused soon after the signal; the idle keep-alive one is closed.
    await waitFor(async () => (await probeConnect(port)) === 'refused', { timeoutMs: 5_000, intervalMs: 50, message: 'new connections to be refused' });
    const refusedAfter = Date.now() - signalledAt;
    await withTimeout(idle.closed, 5_000, 'the idle keep-alive connection to be closed');

    // The drain is waiting for the three requests (held by the upstream), not exiting.
    assert.equal(cli.running, true, 'still draining while requests are in flight');
    const releasedAt = Date.now();
    gate.resolve();

    const responses: SimpleResponse[] = await withTimeout(Promise.all(slow), 20_000, 'the in-flight requests to complete');
    for (const res of responses) {
      assert.equal(res.status, 200);
      assert.equal(res.headers['connection'], 'close');
      assert.equal(res.body, SLOW_BODY);
    }

    const status = await cli.waitForExit(10_000 + 10_000);
    assert.deepEqual(status, { code: 0, signal: null });
    const exitAfterRelease = cli.exitedAt - releasedAt;
    assert.ok(exitAfterRelease < 5_000, `exited ${exitAfterRelease} ms after the last request could finish (the 10 s deadline must not be waited out)`);
    const [stopped] = cli.logsWith('stopped');
    assert.equal(stopped?.['cutOff'], 0);
    t.diagnostic(`refused ${refusedAfter} ms after SIGTERM; exited ${exitAfterRelease} ms after the upstream answered`);
  });

  test('SIGINT drains the same way', { timeout: 60_000 }, async (t) => {
    gate = deferred();
    const { cli, url, defer } = await startCli(t, '10s');
    defer(() => gate.resolve());
    const receivedBefore = slowUp.received;
    const slow = httpGet(`${url}/slow/sigint`, { timeoutMs: 30_000 });
    slow.catch(() => {});
    await slowUp.waitForRequests(receivedBefore + 1);
    cli.child.kill('SIGINT');
    await cli.waitForLogs('draining: finishing in-flight requests', 1, 10_000);
    gate.resolve();
    const res = await withTimeout(slow, 20_000, 'the in-flight request');
    assert.equal(res.status, 200);
    assert.equal(res.headers['connection'], 'close');
    assert.deepEqual(await cli.waitForExit(20_000), { code: 0, signal: null });
  });

  for (const [route, what] of [
    ['hang', 'waits for a response head that never comes'],
    ['trickle', 'streams a body that never ends'],
  ] as const) {
    test(`shutdown deadline: a request that ${what} is cut off at timeouts.shutdown and the process exits 0`, { timeout: 60_000 }, async (t) => {
      const { cli, url } = await startCli(t, '1s');
      const upstream = route === 'hang' ? hangUp : trickleUp;
      const receivedBefore = upstream.received;
      const outcome = httpGet(`${url}/${route}/x`, { timeoutMs: 30_000 }).then(
        (res) => ({ ok: true as const, res }),
        (err: NodeJS.ErrnoException) => ({ ok: false as const, err }),
      );
      await upstream.waitForRequests(receivedBefore + 1);
      if (route === 'trickle') await sleep(100); // let the half body reach the client

      const signalledAt = Date.now();
      cli.child.kill('SIGTERM');
      const status = await cli.waitForExit(1_000 + 10_000);
      const exitAfter = cli.exitedAt - signalledAt;
      assert.deepEqual(status, { code: 0, signal: null }, `stderr: ${cli.stderr}`);
      assert.ok(exitAfter >= 900, `waited for the deadline before cutting off (exited after ${exitAfter} ms)`);
      assert.ok(exitAfter < 1_000 + 8_000, `exited ${exitAfter} ms after SIGTERM`);
      assert.equal(cli.logsWith('stopped')[0]?.['cutOff'], 1);

      const result = await withTimeout(outcome, 10_000, 'the cut-off request to settle');
      assert.equal(result.ok, false, 'the cut-off request fails on the client side instead of looking complete');
      t.diagnostic(`exited ${exitAfter} ms after SIGTERM; client saw: ${result.ok ? 'a response' : (result.err.code ?? result.err.message)}`);
    });
  }

  // The operator's "stop now" (a second Ctrl-C) is process.exit(1). With user plugins in service
  // the CPU watchdog's loop runs on one of isolated-vm's threads, and exiting under it crashed
  // the process every time (exit 139 and a core dump) until isolated-vm.ts disposed every isolate
  // in the 'exit' event.
  test('a second SIGTERM while draining exits at once with 1, with user plugins in service', { timeout: 60_000 }, async (t) => {
    const defer = cleanupStack(t);
    const dir = await makeConfigDir('project');
    defer(() => dir.remove());
    const plugin = path.relative(dir.dir, path.join(REPO_ROOT, 'examples/plugins/add-header.ts'));
    const config = { server: { timeouts: { shutdown: '30s' } }, plugins: { tag: { use: plugin, options: { name: 'x-tag', value: 'on' } } }, middleware: ['tag'], routes: routes() };
    const file = await dir.write('gateway.config.ts', `export default ${JSON.stringify(config)};\n`);
    const cli = new CliProcess(['start', '--config', file, '--port', '0', '--host', '127.0.0.1']);
    defer(() => cli.kill());
    const url = await cli.listening();
    assert.equal((await httpGet(`${url}/fast/x`)).body, 'fast');

    const receivedBefore = hangUp.received;
    const hung = httpGet(`${url}/hang/x`, { timeoutMs: 30_000 });
    hung.catch(() => {});
    await hangUp.waitForRequests(receivedBefore + 1);
    cli.child.kill('SIGTERM');
    await cli.waitForLogs('draining: finishing in-flight requests', 1, 10_000);
    // A repeat within a second counts as the same request to stop (main.ts): wait past it.
    await sleep(1_200);
    cli.child.kill('SIGTERM');
    assert.deepEqual(await cli.waitForExit(20_000), { code: 1, signal: null }, `stderr: ${cli.stderr}`);
    assert.equal(cli.logsWith('SIGTERM again: exiting without waiting').length, 1);
  });

  test('readiness: /readyz answers 503 with connection: close on a connection that was busy when the drain started', { timeout: 60_000 }, async (t) => {
    const defer = cleanupStack(t);
    gate = deferred();
    defer(() => gate.resolve());
    const dir = await makeConfigDir('os');
    defer(() => dir.remove());
    const file = await dir.write('gateway.config.ts', configSource({ sdk: false, server: { timeouts: { shutdown: '10s' } }, routes: routes() }));
    const running = await startGateway({ configPath: file, port: 0, host: '127.0.0.1', logger: silentLogger() });
    defer(() => withTimeout(running.stop(), 30_000, 'running.stop()'));
    const port = running.address.port;

    // A: a slow request keeps the drain waiting.
    const receivedBefore = slowUp.received;
    const slow = httpGet(`${running.url}/slow/a`, { timeoutMs: 30_000 });
    slow.catch(() => {});
    await slowUp.waitForRequests(receivedBefore + 1);

    // C: an idle keep-alive connection (one finished request) — closed at drain start.
    const idle = await RawConnection.open(port);
    defer(() => idle.destroy());
    idle.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal((await idle.readResponse()).status, 200);

    // B: a keep-alive connection that is *busy*: /readyz answered 200, then half of the next
    // request head is sent. Node does not count a connection with a request in progress as idle.
    const busy = await RawConnection.open(port);
    defer(() => busy.destroy());
    busy.write('GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const ready = await busy.readResponse();
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { status: 'ready' });
    assert.notEqual(ready.headers['connection']?.toLowerCase(), 'close');
    busy.write('GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await sleep(200); // same process: the server has read those bytes long before this fires

    const stopping = running.stop();
    await withTimeout(idle.closed, 5_000, 'the idle keep-alive connection to be closed at drain start');
    assert.equal(busy.isClosed, false, 'the busy connection survives the drain start');

    busy.write('\r\n');
    const draining = await busy.readResponse();
    assert.equal(draining.status, 503);
    assert.deepEqual(JSON.parse(draining.body), { status: 'draining' });
    assert.equal(draining.headers['connection']?.toLowerCase(), 'close');
    await withTimeout(busy.closed, 5_000, 'the connection to close after the 503');

    assert.equal(await probeConnect(port), 'refused', 'no new connections while draining');
    gate.resolve();
    const res = await withTimeout(slow, 20_000, 'the slow request');
    assert.equal(res.status, 200);
    assert.equal(res.headers['connection'], 'close');
    assert.equal(res.body, SLOW_BODY);
    assert.equal(await withTimeout(stopping, 20_000, 'stop()'), 0, 'nothing cut off');
  });

  test('readiness via the Gateway API: startDraining() turns /readyz 503, liveness stays 200', { timeout: 30_000 }, async (t) => {
    const defer = cleanupStack(t);
    const dir = await makeConfigDir('os');
    defer(() => dir.remove());
    const file = await dir.write('gateway.config.ts', configSource({ sdk: false, routes: routes() }));
    const running = await startGateway({ configPath: file, port: 0, host: '127.0.0.1', logger: silentLogger() });
    defer(() => withTimeout(running.stop(), 30_000, 'running.stop()'));
    const { gateway } = running;

    const before = await gateway.request('/readyz');
    assert.equal(before.status, 200);
    assert.deepEqual(await before.json(), { status: 'ready' });

    gateway.startDraining();
    const readyz = await gateway.request('/readyz');
    assert.equal(readyz.status, 503);
    assert.deepEqual(await readyz.json(), { status: 'draining' });
    const healthz = await gateway.request('/healthz');
    assert.equal(healthz.status, 200);
    await healthz.body?.cancel();

    // Over the socket, responses while draining close their connection.
    const res = await httpGet(`${running.url}/fast/x`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'fast');
    assert.equal(res.headers['connection'], 'close');
    const overSocket = await httpGet(`${running.url}/readyz`);
    assert.equal(overSocket.status, 503);
  });
});
