// Run wrk and parse its text output (wrk 4.x, run with --latency).
import { spawn } from 'node:child_process';

export interface WrkLatencyPercentiles {
  /** milliseconds, keyed by percentile: 50, 75, 90, 99 (--latency); 99.9 and 99.99 with the percentiles script */
  [percentile: number]: number;
}

export interface WrkSocketErrors {
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

export interface WrkResult {
  /** "Requests/sec:" line */
  requestsPerSec: number;
  /** "N requests in X, Y read" line */
  requests: number;
  /** seconds, from the same line */
  durationSec: number;
  /** "Latency Distribution" block, in ms */
  latencyMs: WrkLatencyPercentiles;
  /** Thread Stats average latency in ms */
  latencyAvgMs: number | null;
  /** longest request in ms ("bench-latency-max" line of the percentiles script), null without it */
  latencyMaxMs: number | null;
  socketErrors: WrkSocketErrors;
  /** "Non-2xx or 3xx responses:" line */
  non2xx3xx: number;
  /** socket errors + non-2xx/3xx responses */
  errors: number;
}

const TIME_UNITS_MS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parse a wrk duration such as "612.34us", "1.20ms", "2.00s", "1.50m" into milliseconds. */
export function parseWrkTime(text: string): number {
  const match = /^([0-9]*\.?[0-9]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new Error(`wrk: cannot parse time "${text}"`);
  return Number(match[1]) * TIME_UNITS_MS[match[2]!]!;
}

export function parseWrkOutput(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([0-9.]+)/m.exec(text);
  const total = /^\s*(\d+) requests in ([0-9.]+(?:us|ms|s|m|h)),/m.exec(text);
  if (!rps || !total) throw new Error(`wrk: unexpected output:\n${text}`);

  const latencyMs: WrkLatencyPercentiles = {};
  const distribution = /Latency Distribution\n((?:\s+[0-9.]+%\s+\S+\n?)+)/.exec(text);
  if (distribution) {
    for (const line of distribution[1]!.split('\n')) {
      const m = /^\s*([0-9.]+)%\s+(\S+)/.exec(line);
      if (m) latencyMs[Number(m[1])] = parseWrkTime(m[2]!);
    }
  }

  // Lines printed by bench/wrk-percentiles.lua (µs, from the full histogram): exact where the
  // --latency block rounds, and the only source of p99.9. They win over the block.
  for (const m of text.matchAll(/^bench-percentile ([0-9.]+) (\d+)$/gm)) {
    latencyMs[Number(m[1])] = Number(m[2]) / 1000;
  }
  const max = /^bench-latency-max (\d+)$/m.exec(text);
  const latencyMaxMs = max ? Number(max[1]) / 1000 : null;

  const avg = /^\s*Latency\s+(\S+)\s+/m.exec(text);
  let latencyAvgMs: number | null = null;
  if (avg) {
    try {
      latencyAvgMs = parseWrkTime(avg[1]!);
    } catch {
      latencyAvgMs = null;
    }
  }

  const socketErrors: WrkSocketErrors = { connect: 0, read: 0, write: 0, timeout: 0 };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (sock) {
    socketErrors.connect = Number(sock[1]);
    socketErrors.read = Number(sock[2]);
    socketErrors.write = Number(sock[3]);
    socketErrors.timeout = Number(sock[4]);
  }
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const non2xx3xx = non ? Number(non[1]) : 0;

  return {
    requestsPerSec: Number(rps[1]),
    requests: Number(total[1]),
    durationSec: parseWrkTime(total[2]!) / 1000,
    latencyMs,
    latencyAvgMs,
    latencyMaxMs,
    socketErrors,
    non2xx3xx,
    errors: socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout + non2xx3xx,
  };
}

export interface WrkOptions {
  url: string;
  durationSec: number;
  connections: number;
  threads?: number;
  /** CPU list for taskset -c; null runs wrk unpinned */
  cpu: string | null;
  /** kill wrk if it has not finished after this long (default duration + 30 s) */
  timeoutMs?: number;
  /** called with the child pid so the caller can kill it on abort */
  onSpawn?: (pid: number) => void;
  /** sent with every request (`-H 'name: value'`) */
  headers?: Record<string, string>;
  /** a wrk Lua script (`-s`), e.g. bench/wrk-percentiles.lua */
  script?: string;
}

export function wrkArgs(options: WrkOptions): { command: string; args: string[] } {
  const wrk = [
    `-t${options.threads ?? 1}`,
    `-c${options.connections}`,
    `-d${options.durationSec}s`,
    '--latency',
    ...(options.script ? ['-s', options.script] : []),
    ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    options.url,
  ];
  return options.cpu === null
    ? { command: 'wrk', args: wrk }
    : { command: 'taskset', args: ['-c', options.cpu, 'wrk', ...wrk] };
}

export function runWrk(options: WrkOptions): Promise<WrkResult & { raw: string }> {
  const { command, args } = wrkArgs(options);
  const timeoutMs = options.timeoutMs ?? options.durationSec * 1000 + 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wrk did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`wrk exited with code ${code}: ${stderr.trim() || stdout.trim()}`));
        return;
      }
      try {
        resolve({ ...parseWrkOutput(stdout), raw: stdout });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}
