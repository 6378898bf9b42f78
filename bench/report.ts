// Summaries (medians, comparisons with the floor, goals) and the text / Markdown renderings.
import type { Goal } from './targets.ts';
import type { CoreProbe } from './core-speed.ts';

export interface RepResult {
  rep: number;
  requestsPerSec: number;
  requests: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** from bench/wrk-percentiles.lua; null when wrk did not print it */
  p999Ms: number | null;
  errors: number;
  errorDetail: string;
  cpuSeconds: number;
  cpuUsPerReq: number | null;
  /** CPU seconds / wall seconds of the measured process tree */
  coreUtilization: number;
  /** CPU (in cores) used on the machine by processes the bench did not start, during the rep */
  otherLoad: number | null;
  /** CPU (in cores) stolen by the hypervisor during the rep */
  steal: number | null;
  /** GC pauses of the target's Node processes during the rep (bench/gc-observer.ts); null for non-Node targets */
  gc: { totalMs: number; count: number; maxMs: number; promotedBytes: number } | null;
  /** CPU ms of bench/core-speed.ts's fixed jobs (arithmetic, memory, wake-ups) on the proxy core just before the rep; null when not probed */
  coreProbe: CoreProbe | null;
}

export interface Row {
  name: string;
  description: string;
  status: 'measured' | 'unavailable' | 'failed';
  /** why unavailable / failed */
  reason?: string;
  notes: string[];
  reps: RepResult[];
}

export interface Summary {
  name: string;
  requestsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  cpuUsPerReq: number | null;
  /** median over reps of the GC pause total (ms) and count, longest single pause of any rep */
  gcMs: number | null;
  gcCount: number | null;
  gcMaxMs: number | null;
  /** median over reps of the bytes minor GCs moved to the old generation, per request */
  promotedPerReq: number | null;
  errors: number;
  valid: boolean;
  /** worst other-processes + steal load (cores) seen in a rep */
  worstOtherLoad: number;
  vsBaseline: number | null;
  p99DeltaMs: number | null;
}

export function median(values: number[]): number | null {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function nonNull(values: (number | null)[]): number[] {
  return values.filter((v): v is number => v !== null);
}

export function summarize(rows: Row[], baseline: string, expectedReps: number): Map<string, Summary> {
  const out = new Map<string, Summary>();
  for (const row of rows) {
    if (row.status !== 'measured' || row.reps.length === 0) continue;
    const errors = row.reps.reduce((sum, r) => sum + r.errors, 0);
    out.set(row.name, {
      name: row.name,
      requestsPerSec: median(row.reps.map((r) => r.requestsPerSec)) ?? 0,
      p50Ms: median(nonNull(row.reps.map((r) => r.p50Ms))),
      p99Ms: median(nonNull(row.reps.map((r) => r.p99Ms))),
      p999Ms: median(nonNull(row.reps.map((r) => r.p999Ms))),
      cpuUsPerReq: median(nonNull(row.reps.map((r) => r.cpuUsPerReq))),
      gcMs: median(nonNull(row.reps.map((r) => r.gc?.totalMs ?? null))),
      gcCount: median(nonNull(row.reps.map((r) => r.gc?.count ?? null))),
      gcMaxMs: row.reps.some((r) => r.gc) ? Math.max(...nonNull(row.reps.map((r) => r.gc?.maxMs ?? null))) : null,
      promotedPerReq: median(nonNull(row.reps.map(promotedPerRequest))),
      errors,
      valid: errors === 0 && row.reps.length === expectedReps,
      worstOtherLoad: Math.max(0, ...row.reps.map((r) => (r.otherLoad ?? 0) + (r.steal ?? 0))),
      vsBaseline: null,
      p99DeltaMs: null,
    });
  }
  const base = out.get(baseline);
  if (base) {
    for (const s of out.values()) {
      s.vsBaseline = base.requestsPerSec > 0 ? s.requestsPerSec / base.requestsPerSec : null;
      s.p99DeltaMs = s.p99Ms !== null && base.p99Ms !== null ? s.p99Ms - base.p99Ms : null;
    }
  }
  return out;
}

export interface GoalResult {
  goal: Goal;
  verdict: 'PASS' | 'FAIL' | 'N/A';
  measured: string;
  reason: string;
}

export function evaluateGoals(goals: Goal[], rows: Row[], summaries: Map<string, Summary>, defaultBaseline: string): GoalResult[] {
  return goals.map((goal): GoalResult => {
    const row = rows.find((r) => r.name === goal.target);
    const s = summaries.get(goal.target);
    // A goal may be relative to another row than the table's baseline (e.g. a plugin row vs the empty chain).
    const baseline = goal.baseline ?? defaultBaseline;
    const base = summaries.get(baseline);
    if (!row || !s) {
      const why = row?.reason ?? `${goal.target} not measured`;
      return { goal, verdict: 'N/A', measured: '—', reason: why };
    }
    if (!base) return { goal, verdict: 'N/A', measured: '—', reason: `${baseline} not measured` };
    if (!base.valid) {
      return { goal, verdict: 'N/A', measured: '—', reason: `${baseline} row invalid (${base.errors} errors)` };
    }
    const ratio = base.requestsPerSec > 0 ? s.requestsPerSec / base.requestsPerSec : 0;
    const delta = s.p99Ms !== null && base.p99Ms !== null ? s.p99Ms - base.p99Ms : null;
    const cpuRatio = s.cpuUsPerReq !== null && base.cpuUsPerReq !== null && base.cpuUsPerReq > 0 ? s.cpuUsPerReq / base.cpuUsPerReq : null;
    let measured = `${ratio.toFixed(2)}× ${baseline} req/s (${fmtInt(s.requestsPerSec)} vs ${fmtInt(base.requestsPerSec)}), p99 ${delta === null ? '—' : `${signedMs(delta)} vs ${baseline}`}`;
    if (goal.maxCpuRatio !== undefined) {
      const cpu = cpuRatio === null ? '—' : `${s.cpuUsPerReq!.toFixed(1)} µs vs ${base.cpuUsPerReq!.toFixed(1)} µs, ${pct(cpuRatio)}`;
      measured = `CPU per request ${cpu} of ${baseline}'s; ${measured}`;
    }
    const failures: string[] = [];
    if (!s.valid) failures.push(`row invalid (${s.errors} errors)`);
    if (ratio < goal.minThroughputRatio) failures.push(`throughput below ${pct(goal.minThroughputRatio)}`);
    if (goal.maxP99DeltaMs !== undefined && (delta === null || delta > goal.maxP99DeltaMs)) failures.push(`p99 more than ${goal.maxP99DeltaMs} ms above ${baseline}`);
    if (goal.maxCpuRatio !== undefined && (cpuRatio === null || cpuRatio > goal.maxCpuRatio)) failures.push(`CPU per request above ${pct(goal.maxCpuRatio)} of ${baseline}'s`);
    const disturbed = Math.max(s.worstOtherLoad, base.worstOtherLoad) > DISTURBED_LOAD;
    if (disturbed) failures.push('run disturbed by other load on the machine: rerun on a quiet machine');
    const verdict = failures.length === (disturbed ? 1 : 0) ? 'PASS' : 'FAIL';
    return { goal, verdict, measured, reason: failures.join('; ') };
  });
}

// ---- formatting -----------------------------------------------------------

export function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
function signedMs(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${Math.abs(ms).toFixed(2)} ms`;
}
function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
function fmtMs(ms: number | null): string {
  return ms === null ? '—' : ms < 10 ? ms.toFixed(3) : ms.toFixed(1);
}
function fmtUs(us: number | null): string {
  return us === null ? '—' : us.toFixed(1);
}

/** Other processes + steal above this (in cores) during a rep mark the row as disturbed. */
export const DISTURBED_LOAD = 0.05;

export const SUMMARY_HEADER = [
  'target',
  'req/s (median)',
  'p50 ms',
  'p99 ms',
  'p99.9 ms',
  'CPU µs/req',
  'GC pause ms per rep (pauses)',
  'longest GC pause ms',
  'promoted B/req',
  'vs floor (req/s)',
  'p99 − floor p99 (ms)',
  'status',
];

/**
 * Bytes the main heap's minor GCs moved to the old generation during the rep, per request: tens
 * of bytes when a request's objects die young, kilobytes when finished requests are kept alive
 * (the cause behind long scavenges, and so behind a GC-made tail).
 */
function promotedPerRequest(r: RepResult): number | null {
  return r.gc === null || r.requests === 0 ? null : r.gc.promotedBytes / r.requests;
}

function fmtGc(ms: number | null, count: number | null): string {
  return ms === null ? '—' : `${ms.toFixed(ms < 10 ? 1 : 0)} (${fmtInt(count ?? 0)})`;
}

export function summaryCells(rows: Row[], summaries: Map<string, Summary>): string[][] {
  return rows.map((row) => {
    const s = summaries.get(row.name);
    if (!s) return [row.name, ...SUMMARY_HEADER.slice(1, -1).map(() => '—'), row.reason ?? row.status];
    const status =
      (s.valid ? 'ok' : `INVALID (${s.errors} errors${s.errors === 0 ? ', missing reps' : ''})`) +
      (s.worstOtherLoad > DISTURBED_LOAD ? `, disturbed (other load up to ${s.worstOtherLoad.toFixed(2)} cores)` : '');
    return [
      row.name,
      fmtInt(s.requestsPerSec),
      fmtMs(s.p50Ms),
      fmtMs(s.p99Ms),
      fmtMs(s.p999Ms),
      fmtUs(s.cpuUsPerReq),
      fmtGc(s.gcMs, s.gcCount),
      s.gcMaxMs === null ? '—' : fmtMs(s.gcMaxMs),
      s.promotedPerReq === null ? '—' : fmtInt(s.promotedPerReq),
      s.vsBaseline === null ? '—' : s.vsBaseline.toFixed(3),
      s.p99DeltaMs === null ? '—' : `${s.p99DeltaMs >= 0 ? '+' : '−'}${Math.abs(s.p99DeltaMs).toFixed(3)}`,
      status,
    ];
  });
}

export const REP_HEADER = [
  'rep',
  'target',
  'req/s',
  'p50 ms',
  'p99 ms',
  'p99.9 ms',
  'requests',
  'errors',
  'CPU s',
  'CPU µs/req',
  'target core use',
  'GC pause ms (pauses, longest)',
  'promoted B/req',
  'other procs + steal (cores)',
  'core probe ms (arithmetic / memory / wake-ups)',
];

export function repCells(rows: Row[], reps: number): string[][] {
  const cells: string[][] = [];
  for (let rep = 1; rep <= reps; rep++) {
    for (const row of rows) {
      const r = row.reps.find((x) => x.rep === rep);
      if (!r) continue;
      const promoted = promotedPerRequest(r);
      cells.push([
        String(rep),
        row.name,
        fmtInt(r.requestsPerSec),
        fmtMs(r.p50Ms),
        fmtMs(r.p99Ms),
        fmtMs(r.p999Ms),
        fmtInt(r.requests),
        r.errors === 0 ? '0' : `${r.errors} (${r.errorDetail})`,
        r.cpuSeconds.toFixed(2),
        fmtUs(r.cpuUsPerReq),
        pct(r.coreUtilization),
        r.gc === null ? '—' : `${r.gc.totalMs.toFixed(1)} (${fmtInt(r.gc.count)}, ${fmtMs(r.gc.maxMs)})`,
        promoted === null ? '—' : fmtInt(promoted),
        r.otherLoad === null ? '—' : `${(r.otherLoad).toFixed(2)} + ${(r.steal ?? 0).toFixed(2)}`,
        r.coreProbe === null ? '—' : `${r.coreProbe.aluMs.toFixed(1)} / ${r.coreProbe.memoryMs.toFixed(1)} / ${r.coreProbe.wakeupMs.toFixed(1)}`,
      ]);
    }
  }
  return cells;
}

/** A comparison quoted in BENCHMARKS.md and the README: `target` against `baseline`, same run. */
export interface Ratio {
  label: string;
  target: string;
  baseline: string;
}

export const RATIO_HEADER = ['comparison (same run)', 'req/s ratio', 'CPU µs/req ratio', 'p99 difference (ms)'];

/** Throughput ratio (target ÷ baseline), CPU per request ratio and p99 difference; — where a row is missing. */
export function ratioCells(ratios: Ratio[], summaries: Map<string, Summary>): string[][] {
  return ratios.map((r) => {
    const t = summaries.get(r.target);
    const b = summaries.get(r.baseline);
    if (!t || !b) return [r.label, '—', '—', `${!t ? r.target : r.baseline} not measured`];
    const rps = b.requestsPerSec > 0 ? `${(t.requestsPerSec / b.requestsPerSec).toFixed(2)}×` : '—';
    const cpu = t.cpuUsPerReq !== null && b.cpuUsPerReq !== null && b.cpuUsPerReq > 0 ? `${(t.cpuUsPerReq / b.cpuUsPerReq).toFixed(2)}×` : '—';
    const p99 = t.p99Ms !== null && b.p99Ms !== null ? signedMs(t.p99Ms - b.p99Ms).replace(' ms', '') : '—';
    return [r.label + (t.valid && b.valid ? '' : ' (a row is INVALID)'), rps, cpu, p99];
  });
}

export function textTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function markdownTable(header: string[], body: string[][], numericFrom = 1, numericTo = header.length - 1): string {
  const align = header.map((_, i) => (i >= numericFrom && i < numericTo ? '---:' : '---'));
  const esc = (c: string): string => c.replaceAll('|', '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...body.map((row) => `| ${row.map(esc).join(' | ')} |`),
  ].join('\n');
}
