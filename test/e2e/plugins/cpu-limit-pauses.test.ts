import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupStack } from '../lifecycle/helpers/cleanup.ts';
import { CliProcess, killAllChildren } from '../lifecycle/helpers/cli.ts';
import { makeConfigDir } from '../lifecycle/helpers/config-dir.ts';
import { httpGet } from '../lifecycle/helpers/http-client.ts';
import { startUpstream, type TestUpstream } from '../lifecycle/helpers/upstream.ts';
import { sleep } from '../lifecycle/helpers/wait.ts';

// A plugin's `cpuMs` is the CPU time its hook uses. Pausing the whole gateway process while a hook
// runs (SIGSTOP here; a GC, CPU contention or cgroup throttling in production) must not count
// against it, and an endless loop must still be stopped.
const cpuWork = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/cpu-work.ts');
const CPU_MS = 20;
const WORK_MS = 4;
const PAUSE_MS = 60;

/** SIGSTOP/SIGCONT `pid` over and over (60 ms stopped, 10-40 ms running) until stopped. */
function pauseRepeatedly(pid: number): { pauses: () => number; stop: () => Promise<void> } {
  let running = true;
  let pauses = 0;
  const loop = (async () => {
    while (running) {
      process.kill(pid, 'SIGSTOP');
      pauses++;
      await sleep(PAUSE_MS);
      process.kill(pid, 'SIGCONT');
      await sleep(10 + Math.random() * 30);
    }
  })();
  return {
    pauses: () => pauses,
    stop: async () => {
      running = false;
      await loop.catch(() => {});
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    },
  };
}

describe('cpuMs under process pauses', () => {
  let upstream: TestUpstream;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(String(req.headers['x-calls']));
    });
  });

  after(async () => {
    killAllChildren();
    await upstream?.close();
  });

  it('a hook doing a few ms of work is never stopped while the process is paused again and again; an endless loop still is', { timeout: 120_000 }, async (t) => {
    const defer = cleanupStack(t);
    const dir = await makeConfigDir('os');
    defer(() => dir.remove());
    const config = await dir.write(
      'gateway.config.ts',
      `export default ${JSON.stringify({
        plugins: { work: { use: cpuWork, limits: { cpuMs: CPU_MS, wallMs: 10_000, memoryMb: 32 } } },
        routes: [{ path: '/work/*', upstream: upstream.url, middleware: ['work'] }],
      })};\n`,
    );
    const cli = new CliProcess(['start', '--config', config, '--port', '0', '--host', '127.0.0.1']);
    defer(() => cli.kill());
    const url = await cli.listening();
    // The process that runs the plugins is the one that logged it (pino's pid), whatever starts it.
    const [listening] = cli.logsWith('gateway listening');
    const pid = Number(listening!['pid'] ?? cli.pid);

    const pauser = pauseRepeatedly(pid);
    defer(() => pauser.stop());
    const statuses = new Map<number, number>();
    let last = 0;
    const work = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const res = await httpGet(`${url}/work/x`, { headers: { 'x-work-ms': String(WORK_MS) }, timeoutMs: 30_000 });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) last = Math.max(last, Number(res.body));
      }
    };
    // 4 clients x 50 requests: about 200 x 4 ms of hook time, with a pause every 70-100 ms.
    await Promise.all([work(50), work(50), work(50), work(50)]);
    assert.ok(pauser.pauses() >= 10, `only ${pauser.pauses()} pauses happened`);
    assert.deepEqual(Object.fromEntries(statuses), { 200: 200 }, `statuses over ${pauser.pauses()} pauses`);
    assert.equal(last, 200, 'one isolate served every call (its state was never lost)');
    assert.deepEqual(cli.logs.filter((l) => typeof l['kind'] === 'string').map((l) => l['error']), [], 'no plugin failure was logged');

    // Still pausing: an endless loop is stopped by its CPU limit, and a fresh isolate serves the next call.
    const started = Date.now();
    const runaway = await httpGet(`${url}/work/x`, { headers: { 'x-mode': 'loop' }, timeoutMs: 30_000 });
    const took = Date.now() - started;
    assert.equal(runaway.status, 500);
    assert.equal((JSON.parse(runaway.body) as { error: { code: string } }).error.code, 'ISOGATE_ERR_PLUGIN_FAILED');
    // Its limit plus pauses and ticks; generous for a loaded machine.
    assert.ok(took < 10_000, `the loop was stopped after ${took} ms`);
    assert.match(String(cli.logs.find((l) => l['kind'] === 'timeout')?.['error']), /CPU limit/);
    const recovered = await httpGet(`${url}/work/x`, { timeoutMs: 30_000 });
    assert.equal(recovered.status, 200);
    assert.equal(recovered.body, '1', 'a fresh isolate');

    await pauser.stop();
    cli.child.kill('SIGTERM');
    const exit = await cli.waitForExit(30_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM; stderr: ${cli.stderr}`);
  });
});
