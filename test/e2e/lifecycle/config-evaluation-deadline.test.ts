import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cleanupStack } from './helpers/cleanup.ts';
import { CliProcess, killAllChildren, runCli } from './helpers/cli.ts';
import { configSource, makeConfigDir, type ConfigDir } from './helpers/config-dir.ts';
import { httpGet, probeConnect } from './helpers/http-client.ts';
import { startHoldingUpstream, type HoldingUpstream } from './helpers/upstream.ts';
import { sleep, waitFor, withTimeout } from './helpers/wait.ts';

/**
 * A config whose top level never finishes. It says so on stderr first, so that the tests probe the
 * gateway while the loop is known to be running, not before it started.
 */
const LOOP_STARTED = 'config-loop-started';
const loopingConfig = (routes: { path: string; upstream: string }[]) =>
  `process.stderr.write(${JSON.stringify(`${LOOP_STARTED}\n`)});\nwhile (true) {}\nexport default ${JSON.stringify({ routes })};\n`;

const DEADLINE_MESSAGE = /evaluating (\S+) did not finish within 10 s \(an endless loop at its top level\?\)/;

describe('a config that never finishes evaluating', () => {
  let upstream: HoldingUpstream;
  let dir: ConfigDir;

  before(async () => {
    upstream = await startHoldingUpstream();
    dir = await makeConfigDir('os');
  });

  after(async () => {
    killAllChildren();
    upstream?.release();
    await upstream?.close();
    await dir?.remove();
  });

  test('check: exits 1 naming the file and the deadline', { timeout: 90_000 }, async () => {
    const file = await dir.write('loop-check.config.ts', loopingConfig([{ path: '/v/*', upstream: upstream.url }]));
    const res = await runCli(['check', '--config', file], { timeoutMs: 60_000 });
    assert.equal(res.code, 1, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
    assert.match(res.stderr, new RegExp(`invalid config ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.equal(res.stderr.match(DEADLINE_MESSAGE)?.[1], 'loop-check.config.ts');
  });

  test('start: exits 1 naming the file and the deadline, and serves nothing', { timeout: 90_000 }, async () => {
    const file = await dir.write('loop-start.config.ts', loopingConfig([{ path: '/v/*', upstream: upstream.url }]));
    const res = await runCli(['start', '--config', file, '--port', '0', '--host', '127.0.0.1'], { timeoutMs: 60_000 });
    assert.equal(res.code, 1, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
    assert.equal(res.stderr.match(DEADLINE_MESSAGE)?.[1], 'loop-start.config.ts');
    assert.doesNotMatch(res.stdout, /gateway listening/);
  });

  test('start --watch: a looping save is rejected while requests and /healthz keep answering; a fixed save reloads; SIGTERM during a looping save drains', { timeout: 120_000 }, async (t) => {
    const defer = cleanupStack(t);
    const route = (prefix: string) => ({ path: `${prefix}/*`, upstream: upstream.url });
    const file = await dir.write('gateway.config.ts', configSource({ sdk: false, routes: [route('/v')] }));
    const cli = new CliProcess(['start', '--watch', '--config', file, '--port', '0', '--host', '127.0.0.1']);
    defer(() => cli.kill());
    const url = await cli.listening();
    assert.equal((await httpGet(`${url}/v/x`)).body, 'up');

    const rejections = () => cli.logs.filter((l) => l['msg'] !== undefined && String(l['msg']).startsWith('config reload rejected'));
    const loopsStarted = () => cli.stderr.split(LOOP_STARTED).length - 1;

    // 1. A looping save: the gateway keeps answering while the loop runs, then rejects the reload.
    await dir.write('gateway.config.ts', loopingConfig([route('/never')]));
    await waitFor(() => loopsStarted() === 1, { timeoutMs: 20_000, message: 'the looping config to start evaluating' });
    let answeredDuringLoop = 0;
    const giveUpAt = Date.now() + 60_000;
    while (rejections().length === 0) {
      assert.ok(Date.now() < giveUpAt, 'the looping reload is rejected within 60 s');
      assert.ok(cli.running, `the gateway is still running\nstderr: ${cli.stderr}`);
      const [proxied, health] = await Promise.all([httpGet(`${url}/v/x`, { timeoutMs: 5_000 }), httpGet(`${url}/healthz`, { timeoutMs: 5_000 })]);
      assert.equal(proxied.status, 200);
      assert.equal(proxied.body, 'up');
      assert.equal(health.status, 200);
      answeredDuringLoop++;
      await sleep(50);
    }
    assert.ok(answeredDuringLoop >= 1, 'requests were answered while the config was looping');
    const [rejected] = rejections();
    const issues = rejected!['issues'] as { path: string; message: string }[];
    assert.equal(issues[0]?.message.match(DEADLINE_MESSAGE)?.[1], 'gateway.config.ts', JSON.stringify(rejected));
    assert.equal((await httpGet(`${url}/never/x`)).status, 404, 'the looping config was not applied');
    t.diagnostic(`${answeredDuringLoop} request pairs answered while the config looped`);

    // 2. Restoring the file reloads (with a new route, to see that it took effect).
    const reloadedBefore = cli.logsWith('config reloaded').length;
    await dir.write('gateway.config.ts', configSource({ sdk: false, routes: [route('/v'), route('/w')] }));
    await cli.waitForLogs('config reloaded', reloadedBefore + 1, 30_000);
    assert.equal((await httpGet(`${url}/w/x`)).body, 'up');

    // 3. SIGTERM while another looping save is evaluating: an in-flight request still finishes, the
    // process exits 0 without waiting for the loop's deadline, and its port is freed.
    const slow = httpGet(`${url}/v/slow`, { timeoutMs: 30_000 });
    await withTimeout(upstream.slowArrived, 10_000, 'the slow request to reach the upstream');
    await dir.write('gateway.config.ts', loopingConfig([route('/never')]));
    await waitFor(() => loopsStarted() === 2, { timeoutMs: 20_000, message: 'the second looping config to start evaluating' });
    cli.child.kill('SIGTERM');
    await cli.waitForLogs('draining: finishing in-flight requests', 1, 10_000);
    upstream.release();
    assert.equal((await slow).body, 'slow');
    assert.deepEqual(await cli.waitForExit(30_000), { code: 0, signal: null });
    assert.equal(cli.logsWith('config reload abandoned: the gateway is shutting down').length, 1, cli.stdout);
    assert.equal(rejections().length, 1, 'the second loop was abandoned, not waited for');
    assert.equal(await probeConnect(Number(new URL(url).port)), 'refused');
  });
});
