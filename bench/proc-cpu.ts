// CPU time of a process (and its live descendants) from /proc, Linux only.
//
// For each process we add utime + stime (fields 14, 15 of /proc/<pid>/stat:
// CPU of all its threads) and cutime + cstime (fields 16, 17: CPU of children
// it has already reaped). Live descendants are found through the ppid field
// (4) and added the same way, so a target that forks workers (nginx's master
// + worker, a cluster primary, a launcher that re-execs node) is measured as a
// whole; for a single-process target this is exactly that process's CPU.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let cachedTicks: number | null = null;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on nearly every Linux). */
export function clockTicksPerSecond(): number {
  if (cachedTicks !== null) return cachedTicks;
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    cachedTicks = Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    cachedTicks = 100;
  }
  return cachedTicks;
}

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks */
  ticks: number;
}

/** Parse the text of /proc/<pid>/stat. The command name (field 2) may contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`unexpected /proc stat: ${text.slice(0, 80)}`);
  const pid = Number(text.slice(0, text.indexOf(' ')));
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number): number => Number(rest[n - 3]);
  return { pid, ppid: field(4), ticks: field(14) + field(15) + field(16) + field(17) };
}

function readStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // gone, or not readable
  }
}

export interface CpuSample {
  /** CPU seconds of the process tree */
  seconds: number;
  /** pids that were counted */
  pids: number[];
  /** wall-clock time of the sample, ms (performance.now) */
  at: number;
}

/** CPU seconds used so far by `rootPid` and every live descendant. */
export function sampleProcessTreeCpu(rootPid: number): CpuSample {
  const root = readStat(rootPid);
  if (!root) throw new Error(`process ${rootPid} is not running`);
  const children = new Map<number, ProcStat[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(stat);
    else children.set(stat.ppid, [stat]);
  }
  let ticks = 0;
  const pids: number[] = [];
  const queue: ProcStat[] = [root];
  while (queue.length > 0) {
    const stat = queue.shift()!;
    ticks += stat.ticks;
    pids.push(stat.pid);
    queue.push(...(children.get(stat.pid) ?? []));
  }
  return { seconds: ticks / clockTicksPerSecond(), pids, at: performance.now() };
}

export interface CpuDelta {
  cpuSeconds: number;
  wallSeconds: number;
  /** share of one core used over the interval, 0..N */
  coreUtilization: number;
}

export function cpuDelta(before: CpuSample, after: CpuSample): CpuDelta {
  const cpuSeconds = after.seconds - before.seconds;
  const wallSeconds = (after.at - before.at) / 1000;
  return { cpuSeconds, wallSeconds, coreUtilization: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 };
}

export interface CoreSample {
  /** busy clock ticks: user + nice + system + irq + softirq + steal */
  busyTicks: number;
  /** ticks the hypervisor ran something else while this machine wanted to run */
  stealTicks: number;
  at: number;
}

/** Parse the `cpuN ...` line of /proc/stat for one core, or the aggregate `cpu ...` line for core null. */
export function parseProcStatCore(text: string, core: number | null): Omit<CoreSample, 'at'> {
  const prefix = core === null ? 'cpu ' : `cpu${core} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`${prefix.trim()} not found in /proc/stat`);
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return {
    busyTicks: (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0),
    stealTicks: steal ?? 0,
  };
}

/** Busy ticks of one core, or of the whole machine (core null). */
export function sampleCore(core: number | null): CoreSample {
  return { ...parseProcStatCore(readFileSync('/proc/stat', 'utf8'), core), at: performance.now() };
}

/**
 * CPU used by anything but `ownCpuSeconds` between two samples, and CPU stolen by the hypervisor,
 * both in cores (1 = one core fully busy for the whole interval).
 */
export function foreignCoreLoad(before: CoreSample, after: CoreSample, ownCpuSeconds: number): { other: number; steal: number } {
  const wall = (after.at - before.at) / 1000;
  if (wall <= 0) return { other: 0, steal: 0 };
  const ticks = clockTicksPerSecond();
  const busy = (after.busyTicks - before.busyTicks) / ticks;
  return {
    other: Math.max(0, busy - ownCpuSeconds) / wall,
    steal: (after.stealTicks - before.stealTicks) / ticks / wall,
  };
}
