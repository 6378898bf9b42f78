// The runner's side of bench/gc-observer.ts: ask every observed process of a target for a GC
// snapshot, wait for the answers, and turn two snapshots into what a repetition cost.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What bench/gc-observer.ts writes, cumulative since the process started (maxMs: since the previous snapshot). */
export interface GcSnapshot {
  pid: number;
  /** how many snapshot requests (SIGUSR2) the process has answered */
  seq: number;
  count: number;
  totalMs: number;
  majorCount: number;
  majorMs: number;
  /** longest single pause since the previous snapshot */
  maxMs: number;
  /** bytes minor GCs moved to the old generation */
  promotedBytes: number;
}

/** GC during one repetition, summed over the target's Node processes. */
export interface GcDelta {
  count: number;
  totalMs: number;
  majorCount: number;
  majorMs: number;
  /** longest single pause in any process */
  maxMs: number;
  promotedBytes: number;
  processes: number;
}

export function parseGcSnapshot(text: string): GcSnapshot | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const keys = ['pid', 'seq', 'count', 'totalMs', 'majorCount', 'majorMs', 'maxMs', 'promotedBytes'] as const;
  if (!keys.every((k) => typeof v[k] === 'number' && Number.isFinite(v[k]))) return null;
  return v as unknown as GcSnapshot;
}

/**
 * Per process: after − before, for the processes present in both (a process that started or
 * died in between is left out: its totals do not belong to the repetition alone). `after.maxMs`
 * is already the window's longest pause because each snapshot restarts it.
 */
export function gcDelta(before: Map<number, GcSnapshot>, after: Map<number, GcSnapshot>): GcDelta {
  const out: GcDelta = { count: 0, totalMs: 0, majorCount: 0, majorMs: 0, maxMs: 0, promotedBytes: 0, processes: 0 };
  for (const [pid, a] of after) {
    const b = before.get(pid);
    if (!b || a.seq <= b.seq) continue;
    out.processes++;
    out.count += a.count - b.count;
    out.totalMs += a.totalMs - b.totalMs;
    out.majorCount += a.majorCount - b.majorCount;
    out.majorMs += a.majorMs - b.majorMs;
    out.promotedBytes += a.promotedBytes - b.promotedBytes;
    out.maxMs = Math.max(out.maxMs, a.maxMs);
  }
  return out;
}

/** One target's GC files: the directory its processes write to, and how many requests each was sent. */
export class GcProbe {
  readonly dir: string;
  private readonly sent = new Map<number, number>();

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  /** The environment that makes a Node process observe its GC into this probe. */
  env(observerPath: string): Record<string, string> {
    const inherited = process.env['NODE_OPTIONS'] ?? '';
    return { BENCH_GC_DIR: this.dir, NODE_OPTIONS: `${inherited} --import=${observerPath}`.trim() };
  }

  private read(pid: number): GcSnapshot | null {
    try {
      return parseGcSnapshot(readFileSync(join(this.dir, `${pid}.json`), 'utf8'));
    } catch {
      return null;
    }
  }

  /**
   * Signal every live process that has the observer (it wrote a file) and wait, bounded, until
   * each has answered. Only processes with a file are signalled: SIGUSR2 would kill anything else
   * (a non-Node helper of the target).
   */
  async snapshot(timeoutMs = 1000): Promise<Map<number, GcSnapshot>> {
    if (!existsSync(this.dir)) return new Map();
    const pids = readdirSync(this.dir)
      .map((name) => /^(\d+)\.json$/.exec(name)?.[1])
      .filter((pid): pid is string => pid !== undefined)
      .map(Number)
      .filter((pid) => {
        try {
          process.kill(pid, 'SIGUSR2');
          this.sent.set(pid, (this.sent.get(pid) ?? 0) + 1);
          return true;
        } catch {
          return false; // exited
        }
      });
    const out = new Map<number, GcSnapshot>();
    const deadline = Date.now() + timeoutMs;
    while (out.size < pids.length && Date.now() < deadline) {
      for (const pid of pids) {
        if (out.has(pid)) continue;
        const snap = this.read(pid);
        if (snap && snap.seq >= (this.sent.get(pid) ?? 0)) out.set(pid, snap);
      }
      if (out.size < pids.length) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return out;
  }
}
