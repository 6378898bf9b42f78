import v8 from 'node:v8';
import vm from 'node:vm';
import { isMainThread } from 'node:worker_threads';
import addon from 'isolated-vm';

/**
 * isolated-vm, as the runtime loads it: every module of the runtime imports it from here (an eslint
 * rule says so), so that loading it also makes the process's natural exit safe.
 *
 * The crash this prevents (isolated-vm 7 on Node 24; seen here as exit 134, once in 40-60 runs
 * of test/e2e/plugins/hostile-plugins.test.ts and once at the end of a CI run): when the event loop
 * empties, Node runs the environment's cleanup hooks, and isolated-vm's hook releases its state
 * for the main isolate. Then Node disposes the main isolate, and V8's teardown finishes any
 * incremental marking still in progress with one last full GC (CppHeap's detach). That GC finds
 * the isolated-vm objects that became garbage since the previous one (an ExternalCopy, a
 * Reference, a Context…) and runs their weak callbacks, which look that state up again and abort:
 * `ivm::IsolateEnvironment::GetCurrent(): Assertion 'environment != nullptr' failed`. Whether it
 * happens depends on whether marking was under way at that moment, hence the rarity.
 *
 * A full GC in the process's 'exit' event (before the cleanup hooks) finishes any marking and
 * runs those callbacks while isolated-vm's state is still there, and incremental marking is then
 * switched off: the teardown has no marking to finish and collects nothing. process.exit() is not
 * the way out instead: it skips the cleanup hook that waits for isolates still being torn down on
 * isolated-vm's threads (exit-once-idle.ts).
 * `runtime/src/isolate/isolated-vm.test.ts` reproduces the crash deterministically
 * (--stress-incremental-marking) and checks this.
 */
function finishGcBeforeTeardown(): void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  let gc: () => void;
  if (typeof exposed === 'function') {
    gc = exposed;
  } else {
    // The gc function V8 installs in contexts created while --expose-gc is set: take one from a
    // throwaway context, then unset the flag so that no other context (a plugin's) gets one.
    v8.setFlagsFromString('--expose-gc');
    try {
      gc = vm.runInNewContext('gc') as () => void;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  // Registered when isolated-vm is first loaded, so it runs before any 'exit' listener added
  // later. Such a listener may still make garbage and grow the heap: with incremental marking off
  // from here on, no marking can be under way at teardown, so no GC runs there at all.
  process.once('exit', () => {
    gc();
    // V8's flags are the process's: a worker thread leaving must not change the main thread's GC.
    if (isMainThread) v8.setFlagsFromString('--no-incremental-marking');
  });
}

/**
 * Every isolate made through this module that was not yet seen disposed (pruned as the set
 * grows), so that an exit can stop them all first. Held strongly: an isolate whose last handle
 * was dropped without dispose() may still be running code on isolated-vm's threads, and
 * process.exit() would hang on it; the runtime disposes every isolate it drops, so nothing is
 * kept that would otherwise be freed.
 */
const liveIsolates = new Set<addon.Isolate>();
let pruneAt = 64;

class TrackedIsolate extends addon.Isolate {
  constructor(options?: addon.IsolateOptions) {
    super(options);
    liveIsolates.add(this);
    if (liveIsolates.size >= pruneAt) {
      for (const isolate of liveIsolates) if (isolate.isDisposed) liveIsolates.delete(isolate);
      pruneAt = Math.max(64, liveIsolates.size * 2);
    }
  }
}

/**
 * Dispose every isolate still alive; one running code on isolated-vm's threads (the CPU
 * watchdog's loop, a plugin's async code) is terminated. Returns how many were disposed.
 *
 * Run in the process's 'exit' event, because process.exit() (the second-signal path of `isogate
 * start`, exit-once-idle's fallback) does not survive code still running on isolated-vm's pool
 * threads: with the CPU watchdog's loop running it crashed every time (exit 139, a pool thread
 * calling into the disposed V8 platform), and with a plugin's async code spinning it never
 * returned at all. Disposed first, the isolates' code is terminated before Node disposes the
 * platform, and both exit with their code (`fixtures/process-exit-with-isolates.ts`). At a
 * natural exit the isolates are idle (one running code holds the event loop open) and disposing
 * them changes nothing.
 */
function disposeAllIsolates(): number {
  let disposed = 0;
  for (const isolate of liveIsolates) {
    if (!isolate.isDisposed) {
      try {
        isolate.dispose();
        disposed++;
      } catch {
        // disposed meanwhile, by its own limit
      }
    }
  }
  liveIsolates.clear();
  return disposed;
}

/**
 * After process.exit() has disposed isolates that were running code, how long the main thread
 * waits for isolated-vm's threads to finish terminating and tearing them down (a natural exit
 * waits for that in isolated-vm's cleanup hook, which process.exit() skips). Four isolates with
 * ~40 MB heaps, two spinning, the watchdog on: without a wait 2 exits in 120 still crashed; with
 * 10 or 50 ms, none in 60 each.
 */
const EXIT_TEARDOWN_GRACE_MS = 50;
let exitingNaturally = false;
process.on('beforeExit', () => {
  exitingNaturally = true;
  // A 'beforeExit' listener may start more work (pino's transport does): the loop goes on, this
  // immediate runs, and a later exit is not known to be natural any more. On a natural exit it
  // never runs (unref'd).
  setImmediate(() => {
    exitingNaturally = false;
  }).unref();
});
// Registered before the GC's listener: the isolates are gone before the GC runs.
process.once('exit', () => {
  const disposed = disposeAllIsolates();
  if (disposed > 0 && !exitingNaturally) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, EXIT_TEARDOWN_GRACE_MS);
});
finishGcBeforeTeardown();

// The addon keeps its classes on its exports' prototype, read-only, and its exports object is not
// extensible: the runtime's ivm inherits everything from it and has its own Isolate.
const ivm = Object.create(addon, { Isolate: { value: TrackedIsolate, enumerable: true } }) as typeof addon;
// The addon's types, under the same name (a type-only namespace merges with the const).
// eslint-disable-next-line @typescript-eslint/no-namespace
declare namespace ivm {
  export type Isolate = addon.Isolate;
  export type IsolateOptions = addon.IsolateOptions;
  export type Context = addon.Context;
  export type Reference<T = unknown> = addon.Reference<T>;
  export type ExternalCopy<T = unknown> = addon.ExternalCopy<T>;
  export type Callback<T extends (...args: never[]) => unknown = (...args: never[]) => unknown> = addon.Callback<T>;
}

export default ivm;
