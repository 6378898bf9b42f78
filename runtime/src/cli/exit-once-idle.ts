import cluster from 'node:cluster';

/**
 * How long a finished command may wait for its event loop to empty before it exits anyway. What
 * legitimately remains is a log backlog for a slow stdout (a stalled one never empties); isolate
 * teardown finishes within milliseconds of dispose(), long before this.
 */
const IDLE_EXIT_GRACE_MS = 2_000;

/**
 * End the process with `code` by letting its event loop run empty, not with process.exit().
 *
 * process.exit() skips Node's environment cleanup hooks and disposes the V8 platform at once.
 * isolated-vm's cleanup hook is what waits for disposed isolates to finish tearing down, and that
 * teardown can still be running on isolated-vm's own threads: an isolate killed by its memory
 * limit is destroyed there when its last task lets go of it. Exiting under it crashed (exit 139;
 * core: an isolated-vm pool thread in ~IsolateEnvironment calling into the disposed platform,
 * while the main thread was inside process.exit). A natural exit runs the hook, which joins that
 * teardown first. Anything that should not outlive the command must be closed before this.
 *
 * The fallback timer does not keep the process alive; it only ends a process that something
 * (a bug) still holds after the grace period, and names what holds it. That process.exit()
 * survives isolates still running code: isolated-vm.ts disposes them in the 'exit' event.
 */
export function exitOnceIdle(code: number): void {
  process.exitCode = code;
  // A cluster worker's channel to the primary would hold the loop open. cluster's own disconnect,
  // not process.disconnect(): a worker that loses its channel unasked calls process.exit(0).
  if (cluster.isWorker && process.connected) cluster.worker?.disconnect();
  setTimeout(() => {
    process.stderr.write(`isogate: still running ${IDLE_EXIT_GRACE_MS} ms after finishing (held by ${process.getActiveResourcesInfo().join(', ') || 'nothing'}); exiting\n`);
    process.exit(code);
  }, IDLE_EXIT_GRACE_MS).unref();
}
