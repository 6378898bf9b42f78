import { execFileSync } from 'node:child_process';
// The rows of the benchmark. Adding a row is adding one entry to TARGETS
// (for another Isogate config: one isogateTarget(...) line plus the config
// file in bench/configs/), and a goal for it to GOALS if it has one.
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Ratio } from './report.ts';

export interface TargetContext {
  repoRoot: string;
  /** the port the target must listen on, on 127.0.0.1 */
  port: number;
  /** http://127.0.0.1:<upstream port> */
  upstreamUrl: string;
  /** a private temp directory for this target (configs, logs) */
  tmpDir: string;
  /** the Node 24 binary running the bench */
  nodeBin: string;
  /** extra node flags for every node process the bench starts (BENCH_NODE_FLAGS) */
  nodeFlags: string[];
}

export interface LaunchSpec {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** path polled with GET until it answers 200 (15 s timeout) */
  readyPath: string;
}

export interface Target {
  name: string;
  description: string;
  /** why the target cannot run on this machine, or null when it can */
  unavailable?: (ctx: TargetContext) => string | null;
  /**
   * How to start it. It is started once, pinned to the proxy core, and the CPU
   * of its process tree is measured. A target without launch is the upstream
   * itself (`direct`): wrk hits the upstream and the upstream's CPU is measured.
   */
  launch?: (ctx: TargetContext) => LaunchSpec;
  /** printed under the results table */
  note?: string;
  /** headers wrk sends with every request (e.g. a bearer token), computed once per run */
  requestHeaders?: () => Promise<Record<string, string>>;
  /** 'https': readiness, the correctness gate and wrk use TLS (a self-signed certificate; loopback only) */
  scheme?: 'http' | 'https';
  /** The body `GET /` must answer through this target, from the upstream's (default: exactly the upstream's) */
  expectedBody?: (upstreamBody: string) => string;
  /**
   * Cores the target may use: 'proxy' (default) is core 0 alone; 'all' is every core, shared with
   * wrk and the upstream on core 1 (the multi-worker row on a 2-core machine).
   */
  cores?: 'proxy' | 'all';
}

/** Throughput / latency goal of a target, relative to the `floor` row. */
export interface Goal {
  label: string;
  target: string;
  /** minimum req/s as a fraction of floor's req/s */
  minThroughputRatio: number;
  /** maximum p99 above the baseline's p99, in ms (no p99 goal when absent) */
  maxP99DeltaMs?: number;
  /** the row compared with (default: BASELINE, the floor) */
  baseline?: string;
  /** maximum CPU µs per request as a fraction of the baseline's (no CPU goal when absent) */
  maxCpuRatio?: number;
}

/** The row every other row is compared with ("vs floor" columns). */
export const BASELINE = 'floor';

export const ISOGATE_BIN = 'runtime/bin/isogate.mjs';

export function isogateTarget(
  name: string,
  description: string,
  configFile: string,
  extra: Partial<Target> & { env?: (ctx: TargetContext) => Record<string, string>; args?: string[] } = {},
): Target {
  const { env: extraEnv, args: extraArgs = [], ...rest } = extra;
  return {
    name,
    description: `${description} (\`${configFile}\`)`,
    unavailable: (ctx) => {
      if (!existsSync(join(ctx.repoRoot, ISOGATE_BIN))) return `not available: ${ISOGATE_BIN} missing`;
      if (!existsSync(join(ctx.repoRoot, configFile))) return `not available: ${configFile} missing`;
      return null;
    },
    launch: (ctx) => ({
      command: ctx.nodeBin,
      args: [
        ...ctx.nodeFlags,
        join(ctx.repoRoot, ISOGATE_BIN),
        'start',
        '--config',
        join(ctx.repoRoot, configFile),
        '--port',
        String(ctx.port),
        '--host',
        '127.0.0.1',
        ...extraArgs,
      ],
      env: { BENCH_UPSTREAM: ctx.upstreamUrl, ...extraEnv?.(ctx) },
      readyPath: '/healthz',
    }),
    ...rest,
  };
}

export function findOnPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Minimal nginx reverse proxy: 1 worker, keep-alive to clients and to the upstream, no logs. */
export function nginxConfig(dir: string, port: number, upstreamUrl: string): string {
  const upstream = new URL(upstreamUrl);
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 1024;
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;

  upstream bench_upstream {
    server ${upstream.hostname}:${upstream.port};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }

  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

const nginxTarget: Target = {
  name: 'nginx',
  description: 'nginx, 1 worker, keep-alive upstream (reference, generated config)',
  unavailable: () => (findOnPath('nginx') ? null : 'nginx not installed'),
  launch: (ctx) => {
    const dir = join(ctx.tmpDir, 'nginx');
    mkdirSync(dir, { recursive: true });
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConfig(dir, ctx.port, ctx.upstreamUrl));
    return {
      command: findOnPath('nginx') ?? 'nginx',
      args: ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')],
      readyPath: '/',
    };
  },
  note: 'master + 1 worker; CPU is summed over both',
};

export const TARGETS: Target[] = [
  {
    name: 'direct',
    description: 'wrk straight to the upstream (no proxy)',
    note: 'what is measured is the upstream itself, sharing core 1 with wrk; its CPU is the upstream\'s',
  },
  {
    name: 'floor',
    description: 'minimal node:http + undici.Pool proxy (`bench/floor-proxy.ts`)',
    launch: (ctx) => ({
      command: ctx.nodeBin,
      args: [...ctx.nodeFlags, join(ctx.repoRoot, 'bench/floor-proxy.ts'), '--port', String(ctx.port), '--upstream', ctx.upstreamUrl],
      readyPath: '/',
    }),
  },
  isogateTarget('isogate', 'Isogate, empty middleware chain', 'bench/configs/empty-chain.config.ts'),
  {
    name: 'fast-gateway',
    description: 'fast-gateway 5 as its README sets it up: one route, default `http` proxy type (fast-proxy-lite, keep-alive http.Agent) (`bench/fast-gateway-proxy.ts`)',
    launch: (ctx) => ({
      command: ctx.nodeBin,
      args: [...ctx.nodeFlags, join(ctx.repoRoot, 'bench/fast-gateway-proxy.ts'), '--port', String(ctx.port), '--upstream', ctx.upstreamUrl],
      readyPath: '/',
    }),
  },
  {
    name: 'reply-from',
    description: 'Fastify 5 + @fastify/reply-from 12 as its README sets it up: `base`, default undici Pool (128 connections, keep-alive), `reply.from()` (`bench/reply-from-proxy.ts`)',
    launch: (ctx) => ({
      command: ctx.nodeBin,
      args: [...ctx.nodeFlags, join(ctx.repoRoot, 'bench/reply-from-proxy.ts'), '--port', String(ctx.port), '--upstream', ctx.upstreamUrl],
      readyPath: '/',
    }),
  },
  isogateTarget('isogate-workers-2', 'Isogate, empty chain, `--workers 2` (node:cluster), on both cores', 'bench/configs/empty-chain.config.ts', {
    args: ['--workers', '2'],
    cores: 'all',
    note: 'on a 2-core machine there is no free core for the load: the primary and both workers may run on cores 0 and 1 (`taskset -c 0-1`, the kernel places them), ' +
      'and the second worker shares core 1 with wrk and the upstream, at the same wrk connection count as every other row; CPU is summed over primary + workers',
  }),
  isogateTarget('isogate-1-plugin', 'Isogate, one user plugin (onRequest sets a header, in its isolate)', 'bench/configs/one-plugin.config.ts'),
  isogateTarget('isogate-3-plugins', 'Isogate, three user plugins (three isolates, one onRequest each)', 'bench/configs/three-plugins.config.ts'),
  isogateTarget('isogate-3-shared', "Isogate, the same three plugins as one shared group (`isolation: 'shared'`: one isolate, one crossing for the three hooks)", 'bench/configs/three-plugins-shared.config.ts'),
  isogateTarget('isogate-builtins', 'Isogate, built-ins metrics + logging (to a file) + ratelimit + auth (HS256, one token reused)', 'bench/configs/builtins-chain.config.ts', {
    env: (ctx) => ({ BENCH_JWT_SECRET, BENCH_LOG_FILE: join(ctx.tmpDir, 'access.log') }),
    requestHeaders: async () => ({ authorization: `Bearer ${await benchToken()}` }),
  }),
  isogateTarget('isogate-https', 'Isogate, empty chain, HTTPS (TLS 1.3, keep-alive, HTTP/1.1 as wrk speaks it)', 'bench/configs/empty-chain-https.config.ts', {
    scheme: 'https',
    unavailable: () => (findOnPath('openssl') ? null : 'not available: openssl is needed for the bench certificate (apt-get install -y openssl)'),
    env: (ctx) => benchCertificate(ctx.tmpDir),
  }),
  {
    name: 'aggregate-floor',
    description: 'minimal node:http + undici aggregation: three GETs with Promise.all, merged (`bench/aggregate-floor.ts`)',
    launch: (ctx) => ({
      command: ctx.nodeBin,
      args: [...ctx.nodeFlags, join(ctx.repoRoot, 'bench/aggregate-floor.ts'), '--port', String(ctx.port), '--upstream', ctx.upstreamUrl],
      readyPath: '/',
    }),
    expectedBody: aggregatedBody,
  },
  isogateTarget('isogate-cache-hit', 'Isogate, the cache built-in answering every request from memory (one URL, stored on the first request)', 'bench/configs/cache-hit.config.ts'),
  isogateTarget('isogate-aggregate', 'Isogate, one route aggregating three backend GETs (grouped, merged)', 'bench/configs/aggregate.config.ts', { expectedBody: aggregatedBody }),
  nginxTarget,
];

/** What both aggregation rows answer: the upstream's JSON three times, under a, b and c. */
function aggregatedBody(upstreamBody: string): string {
  const answer = JSON.parse(upstreamBody) as unknown;
  return JSON.stringify({ a: answer, b: answer, c: answer });
}

/** A throwaway self-signed certificate for the HTTPS row, made once per run in its temp directory. */
function benchCertificate(dir: string): Record<string, string> {
  const cert = join(dir, 'bench.crt');
  const key = join(dir, 'bench.key');
  if (!existsSync(cert)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  }
  return { BENCH_TLS_CERT: cert, BENCH_TLS_KEY: key };
}

/** The ratios BENCHMARKS.md lists first and the README quotes. */
export const RATIOS: Ratio[] = [
  { label: 'empty chain vs floor', target: 'isogate', baseline: 'floor' },
  { label: 'empty chain vs fast-gateway', target: 'isogate', baseline: 'fast-gateway' },
  { label: 'empty chain vs @fastify/reply-from', target: 'isogate', baseline: 'reply-from' },
  { label: 'empty chain vs nginx', target: 'isogate', baseline: 'nginx' },
  { label: 'one plugin vs empty chain', target: 'isogate-1-plugin', baseline: 'isogate' },
  { label: 'three plugins vs empty chain', target: 'isogate-3-plugins', baseline: 'isogate' },
  { label: 'three plugins, shared group, vs empty chain', target: 'isogate-3-shared', baseline: 'isogate' },
  { label: 'built-ins chain vs empty chain', target: 'isogate-builtins', baseline: 'isogate' },
  { label: '`--workers 2` vs one worker', target: 'isogate-workers-2', baseline: 'isogate' },
  { label: 'fast-gateway vs floor', target: 'fast-gateway', baseline: 'floor' },
  { label: '@fastify/reply-from vs floor', target: 'reply-from', baseline: 'floor' },
];

// Issue 14's goals, each against a row measured in the same run.
export const GOALS: Goal[] = [
  {
    label: 'Isogate empty chain ≥ 1.0× floor throughput, CPU per request ≤ floor\'s, p99 ≤ floor + 1 ms',
    target: 'isogate',
    minThroughputRatio: 1.0,
    maxCpuRatio: 1.0,
    maxP99DeltaMs: 1,
  },
  {
    label: 'Isogate empty chain ≥ 1.2× fast-gateway throughput',
    target: 'isogate',
    baseline: 'fast-gateway',
    minThroughputRatio: 1.2,
  },
  {
    label: 'Isogate empty chain ≥ 1.2× @fastify/reply-from throughput',
    target: 'isogate',
    baseline: 'reply-from',
    minThroughputRatio: 1.2,
  },
  {
    label: 'Moonshot: Isogate empty chain ≥ 0.6× nginx throughput (1 worker, same core)',
    target: 'isogate',
    baseline: 'nginx',
    minThroughputRatio: 0.6,
  },
  {
    label: '`--workers 2` ≥ 1.4× one worker (empty chain; see the row\'s note on cores)',
    target: 'isogate-workers-2',
    baseline: 'isogate',
    minThroughputRatio: 1.4,
  },
  {
    label: 'One onRequest user plugin ≥ 0.90× the empty chain throughput',
    target: 'isogate-1-plugin',
    baseline: 'isogate',
    minThroughputRatio: 0.9,
  },
  {
    label: 'One onRequest user plugin: p99 ≤ floor + 1 ms',
    target: 'isogate-1-plugin',
    minThroughputRatio: 0,
    maxP99DeltaMs: 1,
  },
  {
    label: 'Three user plugins in separate isolates ≥ 0.70× the empty chain throughput',
    target: 'isogate-3-plugins',
    baseline: 'isogate',
    minThroughputRatio: 0.7,
  },
  {
    label: 'Three user plugins in a shared group ≥ 0.80× the empty chain throughput',
    target: 'isogate-3-shared',
    baseline: 'isogate',
    minThroughputRatio: 0.8,
  },
  {
    label: 'Built-ins auth + ratelimit + logging + metrics ≥ 70% of the empty chain throughput',
    target: 'isogate-builtins',
    baseline: 'isogate',
    minThroughputRatio: 0.7,
  },
  {
    label: 'Built-ins chain: p99 ≤ floor + 2 ms',
    target: 'isogate-builtins',
    minThroughputRatio: 0,
    maxP99DeltaMs: 2,
  },
  {
    label: 'Three-backend aggregation ≥ 85% of the minimal Node aggregation floor throughput',
    target: 'isogate-aggregate',
    baseline: 'aggregate-floor',
    minThroughputRatio: 0.85,
  },
  {
    label: 'A cache hit costs ≤ 50% of the CPU per request of a proxied request (empty chain)',
    target: 'isogate-cache-hit',
    baseline: 'isogate',
    minThroughputRatio: 0,
    maxCpuRatio: 0.5,
  },
];

/** The bench's HS256 secret (a fixed development value: nothing here leaves 127.0.0.1). */
const BENCH_JWT_SECRET = 'isogate-bench-secret-0123456789abcdef-0123456789';

/**
 * One token for the whole run, as a client reusing its access token does: the auth built-in's
 * verified-token cache serves it after the first request (BENCHMARKS.md says so).
 */
async function benchToken(): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({ sub: 'bench-user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('isogate-bench')
    .setAudience('bench')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(BENCH_JWT_SECRET));
}
