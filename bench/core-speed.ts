// A probe of how fast the proxy core runs, taken before every repetition. A host that slows this
// VM's core (another tenant on the same physical core, a lower clock) shows no steal in
// /proc/stat and no other process here, yet every row measured meanwhile needs more CPU per
// request: on 2026-12-06 the floor varied from 6,965 to 16,767 req/s within the hour with
// "other procs + steal" under 0.2 cores. A fixed integer loop pinned to the core takes the same
// CPU time whenever the core runs at full speed, so its spread across repetitions says how far
// the rows of one run can be compared.
import { spawnSync } from 'node:child_process';

/** xorshift over a fixed count: no allocation, no memory traffic, so only the core's speed moves it. */
const PROBE = `const f = (n) => { let x = 1; for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; } return x; };
f(1e6);
const t = process.cpuUsage();
const r = f(4e7);
const u = process.cpuUsage(t);
process.stdout.write(((u.user + u.system) / 1000).toFixed(3) + ' ' + (r & 1));`;

/**
 * CPU milliseconds the probe loop takes on `cpu` (unpinned when null), in a short-lived child so
 * that nothing of the runner's own state (JIT, GC) moves it; null when it could not be run.
 */
export function probeCoreSpeed(nodeBin: string, cpu: string | null): number | null {
  const [command, args] = cpu === null ? [nodeBin, ['-e', PROBE]] : ['taskset', ['-c', cpu, nodeBin, '-e', PROBE]];
  const out = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  const ms = out.status === 0 ? Number(out.stdout.split(' ')[0]) : NaN;
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** How much slower the slowest probe of a run was than the fastest (1 = steady); null without two probes. */
export function coreSpeedSpread(probesMs: readonly (number | null)[]): { fastestMs: number; slowestMs: number; ratio: number } | null {
  const ms = probesMs.filter((v): v is number => v !== null);
  if (ms.length < 2) return null;
  const fastestMs = Math.min(...ms);
  const slowestMs = Math.max(...ms);
  return { fastestMs, slowestMs, ratio: slowestMs / fastestMs };
}
