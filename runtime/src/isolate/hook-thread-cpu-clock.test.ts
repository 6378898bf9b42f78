import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { CPU_CLOCK_ANSWERED, CPU_CLOCK_NS_BYTE_OFFSET, CPU_CLOCK_REQUESTED, startHookThreadCpuClock } from './hook-thread-cpu-clock.ts';

/** Ask the clock as the watchdog does, blocking this thread until it answers. */
function reader(buffer: SharedArrayBuffer): () => number {
  const cells = new Int32Array(buffer, 0, 3);
  const ns = new BigInt64Array(buffer, CPU_CLOCK_NS_BYTE_OFFSET, 1);
  return () => {
    const request = (Atomics.add(cells, CPU_CLOCK_REQUESTED, 1) + 1) | 0;
    Atomics.notify(cells, CPU_CLOCK_REQUESTED);
    const until = Date.now() + 10_000;
    for (let answered = Atomics.load(cells, CPU_CLOCK_ANSWERED); answered !== request; answered = Atomics.load(cells, CPU_CLOCK_ANSWERED)) {
      assert.ok(Date.now() < until, 'the clock answers');
      Atomics.wait(cells, CPU_CLOCK_ANSWERED, answered, 100);
    }
    return Number(Atomics.load(ns, 0)) / 1e6;
  };
}

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

describe('hook thread CPU clock', { skip: process.platform !== 'linux' && 'it reads /proc' }, () => {
  it('counts the time the thread that started it spends on CPU, not the time it is held off it', async () => {
    const read = reader(await startHookThreadCpuClock(() => assert.fail('the reader ended')));
    const before = read();
    const spinning = process.threadCpuUsage();
    while (cpuMs(process.threadCpuUsage(spinning)) < 60) {
      // spin: 60 ms of this thread's CPU, however long that takes on a busy machine
    }
    const spun = read() - before;
    assert.ok(spun >= 55 && spun < 60 + 30, `counted ${spun} ms for 60 ms of CPU`);
    const blocked = read();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
    const whileBlocked = read() - blocked;
    assert.ok(whileBlocked < 20, `counted ${whileBlocked} ms while blocked for 150 ms`);
  });

  it('does not hold the process open, and a process that exits while the reader waits exits cleanly', () => {
    const clock = JSON.stringify(new URL('./hook-thread-cpu-clock.ts', import.meta.url).href);
    // Without the test runner's context, which would make the child a test file.
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    delete env['NODE_OPTIONS'];
    const run = (script: string) => spawnSync(process.execPath, ['--input-type=module', '--eval', `import { startHookThreadCpuClock } from ${clock};\n${script}`], { encoding: 'utf8', env, timeout: 30_000 });
    const ended = run(`await startHookThreadCpuClock(() => {}); console.log('started');`);
    assert.equal(ended.stdout.trim(), 'started', ended.stderr);
    assert.equal(ended.status, 0, `ended on its own: ${ended.signal ?? ended.status} ${ended.stderr}`);
    const exited = run(`setInterval(() => {}, 1_000); await startHookThreadCpuClock(() => {}); process.exit(7);`);
    assert.equal(exited.status, 7, `process.exit: ${exited.signal ?? exited.status} ${exited.stderr}`);
  });
});
