/** The process that started this one, read before anything could have outlived it. */
const PARENT_AT_START = process.ppid;
/** How often a process started by npm checks that its parent is still there. */
const PARENT_POLL_MS = 250;

/**
 * npm (npx, npm exec, npm start and other scripts) runs its command through `sh -c` and passes
 * SIGTERM and SIGINT on to that shell only. dash, /bin/sh on Debian and Ubuntu, does not exec its
 * command: it dies of the signal without passing it on, npm exits after it, and a gateway went on
 * serving with nothing left to stop it. The shell's exit is the only trace of the signal that
 * reaches the gateway, so `stop` is called as for SIGTERM. Only under npm, which sets
 * npm_lifecycle_event: elsewhere a parent may exit on purpose (`nohup isogate start &` in a
 * script) and the gateway must keep serving.
 */
export function onNpmParentExit(stop: (parentPid: number) => void): void {
  if (process.env['npm_lifecycle_event'] === undefined) return;
  const poll = setInterval(() => {
    if (process.ppid === PARENT_AT_START) return;
    clearInterval(poll);
    stop(PARENT_AT_START);
  }, PARENT_POLL_MS);
  poll.unref();
}
