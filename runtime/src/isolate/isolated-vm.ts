import v8 from 'node:v8';
import vm from 'node:vm';
import { isMainThread } from 'node:worker_threads';
import ivm from 'isolated-vm';

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

finishGcBeforeTeardown();

export default ivm;
