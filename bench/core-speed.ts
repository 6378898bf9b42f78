// A probe of how fast the proxy core runs, taken before every repetition. A host that slows this
// VM (another tenant on the same physical core or on its caches and memory, a lower clock) shows
// no steal in /proc/stat and no other process here, yet every row measured meanwhile needs more
// CPU per request: on 2026-12-06 the floor varied from 6,965 to 16,767 req/s within the hour with
// "other procs + steal" under 0.2 cores. Fixed jobs pinned to the core take the same CPU time
// whenever nothing slows them, so their spread across repetitions says how far the rows of one
// run can be compared. Other processes sharing the core do not move them (CPU time excludes
// waiting): "other procs + steal" covers that.
import { spawnSync } from 'node:child_process';

/**
 * Three fixed jobs, timed apart: xorshift over a fixed count (the core's own speed); a chain of
 * dependent reads through a 32 MiB random cycle, built before the clock starts (memory latency,
 * which a neighbour on the host's caches and memory moves); and 2,000 one-byte round trips with
 * an echo process on the load core (syscalls and cross-core wake-ups, what a proxy does per
 * request, which a busy host makes dearer for a VM). On 2026-12-06 the floor's CPU per request
 * moved from 74 to 104 µs between repetitions while the first two jobs stayed within 10 %.
 */
const PROBE = `const f = (n) => { let x = 1; for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; } return x; };
const N = 1 << 23, next = new Int32Array(N);
for (let i = 0; i < N; i++) next[i] = i;
let seed = 42;
for (let i = N - 1; i > 0; i--) { seed = (seed * 1103515245 + 12345) >>> 0; const j = seed % i; const t = next[i]; next[i] = next[j]; next[j] = t; }
const chase = (steps) => { let p = 0; for (let i = 0; i < steps; i++) p = next[p]; return p; };
f(1e6); chase(1e4);
const ms = (u) => (u.user + u.system) / 1000;
let t = process.cpuUsage();
const r = f(4e7);
const alu = ms(process.cpuUsage(t));
t = process.cpuUsage();
const p = chase(3e5);
const mem = ms(process.cpuUsage(t));
// Wake-ups: one byte back and forth with an echo process on the load core, as a proxy's request
// and answer cross cores; this side's CPU over the round trips (syscalls, event loop, wake-ups).
const [cmd, ...args] = JSON.parse(process.argv[1]);
const echo = require('node:child_process').spawn(cmd, [...args, '-e', "process.stdin.on('data', (d) => process.stdout.write(d))"], { stdio: ['pipe', 'pipe', 'ignore'] });
const ROUNDS = 2000, WARM = 200, one = Buffer.from('x');
let seen = 0, start;
echo.stdout.on('data', (d) => {
  seen += d.length;
  if (seen === WARM) start = process.cpuUsage();
  if (seen < WARM + ROUNDS) return void echo.stdin.write(one);
  const wake = ms(process.cpuUsage(start));
  echo.kill();
  process.stdout.write(alu.toFixed(3) + ' ' + mem.toFixed(3) + ' ' + wake.toFixed(3) + ' ' + ((r ^ p) & 1));
});
echo.stdin.write(one);`;

/** The probe's timings, CPU ms on the probed core: arithmetic, memory latency, and 2,000 cross-core round trips. */
export interface CoreProbe {
  aluMs: number;
  memoryMs: number;
  wakeupMs: number;
}

/**
 * The probe's CPU milliseconds on `cpu` (unpinned when null), in a short-lived child so that
 * nothing of the runner's own state (JIT, GC, heap) moves them; null when it could not be run.
 */
export function probeCoreSpeed(nodeBin: string, cpu: string | null, peerCpu: string | null = null): CoreProbe | null {
  const pin = (at: string | null): string[] => (at === null ? [nodeBin] : ['taskset', '-c', at, nodeBin]);
  const [command, ...args] = [...pin(cpu), '-e', PROBE, JSON.stringify(pin(peerCpu))];
  const out = spawnSync(command!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
  const [aluMs, memoryMs, wakeupMs] = out.status === 0 ? out.stdout.split(' ').map(Number) : [];
  const ok = [aluMs, memoryMs, wakeupMs].every((v) => v !== undefined && Number.isFinite(v) && v > 0);
  return ok ? { aluMs: aluMs!, memoryMs: memoryMs!, wakeupMs: wakeupMs! } : null;
}

/** How much slower the slowest probe of a run was than the fastest (1 = steady), for one of its timings; null without two probes. */
export function coreSpeedSpread(probesMs: readonly (number | null)[]): { fastestMs: number; slowestMs: number; ratio: number } | null {
  const ms = probesMs.filter((v): v is number => v !== null);
  if (ms.length < 2) return null;
  const fastestMs = Math.min(...ms);
  const slowestMs = Math.max(...ms);
  return { fastestMs, slowestMs, ratio: slowestMs / fastestMs };
}
