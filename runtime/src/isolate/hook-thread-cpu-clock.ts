import { readFileSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/**
 * The shared buffer's layout. Int32 cells: [0] requests made (the watchdog adds one to ask for a
 * reading), [1] the request last answered, [2] 1 once the reader is gone (judge by wall time).
 * BigInt64 at byte 16: the hook thread's CPU time in ns, taken after the answered request was made.
 */
export const CPU_CLOCK_REQUESTED = 0;
export const CPU_CLOCK_ANSWERED = 1;
export const CPU_CLOCK_FAILED = 2;
export const CPU_CLOCK_NS_BYTE_OFFSET = 16;
const CPU_CLOCK_BYTES = 24;

/** How long the reader may take to start and answer once; past it, limits are judged by wall time. */
const START_DEADLINE_MS = 10_000;

/** What the reader thread is given. */
export interface CpuClockWorkerData {
  readonly buffer: SharedArrayBuffer;
  /** `/proc/<pid>/task/<tid>/schedstat` of the hook thread. */
  readonly file: string;
}

/**
 * A clock of the CPU time of the calling thread (the one that runs plugin hooks: `applySync`
 * runs the plugin isolate's code on its caller's thread), readable from any thread through the
 * returned buffer, including while that thread is busy in a hook.
 *
 * Why a thread of its own: the hook thread cannot answer while a hook runs, the watchdog's isolate
 * cannot read files, and isolated-vm's `isolate.cpuTime` counts wall time for the call in progress
 * (its CPU timer only takes a thread-CPU reading when a call ends; in between it adds steady-clock
 * time), and with the prebuilt binary measured here it counted a 300 ms call that blocked without
 * using CPU as 300 ms even afterwards. Linux's schedstat gives the thread's on-CPU time in ns,
 * and a sleeping thread that reads it on request costs nothing between requests.
 *
 * The reader is unref'd, so it never holds the process open, and it blocks in `Atomics.wait`,
 * which the thread's termination at exit interrupts. It never loads isolated-vm.
 *
 * Rejects (with the reason) where there is no such clock, e.g. not Linux; the caller then judges
 * limits by wall time. `onLost` is called if the reader ends later (the buffer then says so too).
 */
export async function startHookThreadCpuClock(onLost: (reason: string) => void): Promise<SharedArrayBuffer> {
  // "<pid>/task/<tid>": the thread running this, which need not be the main thread.
  const file = `/proc/${readlinkSync('/proc/thread-self')}/schedstat`;
  readFileSync(file, 'latin1');
  const buffer = new SharedArrayBuffer(CPU_CLOCK_BYTES);
  const cells = new Int32Array(buffer);
  const data: CpuClockWorkerData = { buffer, file };
  // None of the process's own flags: the reader needs none, and some (--input-type) fail a thread started from a file.
  const worker = new Worker(new URL('./hook-thread-cpu-clock-worker.ts', import.meta.url), { workerData: data, name: 'isogate hook cpu clock', execArgv: [] });
  let started = false;
  const lose = (reason: string) => {
    Atomics.store(cells, CPU_CLOCK_FAILED, 1);
    Atomics.notify(cells, CPU_CLOCK_ANSWERED);
    if (started) onLost(reason);
  };
  worker.on('error', (err: Error) => lose(`the CPU clock reader failed: ${err.message}`));
  worker.on('exit', (code) => lose(`the CPU clock reader exited (code ${code})`));
  let timer: NodeJS.Timeout | undefined;
  try {
    // Held open only until its first answer, which proves it can read the file.
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the CPU clock reader exited (code ${code}) before it answered`)));
      timer = setTimeout(() => reject(new Error(`the CPU clock reader did not start within ${START_DEADLINE_MS / 1000} s`)), START_DEADLINE_MS);
    });
  } catch (err) {
    void worker.terminate();
    throw err;
  } finally {
    clearTimeout(timer);
    worker.unref();
  }
  started = true;
  return buffer;
}
