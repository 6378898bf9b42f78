import ivm from './isolated-vm.ts';
import type { Logger } from 'pino';
import { CPU_CLOCK_ANSWERED, CPU_CLOCK_FAILED, CPU_CLOCK_NS_BYTE_OFFSET, CPU_CLOCK_REQUESTED, startHookThreadCpuClock } from './hook-thread-cpu-clock.ts';

/** How often the watchdog looks at the calls in progress: a hook is stopped within its limit plus about two ticks. */
export const WATCHDOG_TICK_MS = 5;
/** Isolates watched at once (every plugin instance, and each version while a reload swaps it). Past this, calls use isolated-vm's timeout. */
const SLOTS = 1024;
/** Int32 cells before the slots: [0] the loop's control word (0 run, 1 stop), [1] slots in use (high-water mark). */
const HEADER = 2;
/**
 * Int32 cells per slot: the call in progress (0: none), the CPU limit in ms (0: not watched), the
 * call that was stopped (its id for its CPU limit, minus its id for its wall-clock one), the
 * wall-clock limit in ms (0: none), and the part of the call in progress (a shared plugin group's
 * runner counts it up as each member starts, with that member's limits: each part is judged from
 * its own start).
 */
const STRIDE = 5;
/** Offsets of a slot's cells that a shared group's runner writes. */
export const SLOT_CPU_LIMIT = 1;
export const SLOT_WALL_LIMIT = 3;
export const SLOT_PART = 4;

/**
 * Trusted code, run in the watchdog's own isolate on one of isolated-vm's pool threads. It
 * sleeps on the control word, so a stop request wakes it at once, and otherwise looks at every
 * slot each tick: a call id seen unchanged has been running since it was first seen, and once it
 * has used its limit the isolate is disposed (V8 terminates the running script on the host's
 * thread). The stopped call is recorded first so the host reports a timeout, not an out-of-memory.
 *
 * A slot may also carry a wall-clock limit (the plugin's wallMs, never below its CPU limit): a
 * call that has gone on that long is stopped too, whatever CPU it used. That one is what frees the
 * host's thread when it waits for the isolate's lock while a pool thread runs the plugin's async
 * code (using no CPU), and unlike the CPU limit it does count a pause of the whole process.
 *
 * What "used its limit" means: CPU time of the hook thread, read from the CPU clock
 * (hook-thread-cpu-clock.ts), so that a pause of the whole process (SIGSTOP, a GC elsewhere, CPU
 * contention, cgroup throttling) during a hook does not count against the plugin. The host still
 * only does two atomic stores per call, so there is no reading at the call's start: the baseline
 * is read the first time a call is still running a tick after it was seen, and CPU is counted
 * from there (a runaway is stopped at its limit plus one to two ticks; a call is never charged
 * for time it did not use). Wall time bounds one thread's CPU time, so the clock is not read again
 * until the call's wall time reaches the limit: calls shorter than a tick cost nothing, and a
 * runaway costs a reading a tick. Every watched call runs on the one hook thread, so one reading
 * serves all slots in a tick. Without the clock (not Linux, or its reader is gone), wall time.
 */
const LOOP = `globalThis.__watch = (sab, isolates, H, S, TICK, clockSab) => {
  const s = new Int32Array(sab);
  const last = new Int32Array(${SLOTS});
  const lastPart = new Int32Array(${SLOTS});
  const since = new Float64Array(${SLOTS});
  const base = new Float64Array(${SLOTS});
  let clock = clockSab ? new Int32Array(clockSab, 0, 3) : null;
  const clockNs = clockSab ? new BigInt64Array(clockSab, ${CPU_CLOCK_NS_BYTE_OFFSET}, 1) : null;
  // The hook thread's CPU time in ms; NaN: no answer within a tick (judge on the next); null: the reader is gone.
  const readCpu = () => {
    if (Atomics.load(clock, ${CPU_CLOCK_FAILED}) !== 0) return null;
    const request = (Atomics.add(clock, ${CPU_CLOCK_REQUESTED}, 1) + 1) | 0;
    Atomics.notify(clock, ${CPU_CLOCK_REQUESTED});
    const until = Date.now() + TICK;
    for (;;) {
      const answered = Atomics.load(clock, ${CPU_CLOCK_ANSWERED});
      if (answered === request) return Number(Atomics.load(clockNs, 0)) / 1e6;
      if (Atomics.load(clock, ${CPU_CLOCK_FAILED}) !== 0) return null;
      const left = until - Date.now();
      if (left <= 0) return NaN;
      Atomics.wait(clock, ${CPU_CLOCK_ANSWERED}, answered, left);
    }
  };
  let tickCpu;
  const spent = (i, limit, wall) => {
    if (clock !== null && (Number.isNaN(base[i]) || wall >= limit)) {
      if (tickCpu === undefined) tickCpu = readCpu();
      if (tickCpu === null) clock = null;
      else if (Number.isNaN(tickCpu)) return false;
      else if (Number.isNaN(base[i])) { base[i] = tickCpu; return false; }
      else return tickCpu - base[i] >= limit;
    }
    return clock === null && wall >= limit;
  };
  for (;;) {
    Atomics.wait(s, 0, 0, TICK);
    if (Atomics.load(s, 0) !== 0) return 'stopped';
    const now = Date.now();
    tickCpu = undefined;
    const used = Atomics.load(s, 1);
    for (let i = 0; i < used; i++) {
      const at = H + i * S;
      const id = Atomics.load(s, at);
      if (id === 0) { last[i] = 0; continue; }
      // Limits before the part: a group's runner starts a part before it stores that part's
      // limits, so new limits are only ever read with their own part (never judged against the
      // previous member's time).
      const limit = Atomics.load(s, at + 1);
      // The wall-clock limit catches a call that uses no CPU and never ends: the host's thread
      // waiting for the isolate while a pool thread runs the plugin's async code in it (code after
      // an await) and does not let go. CPU is judged first, so a runaway is reported as one.
      const wallLimit = Atomics.load(s, at + 3);
      const part = Atomics.load(s, at + 4);
      if (id !== last[i] || part !== lastPart[i]) { last[i] = id; lastPart[i] = part; since[i] = now; base[i] = NaN; continue; }
      if (limit === 0) continue;
      const overCpu = spent(i, limit, now - since[i]);
      const overWall = !overCpu && wallLimit !== 0 && now - since[i] >= wallLimit;
      if (!overCpu && !overWall) continue;
      // The call (or a group's member, its part) may have ended while its time was judged
      // (reading the clock waits): stop only the one still running. In the window left between this check and the stop, the call can
      // still end (the host then finds its isolate disposed at the next call and replaces it,
      // plugin-host.ts), or a next call can begin and be the one stopped (reported as a memory
      // kill, as an isolate disposed under a call is): rare, and never a call left unguarded.
      if (Atomics.load(s, at) !== id || Atomics.load(s, at + 4) !== part) continue;
      Atomics.store(s, at + 2, overWall ? -id : id);
      since[i] = Infinity;
      base[i] = Infinity;
      const isolate = isolates[i];
      try { if (isolate && !isolate.isDisposed) isolate.dispose(); } catch {}
    }
  }
};`;

/**
 * What the watchdog's isolate evaluates when it is created. Each ends in `void 0`: a script whose
 * completion value is a function hands Node's isolate an isolated-vm callback handle, and that
 * handle's weak callback aborted the process at exit (an assertion in isolated-vm, seen in core
 * dumps of test files that exited right after using the watchdog).
 */
export const WATCHDOG_SCRIPTS: readonly string[] = [`${LOOP}\n;void 0`, 'globalThis.__isolates = [];\nvoid 0'];

/**
 * What a slot's "stopped" cell says: a stop for the CPU limit (the call's id) or the wall-clock one
 * (minus its id), for the call `id` if given, else for whichever call it was; null for none.
 */
function stopReason(cell: number, id?: number): 'cpu' | 'wall' | null {
  if (cell === 0 || (id !== undefined && Math.abs(cell) !== id)) return null;
  return cell < 0 ? 'wall' : 'cpu';
}

/** A slot's limits; the CPU one is never 0 (0 marks a slot nobody watches). */
function storeLimits(cells: Int32Array, at: number, cpuMs: number, wallMs: number): void {
  Atomics.store(cells, at + SLOT_WALL_LIMIT, wallMs > 0 ? Math.max(1, Math.trunc(wallMs)) : 0);
  Atomics.store(cells, at + SLOT_CPU_LIMIT, Math.max(1, Math.trunc(cpuMs)));
}

/** Where the watchdog says, once, that limits are judged by wall time. */
export type WatchdogLogger = Pick<Logger, 'warn'>;

/** One watched isolate: the host brackets each synchronous hook call with enter/leave. */
export interface WatchedIsolate {
  /**
   * Mark a call as started and return its id, or 0 when the watchdog is not covering calls right
   * now (it is between epochs): the caller must then pass isolated-vm's own `timeout`.
   */
  enter(): number;
  /**
   * After `enter()` answered 0: a promise settled once calls are covered again, while the
   * watchdog is installing an isolate (a few ms); null when no handover is under way (the loop is
   * gone), and then the caller's own timeout must do. Waiting beats the fallback: isolated-vm's
   * timeout is wall time, so a pause of the process during such a call stopped a hook that had
   * used a fraction of its CPU limit.
   */
  whenCovered(): Promise<void> | null;
  leave(): void;
  /**
   * Judge the calls entered from now on by these limits (ms; wallMs 0: none) instead of the ones
   * given to `watch`: a shared plugin group's isolate runs members with different limits, and a
   * crossing that runs several members' hooks gets the largest of theirs (its runner then judges
   * each member's part by that member's own).
   */
  setLimits(cpuMs: number, wallMs: number): void;
  /**
   * The watchdog's cell table and this isolate's slot in it (SLOT_* offsets from `at`), for a
   * shared group's runner: it starts each member's part of a call with that member's limits.
   */
  slot(): { cells: SharedArrayBuffer; at: number };
  /** Whether the watchdog stopped the call with this id (the isolate is disposed). */
  stopped(id: number): boolean;
  /** Why it stopped it: its CPU limit, or its wall-clock limit (it waited that long for the isolate); null if it did not. */
  stoppedFor(id: number): 'cpu' | 'wall' | null;
  /** Why the watchdog last stopped a call into this isolate (and so disposed it), if it did. */
  lastStop(): 'cpu' | 'wall' | null;
  /** Stop watching (the isolate is being discarded); the slot is reused. */
  release(): void;
}

/**
 * The CPU-time limit of synchronous hook calls, for every plugin isolate in the process.
 *
 * Why not isolated-vm's per-call `timeout`: each timed call arms a timer on isolated-vm's timer
 * thread, which then wakes at every call's deadline — under load, one wake-up and two context
 * switches per hook call. Measured with one onRequest plugin, gateway pinned to one core: 68 µs
 * CPU per request with the per-call timeout, 56 µs without (the empty chain: 44 µs). Here the host
 * only does two atomic stores per call and one thread wakes every few milliseconds.
 *
 * The watchdog's isolate cannot be entered while its loop runs, so handing it another isolate
 * stops the loop (an "epoch"), installs the handle and starts the next epoch. Between epochs
 * `enter()` answers 0 and `whenCovered()` says when the next epoch has started: hook calls wait
 * for it (a few ms, only while a plugin isolate or a warm spare is being installed). Should the
 * loop be gone for good, calls fall back to isolated-vm's timeout: no call is unguarded.
 * A running loop keeps Node's event loop alive, so it only runs while an isolate is watched.
 *
 * The limit is CPU time where the kernel tells a thread's CPU time (Linux), wall time elsewhere:
 * see the loop above, and hook-thread-cpu-clock.ts for why a reader thread and not isolated-vm's
 * `cpuTime`. Which one applies is logged once, as a warning, when it is wall time.
 */
export class HookWatchdog {
  static #shared: HookWatchdog | null = null;

  /** The process's watchdog, created on first use. */
  static shared(): HookWatchdog {
    return (HookWatchdog.#shared ??= new HookWatchdog());
  }

  readonly #cells = new Int32Array(new SharedArrayBuffer((HEADER + SLOTS * STRIDE) * 4));
  readonly #free: number[] = [];
  #used = 0;
  #active = 0;
  #isolate: ivm.Isolate | null = null;
  #context: ivm.Context | null = null;
  #isolates: ivm.Reference<unknown[]> | null = null;
  #watch: ivm.Reference<(...args: unknown[]) => string> | null = null;
  /** The running epoch's loop, settled once it has stopped. */
  #epoch: Promise<unknown> | null = null;
  /** Whether calls are covered right now (an epoch was started and no stop was requested). */
  #covering = false;
  /** Watch/release requests, applied one at a time (each may stop and restart the loop). */
  #queue: Promise<unknown> = Promise.resolve();
  #nextCallId = 0;
  /** Settled when the install under way has restarted the loop; null when none is under way. */
  #handover: Promise<void> | null = null;
  /** The hook thread's CPU clock, started on first use; null once it is known not to be there. */
  #clock: Promise<SharedArrayBuffer | null> | null = null;
  #clockBuffer: SharedArrayBuffer | null = null;
  /** Why limits are judged by wall time, until it is logged. */
  #unreportedFallback: string | null = null;
  #logger: WatchdogLogger | null = null;

  /** Whether calls entering now are covered by the watchdog (exposed for tests). */
  get covering(): boolean {
    return this.#covering;
  }

  /** Isolates watched right now (exposed for tests): each holds a slot, and while any does the loop keeps the process alive. */
  get watching(): number {
    return this.#active;
  }

  /** What limits are measured in right now (exposed for tests): the hook thread's CPU time, or wall time. */
  get measures(): 'cpu' | 'wall' {
    return this.#clockBuffer ? 'cpu' : 'wall';
  }

  /**
   * Watch `isolate`: a synchronous call into it that runs longer than `limitMs` (CPU), or that has
   * gone on for `wallMs` of wall-clock time (0: no such limit), is stopped by
   * disposing it. Null (never a rejection) when every slot is taken or the watchdog cannot take
   * it: the caller then uses isolated-vm's timeout. `logger` hears, once per process, if limits
   * have to be judged by wall time.
   */
  watch(isolate: ivm.Isolate, limitMs: number, logger?: WatchdogLogger, wallMs = 0): Promise<WatchedIsolate | null> {
    if (logger) this.#logger ??= logger;
    this.#reportFallback();
    const run = this.#queue.then(() => this.#install(isolate, limitMs, wallMs));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #install(isolate: ivm.Isolate, limitMs: number, wallMs: number): Promise<WatchedIsolate | null> {
    const slot = this.#free.pop() ?? (this.#used < SLOTS ? this.#used++ : -1);
    if (slot < 0) return null;
    await (this.#clock ??= this.#startClock());
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#handover = promise;
    try {
      return await this.#handOver(isolate, slot, limitMs, wallMs);
    } finally {
      // Calls that waited for the handover run now: covered, or (the loop could not restart) on
      // their own timeout.
      this.#handover = null;
      resolve();
    }
  }

  /** Stop the loop, put `isolate` in `slot`, start the next epoch. */
  async #handOver(isolate: ivm.Isolate, slot: number, limitMs: number, wallMs: number): Promise<WatchedIsolate | null> {
    try {
      await this.#stop();
      this.#ensureIsolate().setSync(slot, isolate);
    } catch {
      // The watchdog could not take this isolate: its calls use isolated-vm's timeout instead.
      this.#free.push(slot);
      this.#start();
      return null;
    }
    const at = HEADER + slot * STRIDE;
    Atomics.store(this.#cells, at, 0);
    Atomics.store(this.#cells, at + 2, 0);
    storeLimits(this.#cells, at, limitMs, wallMs);
    Atomics.store(this.#cells, 1, this.#used);
    this.#active++;
    this.#start();
    return this.#handle(slot, at);
  }

  #handle(slot: number, at: number): WatchedIsolate {
    const cells = this.#cells;
    let released = false;
    let stoppedAtRelease = 0;
    return {
      enter: () => {
        if (!this.#covering) return 0;
        // Ids are never 0 and differ from one call to the next, which is all the loop compares.
        this.#nextCallId = (this.#nextCallId % 0x7fffffff) + 1;
        Atomics.store(cells, at, this.#nextCallId);
        return this.#nextCallId;
      },
      whenCovered: () => (this.#covering ? null : this.#handover),
      leave: () => {
        Atomics.store(cells, at, 0);
      },
      setLimits: (cpuMs, wallMs) => {
        if (!released) storeLimits(cells, at, cpuMs, wallMs);
      },
      slot: () => ({ cells: cells.buffer as SharedArrayBuffer, at }),
      stopped: (id) => stopReason(Atomics.load(cells, at + 2), id) !== null,
      stoppedFor: (id) => stopReason(Atomics.load(cells, at + 2), id),
      // Once released the slot may belong to another isolate: answer from what it held then.
      lastStop: () => stopReason(released ? stoppedAtRelease : Atomics.load(cells, at + 2)),
      release: () => {
        if (released) return;
        released = true;
        stoppedAtRelease = Atomics.load(cells, at + 2);
        Atomics.store(cells, at + 1, 0);
        Atomics.store(cells, at, 0);
        this.#active--;
        this.#free.push(slot);
        // The handle stays in the watchdog's table until the slot is reused; with nothing left
        // to watch the loop stops, so an idle process can exit.
        if (this.#active === 0) this.#queue = this.#queue.then(() => (this.#active === 0 ? this.#stop() : undefined));
      },
    };
  }

  /** Start the CPU clock; null (never a rejection) where there is none, and then limits are wall time. */
  async #startClock(): Promise<SharedArrayBuffer | null> {
    const fallBack = (reason: string) => {
      this.#clockBuffer = null;
      this.#unreportedFallback = reason;
      this.#reportFallback();
    };
    try {
      this.#clockBuffer = await startHookThreadCpuClock(fallBack);
    } catch (err) {
      fallBack(err instanceof Error ? err.message : String(err));
    }
    return this.#clockBuffer;
  }

  #reportFallback(): void {
    if (this.#unreportedFallback === null || !this.#logger) return;
    this.#logger.warn({ reason: this.#unreportedFallback }, 'plugin cpuMs limits are measured in wall-clock time: a pause of the whole process during a hook counts against the plugin');
    this.#unreportedFallback = null;
  }

  /** The watchdog's table of isolates, creating its isolate on first use (or after it was lost). */
  #ensureIsolate(): ivm.Reference<unknown[]> {
    if (!this.#isolate || this.#isolate.isDisposed) {
      this.#isolate = new ivm.Isolate({ memoryLimit: 8 });
      this.#context = this.#isolate.createContextSync();
      for (const script of WATCHDOG_SCRIPTS) this.#context.evalSync(script);
      this.#isolates = this.#context.global.getSync('__isolates', { reference: true }) as ivm.Reference<unknown[]>;
      this.#watch = this.#context.global.getSync('__watch', { reference: true }) as ivm.Reference<(...args: unknown[]) => string>;
    }
    return this.#isolates!;
  }

  #start(): void {
    if (this.#epoch || this.#active === 0) return;
    Atomics.store(this.#cells, 0, 0);
    const sab = new ivm.ExternalCopy(this.#cells.buffer).copyInto({ release: true });
    // A plain async call: the loop returns a string once stopped, there is no promise to wait on.
    const clock = this.#clockBuffer ? new ivm.ExternalCopy(this.#clockBuffer).copyInto({ release: true }) : undefined;
    const epoch = this.#watch!.apply(undefined, [sab, this.#isolates!.derefInto(), HEADER, STRIDE, WATCHDOG_TICK_MS, clock]);
    this.#covering = true;
    const done = epoch.then(
      () => {},
      () => {},
    );
    this.#epoch = done;
    // A loop that ended without being asked to (it cannot, short of a bug) uncovers calls at once.
    void done.then(() => {
      if (this.#epoch === done && Atomics.load(this.#cells, 0) === 0) {
        this.#covering = false;
        this.#epoch = null;
      }
    });
  }

  /**
   * Stop the running epoch and wait until its loop has returned, keeping the process alive until
   * then: exiting while an isolated-vm task is still completing is where isolated-vm's teardown
   * has crashed before (RESEARCH.md), and the end of an epoch is such a task.
   */
  async #stop(): Promise<void> {
    const epoch = this.#epoch;
    if (!epoch) return;
    this.#covering = false;
    const keepAlive = setInterval(() => {}, 1_000);
    try {
      Atomics.store(this.#cells, 0, 1);
      Atomics.notify(this.#cells, 0);
      await epoch;
      this.#epoch = null;
    } finally {
      clearInterval(keepAlive);
    }
  }
}
