import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ivm from './isolated-vm.ts';
import { HookWatchdog, WATCHDOG_SCRIPTS, WATCHDOG_TICK_MS } from './hook-watchdog.ts';

/** An isolate with `f(mode)`: 'loop' never returns; 'sleep:<ms>' blocks without using CPU; anything else answers at once. */
function loopingIsolate(): { isolate: ivm.Isolate; f: ivm.Reference<(mode: string) => string> } {
  const isolate = new ivm.Isolate({ memoryLimit: 16 });
  const context = isolate.createContextSync();
  context.evalSync(`globalThis.f = (mode) => {
    if (mode === 'loop') { for (;;) {} }
    if (mode.startsWith('sleep:')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(mode.slice(6)));
    return 'ok:' + mode;
  }`);
  return { isolate, f: context.global.getSync('f', { reference: true }) as ivm.Reference<(mode: string) => string> };
}

describe('hook watchdog', () => {
  it('stops a synchronous call that runs past its limit, by disposing that isolate only, and reports it as stopped', async () => {
    const watchdog = HookWatchdog.shared();
    const looping = loopingIsolate();
    const healthy = loopingIsolate();
    const a = (await watchdog.watch(looping.isolate, 40))!;
    const b = (await watchdog.watch(healthy.isolate, 40))!;
    assert.ok(watchdog.covering, 'an epoch runs while isolates are watched');
    try {
      // Normal calls are never stopped, however many.
      for (let i = 0; i < 1000; i++) {
        const id = b.enter();
        assert.notEqual(id, 0);
        assert.equal(healthy.f.applySync(undefined, [String(i)]), `ok:${i}`);
        b.leave();
        assert.equal(b.stopped(id), false);
      }
      const id = a.enter();
      assert.notEqual(id, 0);
      const started = Date.now();
      assert.throws(() => looping.f.applySync(undefined, ['loop']), /disposed/);
      const took = Date.now() - started;
      a.leave();
      assert.ok(a.stopped(id), 'the call is recorded as stopped by the watchdog');
      assert.ok(looping.isolate.isDisposed);
      assert.ok(took >= 40, `stopped after ${took} ms, before its 40 ms limit`);
      // Limit, plus up to two ticks, plus scheduling slack on a loaded machine.
      assert.ok(took < 40 + 2 * WATCHDOG_TICK_MS + 1_000, `stopped after ${took} ms`);
      // The other isolate is untouched and still served.
      assert.equal(healthy.isolate.isDisposed, false);
      const next = b.enter();
      assert.equal(healthy.f.applySync(undefined, ['after']), 'ok:after');
      b.leave();
      assert.equal(b.stopped(next), false);
    } finally {
      a.release();
      b.release();
      healthy.isolate.dispose();
    }
  });

  it('measures CPU time, not wall time: a call that is held off the CPU for three times its limit is not stopped', { skip: process.platform !== 'linux' && 'the CPU clock reads /proc' }, async () => {
    const watchdog = HookWatchdog.shared();
    const held = loopingIsolate();
    const runaway = loopingIsolate();
    const a = (await watchdog.watch(held.isolate, 40))!;
    const b = (await watchdog.watch(runaway.isolate, 40))!;
    try {
      assert.equal(watchdog.measures, 'cpu');
      // Blocked in Atomics.wait, the hook thread uses no CPU: to the watchdog this is the same as
      // the whole process being paused (SIGSTOP, contention) while the hook runs.
      const id = a.enter();
      assert.notEqual(id, 0);
      const started = Date.now();
      assert.equal(held.f.applySync(undefined, ['sleep:120']), 'ok:sleep:120');
      assert.ok(Date.now() - started >= 120);
      a.leave();
      assert.equal(a.stopped(id), false);
      assert.equal(held.isolate.isDisposed, false);
      // A loop is still stopped, at its CPU limit.
      const loopId = b.enter();
      const cpu = process.threadCpuUsage();
      assert.throws(() => runaway.f.applySync(undefined, ['loop']), /disposed/);
      const used = process.threadCpuUsage(cpu);
      b.leave();
      assert.ok(b.stopped(loopId));
      const usedMs = (used.user + used.system) / 1000;
      assert.ok(usedMs >= 40 - 2, `stopped after ${usedMs} ms of CPU, before its 40 ms limit`);
      assert.ok(usedMs < 40 + 2 * WATCHDOG_TICK_MS + 1_000, `stopped after ${usedMs} ms of CPU`);
    } finally {
      a.release();
      b.release();
      held.isolate.dispose();
    }
  });

  it('does not cover calls while it installs an isolate (callers wait for the handover), and stops its loop when nothing is watched', async () => {
    const watchdog = HookWatchdog.shared();
    const first = loopingIsolate();
    const second = loopingIsolate();
    const a = (await watchdog.watch(first.isolate, 50))!;
    let b: Awaited<ReturnType<HookWatchdog['watch']>> = null;
    try {
      const installing = watchdog.watch(second.isolate, 50);
      // The install stops the loop (synchronously, a microtask after watch()) before it hands the
      // new isolate over; the loop cannot have restarted yet: its end is only reported on a later
      // turn of the event loop. (Waiting a macrotask here raced with a fast restart.)
      await Promise.resolve();
      await Promise.resolve();
      assert.equal(a.enter(), 0, 'no call id while the watchdog is between epochs');
      const covered = a.whenCovered();
      assert.ok(covered instanceof Promise, 'callers are told when the next epoch starts');
      await covered;
      assert.ok(watchdog.covering, 'covering once the handover has settled');
      assert.equal(a.whenCovered(), null, 'nothing to wait for while covering');
      b = (await installing)!;
      assert.ok(watchdog.covering);
      assert.notEqual(a.enter(), 0);
      a.leave();
      a.release();
      assert.ok(watchdog.covering, 'still watching the second isolate');
      b.release();
      // The loop stops once nothing is watched: a running loop would keep this test process alive.
      for (let i = 0; i < 100 && watchdog.covering; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(watchdog.covering, false);
    } finally {
      // Released even when an assertion failed, so a failure cannot hang the test process.
      a.release();
      b?.release();
    }
    first.isolate.dispose();
    second.isolate.dispose();
  });

  it("hands nothing to Node's isolate when it sets itself up (a function would leave a callback handle that aborts the process at exit)", () => {
    const isolate = new ivm.Isolate({ memoryLimit: 8 });
    try {
      const context = isolate.createContextSync();
      for (const script of WATCHDOG_SCRIPTS) assert.equal(context.evalSync(script), undefined, script.slice(0, 40));
      assert.equal(context.evalSync('typeof __watch'), 'function', 'the loop is installed');
    } finally {
      isolate.dispose();
    }
  });
});
