// Isogate benchmark: direct / floor / Isogate rows / fast-gateway / reply-from / (nginx) side by side in one run.
//
//   npm run bench                 5 reps × 5 s per target, writes BENCHMARKS.md
//   node bench/run.ts --quick     1 rep × 2 s smoke run (BENCHMARKS.md untouched unless --write)
//   node bench/run.ts --targets floor,isogate
//
// Env knobs: BENCH_DURATION (s), BENCH_REPS, BENCH_CONNECTIONS, BENCH_WARMUP (s),
// which override the --quick defaults; BENCH_NODE_FLAGS (e.g. "--single-threaded-gc"),
// added to every node process the bench starts (upstream, floor, isogate); BENCH_NOTE, a line
// printed at the top of BENCHMARKS.md (e.g. what else was running on the machine).
//
// Pinning (2 cores): every proxy under test runs alone on core 0; wrk and the
// upstream share core 1. All traffic stays on 127.0.0.1.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GcProbe, gcDelta } from './gc-stats.ts';
import { coreSpeedSpread, probeCoreSpeed, type CoreProbe } from './core-speed.ts';
import { cpuDelta, foreignCoreLoad, sampleCore, sampleProcessTreeCpu } from './proc-cpu.ts';
import {
  RATIO_HEADER,
  DISTURBED_LOAD,
  REP_HEADER,
  SUMMARY_HEADER,
  evaluateGoals,
  markdownTable,
  pct,
  ratioCells,
  repCells,
  summarize,
  summaryCells,
  textTable,
} from './report.ts';
import type { GoalResult, RepResult, Row, Summary } from './report.ts';
import { BASELINE, GOALS, RATIOS, TARGETS, findOnPath } from './targets.ts';
import type { LaunchSpec, Target, TargetContext } from './targets.ts';
import { runWrk } from './wrk.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOST = '127.0.0.1';
const PROXY_CPU = '0';
const LOAD_CPU = '1';
/** Preloaded into every Node target: reports its GC pauses (bench/gc-observer.ts). */
const GC_OBSERVER = join(REPO_ROOT, 'bench', 'gc-observer.ts');
/** Makes wrk print p99.9 (bench/wrk-percentiles.lua). */
const WRK_SCRIPT = join(REPO_ROOT, 'bench', 'wrk-percentiles.lua');
const READY_TIMEOUT_MS = 15_000;
const PAUSE_BETWEEN_RUNS_MS = 300;

// ---- settings ---------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    targets: { type: 'string' },
  },
});

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const settings = {
  durationSec: envInt('BENCH_DURATION', flags.quick ? 2 : 5),
  reps: envInt('BENCH_REPS', flags.quick ? 1 : 5),
  connections: envInt('BENCH_CONNECTIONS', 50),
  // Node needs several seconds of load before the JIT settles (≈ 4 s seen on a 2-core VM).
  warmupSec: envInt('BENCH_WARMUP', flags.quick ? 2 : 5),
  nodeFlags: (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((flag) => flag !== ''),
  writeReport: flags['no-write'] ? false : flags.write || !flags.quick,
};

// ---- child processes --------------------------------------------------------

interface Managed {
  name: string;
  pid: number;
  child: ChildProcess;
  logPath: string;
  exited: Promise<void>;
  exitInfo: string | null;
}

/** Process groups we started (each child is spawned detached, so it leads its own group). */
const liveGroups = new Map<number, string>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function killAllSync(signal: NodeJS.Signals): void {
  for (const pid of liveGroups.keys()) killGroup(pid, signal);
}

function pinned(cpu: string | null, command: string, args: string[]): [string, string[]] {
  return cpu === null ? [command, args] : ['taskset', ['-c', cpu, command, ...args]];
}

function startProcess(name: string, spec: LaunchSpec, cpu: string | null, logDir: string): Managed {
  const logPath = join(logDir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  const [command, args] = pinned(cpu, spec.command, spec.args);
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: REPO_ROOT,
      detached: true,
      // stdin is a pipe: our own helpers (upstream, floor) exit when it closes.
      stdio: ['pipe', fd, fd],
      env: { ...process.env, ...spec.env },
    });
  } finally {
    closeSync(fd);
  }
  child.stdin?.on('error', () => {});
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  const pid = child.pid;
  liveGroups.set(pid, name);
  const managed: Managed = {
    name,
    pid,
    child,
    logPath,
    exitInfo: null,
    exited: new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        managed.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        liveGroups.delete(pid);
        resolve();
      });
      child.on('error', (error) => {
        managed.exitInfo = `failed to start: ${error.message}`;
        liveGroups.delete(pid);
        resolve();
      });
    }),
  };
  return managed;
}

async function stopProcess(m: Managed): Promise<void> {
  if (m.exitInfo !== null) return;
  killGroup(m.pid, 'SIGTERM');
  const timedOut = await Promise.race([m.exited.then(() => false), sleep(3000).then(() => true)]);
  if (timedOut) {
    killGroup(m.pid, 'SIGKILL');
    await Promise.race([m.exited, sleep(1000)]);
  }
  // Whatever else is left in its process group (workers that ignored SIGTERM).
  killGroup(m.pid, 'SIGKILL');
  liveGroups.delete(m.pid);
}

function logTail(m: Managed, lines = 15): string {
  try {
    return readFileSync(m.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---- small helpers ----------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function httpGet(port: number, path: string, timeoutMs: number, headers: Record<string, string> = {}, scheme: 'http' | 'https' = 'http'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // The HTTPS row's certificate is self-signed and the bench never leaves 127.0.0.1.
    const get = scheme === 'https' ? (options: https.RequestOptions, cb: (res: http.IncomingMessage) => void) => https.get({ ...options, rejectUnauthorized: false }, cb) : http.get;
    const req = get({ host: HOST, port, path, agent: false, headers: { ...headers, connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitReady(m: Managed, port: number, path: string, scheme: 'http' | 'https' = 'http'): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (m.exitInfo !== null) throw new Error(`${m.name} ${m.exitInfo} before it was ready`);
    try {
      const { status } = await httpGet(port, path, 1000, {}, scheme);
      if (status === 200) return;
      last = `GET ${path} answered ${status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new Error(`${m.name} not ready after ${READY_TIMEOUT_MS / 1000} s (${last})`);
}

function commandOutput(command: string, args: string[]): string | null {
  // wrk --version exits non-zero and nginx -v prints to stderr: take both streams, whatever the code.
  const out = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  if (out.error) return null;
  const text = `${out.stdout ?? ''}${out.stderr ?? ''}`.trim();
  return text === '' ? null : text;
}

function firstLine(text: string | null): string {
  return text === null ? 'unknown' : (text.split('\n')[0] ?? '').trim();
}

// ---- the run ----------------------------------------------------------------

interface Running {
  target: Target;
  row: Row;
  port: number;
  /** the process whose tree CPU is measured */
  measuredPid: number;
  managed: Managed | null;
  /** sent by wrk with every request */
  headers: Record<string, string>;
  /** GC snapshots of its Node processes; null when the target is not Node */
  gc: GcProbe | null;
}

interface Machine {
  date: string;
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  wrk: string;
  nginx: string;
  commit: string;
}

const started: Managed[] = [];

async function main(): Promise<void> {
  if (!findOnPath('wrk')) throw new Error('wrk not found on PATH (Debian: apt-get install wrk)');
  const nproc = os.availableParallelism();
  const canPin = findOnPath('taskset') !== null && nproc >= 2;
  const proxyCpu = canPin ? PROXY_CPU : null;
  const loadCpu = canPin ? LOAD_CPU : null;

  const selected = flags.targets ? new Set(flags.targets.split(',').map((s) => s.trim())) : null;
  if (selected) {
    const unknown = [...selected].filter((name) => !TARGETS.some((t) => t.name === name));
    if (unknown.length > 0) throw new Error(`unknown target(s): ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}`);
  }
  const targets = TARGETS.filter((t) => !selected || selected.has(t.name));

  const machine: Machine = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    node: process.version,
    wrk: firstLine(commandOutput('wrk', ['--version'])).replace(/\s+Copyright.*$/, ''),
    nginx: findOnPath('nginx') ? firstLine(commandOutput('nginx', ['-v'])) : 'not installed',
    commit: gitCommit(),
  };

  const tmpDir = mkdtempSync(join(os.tmpdir(), 'isogate-bench-'));
  log(`bench: ${targets.map((t) => t.name).join(', ')} — ${settings.reps} rep(s) × ${settings.durationSec} s, ` +
    `${settings.connections} connections, warm-up ${settings.warmupSec} s; logs in ${tmpDir}`);
  if (!canPin) log('bench: WARNING: cannot pin (needs taskset and ≥ 2 CPUs); running unpinned');

  // Upstream, on the load core with wrk.
  const upstreamPort = await freePort();
  const upstream = startProcess(
    'upstream',
    {
      command: process.execPath,
      args: [...settings.nodeFlags, join(REPO_ROOT, 'bench/upstream.ts'), '--port', String(upstreamPort)],
      readyPath: '/',
    },
    loadCpu,
    tmpDir,
  );
  started.push(upstream);
  await waitReady(upstream, upstreamPort, '/');
  const expectedBody = (await httpGet(upstreamPort, '/', 2000)).body;
  const upstreamUrl = `http://${HOST}:${upstreamPort}`;

  // Targets, each alone on the proxy core (they idle while another one is measured).
  const running: Running[] = [];
  const rows: Row[] = [];
  for (const target of targets) {
    const row: Row = { name: target.name, description: target.description, status: 'measured', notes: [], reps: [] };
    if (target.note) row.notes.push(target.note);
    rows.push(row);
    if (!target.launch) {
      running.push({ target, row, port: upstreamPort, measuredPid: upstream.pid, managed: null, headers: {}, gc: null });
      continue;
    }
    const port = await freePort();
    const ctx: TargetContext = {
      repoRoot: REPO_ROOT,
      port,
      upstreamUrl,
      tmpDir,
      nodeBin: process.execPath,
      nodeFlags: settings.nodeFlags,
    };
    const why = target.unavailable?.(ctx) ?? null;
    if (why !== null) {
      row.status = 'unavailable';
      row.reason = why;
      log(`bench: ${target.name}: ${why}`);
      continue;
    }
    let managed: Managed | null = null;
    try {
      const launched = target.launch(ctx);
      // Every Node target gets the GC observer; nginx and other binaries are left alone.
      const gc = launched.command === ctx.nodeBin ? new GcProbe(join(tmpDir, 'gc', target.name)) : null;
      const spec = gc ? { ...launched, env: { ...launched.env, ...gc.env(GC_OBSERVER) } } : launched;
      const cpus = target.cores === 'all' && canPin ? `0-${nproc - 1}` : proxyCpu;
      managed = startProcess(target.name, spec, cpus, tmpDir);
      started.push(managed);
      await waitReady(managed, port, spec.readyPath, target.scheme);
      const headers = (await target.requestHeaders?.()) ?? {};
      const probe = await httpGet(port, '/', 2000, headers, target.scheme);
      if (probe.status !== 200 || probe.body !== (target.expectedBody?.(expectedBody) ?? expectedBody)) {
        throw new Error(`GET / through ${target.name} answered ${probe.status} with a body that is not the upstream's`);
      }
      running.push({ target, row, port, measuredPid: managed.pid, managed, headers, gc });
      log(`bench: ${target.name} ready on port ${port} (pid ${managed.pid})`);
    } catch (error) {
      row.status = 'failed';
      row.reason = `failed to start: ${error instanceof Error ? error.message : String(error)}`;
      log(`bench: ${target.name}: ${row.reason}`);
      if (managed) {
        const tail = logTail(managed);
        if (tail) log(`bench: last lines of ${managed.logPath}:\n${tail}`);
        await stopProcess(managed);
      }
    }
  }

  const measure = async (r: Running, durationSec: number) => {
    // Everything the bench runs (upstream, targets, wrk once reaped) descends from this process,
    // so machine busy time minus our own tree's CPU is what other processes (and steal) took.
    // GC snapshots bracket the CPU samples: the signal and the file write happen outside them.
    const gcBefore = r.gc ? await r.gc.snapshot() : null;
    // Before the rep, not during it: the probe would take CPU from the target.
    const coreProbe = probeCoreSpeed(process.execPath, proxyCpu, loadCpu);
    const machineBefore = sampleCore(null);
    const selfBefore = sampleProcessTreeCpu(process.pid);
    const before = sampleProcessTreeCpu(r.measuredPid);
    const result = await runWrk({
      url: `${r.target.scheme ?? 'http'}://${HOST}:${r.port}/`,
      durationSec,
      connections: settings.connections,
      cpu: loadCpu,
      headers: r.headers,
      script: WRK_SCRIPT,
      onSpawn: (pid) => wrkPids.add(pid),
    });
    const after = sampleProcessTreeCpu(r.measuredPid);
    const selfAfter = sampleProcessTreeCpu(process.pid);
    const foreign = foreignCoreLoad(machineBefore, sampleCore(null), cpuDelta(selfBefore, selfAfter).cpuSeconds);
    const gc = r.gc && gcBefore ? gcDelta(gcBefore, await r.gc.snapshot()) : null;
    return { result, cpu: cpuDelta(before, after), foreign, gc: gc && gc.processes > 0 ? gc : null, coreProbe };
  };

  const alive = (r: Running): boolean => r.row.status === 'measured' && (r.managed === null || r.managed.exitInfo === null);
  const markFailed = (r: Running, error: unknown): void => {
    r.row.status = 'failed';
    const died = r.managed?.exitInfo ? ` (${r.managed.name} ${r.managed.exitInfo})` : '';
    r.row.reason = `failed during run: ${error instanceof Error ? error.message : String(error)}${died}`;
    log(`bench: ${r.target.name}: ${r.row.reason}`);
  };

  // Warm-up, discarded.
  for (const r of running) {
    if (!alive(r)) continue;
    try {
      const { result } = await measure(r, settings.warmupSec);
      log(`bench: warm-up ${r.target.name}: ${Math.round(result.requestsPerSec)} req/s${result.errors ? `, ${result.errors} errors` : ''}`);
      if (result.errors > 0) r.row.notes.push(`warm-up had ${result.errors} errors (not counted)`);
    } catch (error) {
      markFailed(r, error);
    }
    await sleep(PAUSE_BETWEEN_RUNS_MS);
  }

  // Measured repetitions, interleaved: rep 1 of every target, then rep 2, ...
  for (let rep = 1; rep <= settings.reps; rep++) {
    for (const r of running) {
      if (!alive(r)) continue;
      try {
        const { result, cpu, foreign, gc, coreProbe } = await measure(r, settings.durationSec);
        const repResult: RepResult = {
          rep,
          requestsPerSec: result.requestsPerSec,
          requests: result.requests,
          p50Ms: result.latencyMs[50] ?? null,
          p99Ms: result.latencyMs[99] ?? null,
          p999Ms: result.latencyMs[99.9] ?? null,
          errors: result.errors,
          errorDetail: errorDetail(result),
          cpuSeconds: cpu.cpuSeconds,
          cpuUsPerReq: result.requests > 0 ? (cpu.cpuSeconds * 1e6) / result.requests : null,
          coreUtilization: cpu.coreUtilization,
          otherLoad: foreign.other,
          steal: foreign.steal,
          gc: gc ? { totalMs: gc.totalMs, count: gc.count, maxMs: gc.maxMs, promotedBytes: gc.promotedBytes } : null,
          coreProbe,
        };
        r.row.reps.push(repResult);
        log(
          `bench: rep ${rep}/${settings.reps} ${r.target.name}: ${Math.round(result.requestsPerSec)} req/s, ` +
            `p50 ${repResult.p50Ms?.toFixed(3)} ms, p99 ${repResult.p99Ms?.toFixed(3)} ms, p99.9 ${repResult.p999Ms?.toFixed(3)} ms, ` +
            (gc ? `GC ${gc.totalMs.toFixed(1)} ms in ${gc.count} pauses (longest ${gc.maxMs.toFixed(2)} ms), ` : '') +
            `${repResult.cpuUsPerReq?.toFixed(1)} µs CPU/req, errors ${result.errors}`,
        );
      } catch (error) {
        markFailed(r, error);
      }
      await sleep(PAUSE_BETWEEN_RUNS_MS);
    }
  }

  await stopAll();

  // Results.
  for (const row of rows) {
    if (row.status === 'failed' && row.reps.length > 0) row.status = 'measured'; // keep partial numbers, marked invalid
  }
  const summaries = summarize(rows, BASELINE, settings.reps);
  addBottleneckNotes(rows, summaries);
  const goals = evaluateGoals(GOALS, rows, summaries, BASELINE);
  const hook = measureHookCrossing(canPin);
  if (hook) {
    const ok = hook.hookCpuUs <= HOOK_CROSSING_GOAL_US;
    goals.push({
      goal: { label: `Plugin hook crossing ≤ ${HOOK_CROSSING_GOAL_US} µs CPU per hook (bench/hook-crossing.ts)`, target: 'hook-crossing', minThroughputRatio: 0 },
      verdict: ok ? 'PASS' : 'FAIL',
      measured: `${hook.hookCpuUs.toFixed(1)} µs CPU per onRequest call (chain ${hook.chainWithPluginUs.toFixed(1)} µs with the plugin, ${hook.chainWithoutUs.toFixed(2)} µs without; median of ${hook.rounds} rounds × ${hook.calls} calls); the same hook written \`async\`, awaiting nothing: ${hook.asyncHookCpuUs.toFixed(1)} µs`,
      reason: ok ? '' : 'above the goal',
    });
    const same = hook.hookCpuUs <= hook.hookCpuUsNoGlobals * GLOBALS_HOOK_SLACK.ratio + GLOBALS_HOOK_SLACK.us;
    goals.push({
      goal: { label: `A hook that does not use the sandbox globals is not slower for them (≤ ${GLOBALS_HOOK_SLACK.ratio}× + ${GLOBALS_HOOK_SLACK.us} µs of the same hook without them)`, target: 'hook-crossing', minThroughputRatio: 0 },
      verdict: same ? 'PASS' : 'FAIL',
      measured: `${hook.hookCpuUs.toFixed(1)} µs CPU per call with the globals, ${hook.hookCpuUsNoGlobals.toFixed(1)} µs without (same run); a hook that uses them, HMAC-SHA256 verification of a 1 KiB body (examples/plugins/webhook-signature.ts, async): ${hook.hmacHookCpuUs.toFixed(1)} µs CPU per call`,
      reason: same ? '' : 'slower with the globals present',
    });
    const startOk = hook.startMsCached <= hook.startMsNoGlobals * GLOBALS_START_RATIO;
    goals.push({
      goal: { label: `Plugin isolate start with the sandbox globals (code cache) ≤ ${GLOBALS_START_RATIO}× without them`, target: 'hook-crossing', minThroughputRatio: 0 },
      verdict: startOk ? 'PASS' : 'FAIL',
      measured: `${hook.startMsCached.toFixed(2)} ms with the globals from the code cache, ${hook.startMsCold.toFixed(2)} ms compiled cold, ${hook.startMsNoGlobals.toFixed(2)} ms without them (a whole plugin load, median of ${hook.startRounds}); bundling the sandbox and making its code cache, once per process: ${hook.sandboxBuildMs.toFixed(0)} ms`,
      reason: startOk ? '' : 'above the goal',
    });
  }

  const chains = measureChainCrossing(canPin);

  process.stdout.write(`\n${textTable(SUMMARY_HEADER, summaryCells(rows, summaries))}\n\n`);
  process.stdout.write(`${textTable(RATIO_HEADER, ratioCells(RATIOS, summaries))}\n\n`);
  for (const row of rows) {
    for (const note of row.notes) process.stdout.write(`  ${row.name}: ${note}\n`);
    if (row.reason && row.status === 'measured') process.stdout.write(`  ${row.name}: ${row.reason}\n`);
  }
  process.stdout.write(`\nper rep:\n${textTable(REP_HEADER, repCells(rows, settings.reps))}\n\n`);
  for (const g of goals) {
    process.stdout.write(`${g.verdict}  ${g.goal.label}: ${g.measured}${g.reason ? ` — ${g.reason}` : ''}\n`);
  }
  if (chains) process.stdout.write(`\n${chainLines(chains).join('\n')}\n`);
  for (const line of disturbance(rows, summaries)) if (line) process.stdout.write(`\n${line}\n`);

  if (settings.writeReport) {
    const file = join(REPO_ROOT, 'BENCHMARKS.md');
    writeFileSync(file, [renderMarkdown(machine, rows, summaries, goals, canPin), ...(chains ? chainLines(chains) : []), ''].join('\n'));
    log(`\nbench: wrote ${file}`);
  } else {
    log('\nbench: BENCHMARKS.md not written (--quick or --no-write; pass --write to force)');
  }
  rmSync(tmpDir, { recursive: true, force: true });
}

function errorDetail(result: Awaited<ReturnType<typeof runWrk>>): string {
  const s = result.socketErrors;
  const parts: string[] = [];
  if (s.connect) parts.push(`connect ${s.connect}`);
  if (s.read) parts.push(`read ${s.read}`);
  if (s.write) parts.push(`write ${s.write}`);
  if (s.timeout) parts.push(`timeout ${s.timeout}`);
  if (result.non2xx3xx) parts.push(`non-2xx/3xx ${result.non2xx3xx}`);
  return parts.join(', ');
}

function addBottleneckNotes(rows: Row[], summaries: Map<string, Summary>): void {
  const direct = summaries.get('direct');
  for (const row of rows) {
    const s = summaries.get(row.name);
    if (!s || row.name === 'direct') continue;
    if (direct && s.requestsPerSec >= 0.9 * direct.requestsPerSec) {
      row.notes.push(`within 10% of direct: core 1 (wrk + upstream) may be the limit, not the proxy`);
    }
    const util = row.reps.map((r) => r.coreUtilization).sort((a, b) => a - b)[Math.floor(row.reps.length / 2)];
    if (util !== undefined && util < 0.85) {
      row.notes.push(`used only ${pct(util)} of core 0 (median): the proxy was not saturated`);
    }
  }
}

function gitCommit(): string {
  const head = commandOutput('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']);
  if (head === null || head.includes('fatal')) return 'unknown';
  // BENCHMARKS.md itself is what a previous run left: not a change to the code measured.
  const dirty = commandOutput('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', '.', ':!BENCHMARKS.md']);
  return dirty ? `${head} (uncommitted changes)` : head;
}

/** How much slower the proxy core may run at its slowest than at its fastest before a run says so. */
const CORE_SPREAD_LIMIT = 1.2;

/**
 * Lines at the top when the run was disturbed: other processes or the hypervisor took CPU, or the
 * proxy core itself ran slower at times (the core probe's spread), which /proc cannot show.
 */
function disturbance(rows: Row[], summaries: Map<string, Summary>): string[] {
  const lines: string[] = [];
  const worst = Math.max(0, ...[...summaries.values()].map((s) => s.worstOtherLoad));
  if (worst > DISTURBED_LOAD) {
    lines.push(
      `**Disturbed run:** processes the bench did not start (or steal) took up to ${worst.toFixed(2)} cores during a repetition ` +
        '(per-repetition figures below). Compare ratios within this run only, and rerun on a quiet machine before quoting absolute numbers.',
      '',
    );
  }
  const jobs = [
    ['arithmetic', (p: CoreProbe) => p.aluMs],
    ['memory', (p: CoreProbe) => p.memoryMs],
    ['wake-ups', (p: CoreProbe) => p.wakeupMs],
  ] as const;
  for (const [job, pick] of jobs) {
    const spread = coreSpeedSpread(rows.flatMap((r) => r.reps.map((rep) => (rep.coreProbe ? pick(rep.coreProbe) : null))));
    if (spread === null || spread.ratio <= CORE_SPREAD_LIMIT) continue;
    lines.push(
      `**The proxy core's speed varied (${job}):** that job of \`bench/core-speed.ts\` took ${spread.fastestMs.toFixed(1)}–${spread.slowestMs.toFixed(1)} ms ` +
        `of CPU before the repetitions (the slowest ${spread.ratio.toFixed(2)}× the fastest), so rows measured at different moments ` +
        'ran on a slower or faster machine. Ratios between rows move by as much; see "core probe ms" per repetition, and rerun.',
      '',
    );
  }
  return lines;
}

function renderMarkdown(machine: Machine, rows: Row[], summaries: Map<string, Summary>, goals: GoalResult[], pinnedRun: boolean): string {
  const s = settings;
  const lines: string[] = [];
  const names = rows.filter((r) => r.status === 'measured').map((r) => r.name);
  lines.push(
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.ts). The whole file is rewritten on every run: do not edit by hand. -->',
    '',
    `Run: ${machine.date}, commit ${machine.commit}.` +
      (flags.quick ? ' **Quick smoke run (`--quick`): too short to compare, do not quote these numbers.**' : ''),
    '',
    ...disturbance(rows, summaries),
    ...(process.env['BENCH_NOTE'] ? [`**Note from whoever ran it:** ${process.env['BENCH_NOTE']}`, ''] : []),
    '## Machine',
    '',
    markdownTable(
      ['what', 'value'],
      [
        ['CPUs (nproc)', `${machine.nproc} × ${machine.cpuModel}`],
        ['kernel (uname -r)', machine.kernel],
        ['node', machine.node],
        ['wrk', machine.wrk],
        ['nginx', machine.nginx],
      ],
      99,
    ),
    '',
    '## Method',
    '',
    pinnedRun
      ? '- **Pinning.** Each proxy under test runs alone on core 0 (`taskset -c 0`); wrk and the upstream share core 1 ' +
          '(`taskset -c 1`). For the proxy rows the proxy is the bottleneck being measured. For `direct` there is no proxy: ' +
          'what is measured is the upstream itself, sharing core 1 with wrk, so `direct` is the ceiling of core 1, not a proxy result.'
      : '- **Pinning.** NOT pinned on this run (taskset missing or fewer than 2 CPUs): numbers are not comparable with pinned runs.',
    `- **Load.** \`wrk -t1 -c${s.connections} -d${s.durationSec}s --latency -s bench/wrk-percentiles.lua http://127.0.0.1:PORT/\`: GET /, answered by ` +
      '`bench/upstream.ts` (single node:http process) with a fixed 92-byte JSON body, Content-Length, keep-alive.',
    '- **Peers.** `fast-gateway` and `reply-from` are set up as their own READMEs show for proxying, with their documented ' +
      'keep-alive upstream pools and nothing else (`bench/fast-gateway-proxy.ts`, `bench/reply-from-proxy.ts`; devDependencies ' +
      'of the repository). fast-gateway\'s default `http` proxy type is fast-proxy-lite, whose pool is a keep-alive `http.Agent`; ' +
      'its docs offer undici only through the legacy `http-legacy` type (fast-proxy, not installed by default), so that is not the recommended setup.',
    '- **Tail.** p99.9 comes from wrk\'s own latency histogram, printed by `bench/wrk-percentiles.lua` (the `--latency` block stops at p99). ' +
      'wrk measures from when it sends a request, so a stalled proxy delays later requests without counting them (no coordinated-omission correction).',
    '- **GC.** Every Node target is started with `NODE_OPTIONS=--import=bench/gc-observer.ts`, which sums perf_hooks \'gc\' entries of ' +
      'the process\'s main heap; the runner asks each Node process of the target (SIGUSR2) for its totals before and after each ' +
      'repetition. "GC pause ms per rep" is the sum of pause durations during one repetition over all of the target\'s processes ' +
      '(median of the repetitions; the number of pauses in parentheses); "longest GC pause" is the longest single pause in any ' +
      'repetition. "promoted B/req" is what the main heap\'s minor GCs moved to the old generation during the repetition (a ' +
      '`v8.GCProfiler`: old space\'s used size after each scavenge minus before it), per request: tens of bytes when requests die ' +
      'young, kilobytes when finished requests are kept alive and promoted, which is what makes scavenges long. It counts bytes, ' +
      'so a slow or disturbed machine changes it little. ' +
      'Not included: the heaps of plugin isolates (isolated-vm isolates are separate V8 heaps that perf_hooks does not see).',
    `- **\`--workers 2\`.** The machine has ${machine.nproc} cores and the load generator needs one. The \`isogate-workers-2\` row is pinned to ` +
      `every core (\`taskset -c 0-${machine.nproc - 1}\`): its primary and two workers share core 1 with wrk and the upstream, at the same ` +
      `${s.connections} connections as every other row; the kernel balances them. It shows what a second worker adds when the only other ` +
      'core is also the load generator\'s, not what two dedicated cores give (that needs a third core for wrk).',
    `- **Node flags.** ${s.nodeFlags.length ? `\`${s.nodeFlags.join(' ')}\` on every node process started by the bench (BENCH_NODE_FLAGS).` : 'none (defaults); BENCH_NODE_FLAGS was empty.'}`,
    `- **Procedure.** All targets are started once and kept running (the idle ones sit on core 0 while another is measured). ` +
      `Each gets a ${s.warmupSec} s warm-up run (discarded), then ${s.reps} repetition(s) of ${s.durationSec} s, interleaved ` +
      `(rep 1: ${names.join(', ')}; rep 2: the same order; …). The table shows the median over the repetitions of each column.`,
    '- **CPU µs/req.** CPU seconds (utime + stime, plus cutime + cstime of reaped children) of the target\'s process tree ' +
      '(the process and its live descendants, from `/proc/<pid>/stat`, clock ticks ÷ `getconf CLK_TCK`), sampled before and ' +
      'after each repetition, × 10⁶ ÷ completed requests. For single-process targets that is just the process; for nginx it ' +
      'is master + worker. For `direct` it is the upstream\'s CPU.',
    '- **Errors.** wrk socket errors (connect, read, write, timeout) plus "Non-2xx or 3xx responses". A row with any error in a ' +
      'measured repetition is marked INVALID.',
    '- **Noise.** Per repetition, "target core use" is the target\'s CPU ÷ wall time (≈ 100 % when the proxy is the ' +
      'bottleneck), and "other procs + steal" is the machine\'s busy time (`/proc/stat`) minus the CPU of everything the ' +
      'bench started, in cores: anything above ~0.05 means other processes or the hypervisor disturbed that repetition. ' +
      '"core probe ms" is the CPU time three fixed jobs (`bench/core-speed.ts`: integer arithmetic, dependent reads ' +
      'through 32 MiB, 2,000 one-byte round trips with a process on the load core) took on the proxy core just before the ' +
      'repetition: a host that slows the core, its memory or its wake-ups shows neither steal nor other processes, but it shows there.',
    '- **Correctness gate.** Before measuring, `GET /` through each target must return 200 with the upstream\'s exact body.',
    '',
    '## Key ratios',
    '',
    'Medians of the same run; "req/s ratio" above 1 and "CPU µs/req ratio" below 1 favour the first row of the comparison.',
    '',
    markdownTable(RATIO_HEADER, ratioCells(RATIOS, summaries), 1, RATIO_HEADER.length),
    '',
    '## Results',
    '',
    markdownTable(SUMMARY_HEADER, summaryCells(rows, summaries), 1, SUMMARY_HEADER.length - 1),
    '',
  );
  for (const row of rows) {
    lines.push(`- \`${row.name}\`: ${row.description}.${row.notes.length ? ` ${row.notes.map((n) => `${n[0]!.toUpperCase()}${n.slice(1)}.`).join(' ')}` : ''}${row.reason && row.status === 'measured' ? ` ${row.reason}.` : ''}`);
  }
  lines.push(
    '',
    '### Per-repetition raw numbers',
    '',
    markdownTable(REP_HEADER, repCells(rows, s.reps), 2, REP_HEADER.length),
    '',
    '## Targets',
    '',
    markdownTable(
      ['goal', 'measured (medians)', 'result'],
      goals.map((g) => [g.goal.label, g.measured, `**${g.verdict}**${g.reason ? ` (${g.reason})` : ''}`]),
      99,
    ),
    '',
  );
  return lines.join('\n');
}

// ---- plugin hook crossing micro-benchmark ----------------------------------

// Issue 14: a hook crossing (encode, one call into the isolate, decode, apply) at most 4 µs of CPU.
const HOOK_CROSSING_GOAL_US = 4;

interface HookCrossing {
  calls: number;
  rounds: number;
  chainWithPluginUs: number;
  chainWithoutUs: number;
  hookCpuUs: number;
  /** The same hook in an isolate without the sandbox's globals (URL, crypto, console…). */
  hookCpuUsNoGlobals: number;
  /** examples/plugins/webhook-signature.ts verifying a 1 KiB body (crypto.subtle HMAC, an async hook). */
  hmacHookCpuUs: number;
  /** bench/plugins/set-header-async.ts: the same hook written `async`, awaiting nothing. */
  asyncHookCpuUs: number;
  startRounds: number;
  /** A plugin's load (isolate, context, prelude, sandbox, bundle, options): the sandbox from its code cache, compiled cold, and left out. */
  startMsCached: number;
  startMsCold: number;
  startMsNoGlobals: number;
  /** Bundling the sandbox and making its code cache, once per process. */
  sandboxBuildMs: number;
}

/** A hook that does not use the globals must not pay for them: within noise of the same hook without them. */
const GLOBALS_HOOK_SLACK = { ratio: 1.1, us: 0.5 };
/** Starting a plugin isolate with the globals, from the code cache, against starting it without them. */
const GLOBALS_START_RATIO = 1.5;

/** Run bench/hook-crossing.ts on the proxy core; null (with a message) when it fails. */
function measureHookCrossing(pinned: boolean): HookCrossing | null {
  const result = runMicroBenchmark<HookCrossing>('hook-crossing.ts', 'hook crossing', pinned, { BENCH_HOOK_CALLS: '2000', BENCH_HOOK_ROUNDS: '3', BENCH_START_ROUNDS: '5' });
  if (result) log(`bench: hook crossing ${result.hookCpuUs.toFixed(1)} µs CPU per hook`);
  return result;
}

/**
 * Run a micro-benchmark script of bench/ on the proxy core (pinned) and parse the one JSON line
 * it prints last; null, with a message, when it fails. `quickEnv` shortens it under --quick.
 */
function runMicroBenchmark<T>(script: string, what: string, pinned: boolean, quickEnv: Record<string, string>): T | null {
  const args = [process.execPath, join(REPO_ROOT, 'bench', script)];
  try {
    const out = execFileSync(pinned ? 'taskset' : args[0]!, pinned ? ['-c', '0', ...args] : args.slice(1), {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, ...(flags.quick ? quickEnv : {}) },
    });
    return JSON.parse(out.trim().split('\n').pop() ?? '') as T;
  } catch (error) {
    log(`bench: ${what} micro-benchmark failed: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

// ---- plugin chains: what a shared isolate would save ------------------------

interface ChainCrossing {
  calls: number;
  rounds: number;
  sizes: number[];
  /** CPU µs per request by variant and chain length (`separate-3`, `batched-3`…), medians. */
  us: Record<string, number>;
}

/** Run bench/chain-crossing.ts on the proxy core; null (with a message) when it fails. */
function measureChainCrossing(pinned: boolean): ChainCrossing | null {
  const result = runMicroBenchmark<ChainCrossing>('chain-crossing.ts', 'chain crossing', pinned, { BENCH_CHAIN_CALLS: '2000', BENCH_CHAIN_ROUNDS: '3' });
  if (result) log(`bench: chain crossing, 3 plugins: ${result.us['separate-3']?.toFixed(1)} µs in separate isolates, ${result.us['batched-3']?.toFixed(1)} µs batched in one`);
  return result;
}

/** The chain-crossing section of BENCHMARKS.md (and the console). */
function chainLines(c: ChainCrossing): string[] {
  const cell = (key: string) => (c.us[key] === undefined ? '—' : c.us[key].toFixed(1));
  return [
    '## Plugin chains: separate isolates, one shared isolate, one crossing',
    '',
    `bench/chain-crossing.ts, pinned to the proxy core: CPU µs per request for a chain of N onRequest hooks, each the SDK's real hook runtime around the bench plugin (sets one header), each answer applied on the host as the gateway does; median of ${c.rounds} interleaved rounds × ${c.calls} requests. "bare" hooks do nothing and read nothing: the crossing alone, the most batching could save.`,
    '',
    markdownTable(
      ['chain', 'separate isolates', 'one isolate, a context each', 'one isolate, one crossing (batched)', 'bare: separate', 'bare: batched'],
      c.sizes.map((n) => [`${n} plugin${n === 1 ? '' : 's'}`, cell(`separate-${n}`), cell(`contexts-${n}`), cell(`batched-${n}`), cell(`bare-separate-${n}`), cell(`bare-batched-${n}`)]),
      1,
      6,
    ),
    '',
  ];
}

// ---- lifetime: everything we start dies with us -----------------------------

const wrkPids = new Set<number>();

async function stopAll(): Promise<void> {
  await Promise.all(started.map((m) => stopProcess(m)));
}

function emergencyCleanup(): void {
  killAllSync('SIGKILL');
  for (const pid of wrkPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // finished
    }
  }
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

process.on('exit', emergencyCleanup);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    log(`\nbench: ${signal}, stopping children`);
    killAllSync('SIGTERM');
    setTimeout(() => process.exit(130), 500).unref();
  });
}

// Overall bound: start-up of every target + warm-ups + reps, with generous slack.
const boundMs =
  (TARGETS.length + 1) * (READY_TIMEOUT_MS + 5000) +
  TARGETS.length * (settings.warmupSec + settings.reps * settings.durationSec) * 1000 * 1.5 +
  60_000;
const bound = setTimeout(() => {
  log(`bench: exceeded the overall time bound of ${Math.round(boundMs / 1000)} s; stopping`);
  emergencyCleanup();
  process.exit(2);
}, boundMs);

main().then(
  () => {
    clearTimeout(bound);
  },
  (error: unknown) => {
    clearTimeout(bound);
    log(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    emergencyCleanup();
    process.exitCode = 1;
  },
);
