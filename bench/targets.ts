// The rows of the benchmark. Adding a row is adding one entry to TARGETS
// (for another Isogate config: one isogateTarget(...) line plus the config
// file in bench/configs/), and a goal for it to GOALS if it has one.
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

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
}

/** The row every other row is compared with ("vs floor" columns). */
export const BASELINE = 'floor';

export const ISOGATE_BIN = 'runtime/bin/isogate.mjs';

export function isogateTarget(name: string, description: string, configFile: string, extra: Partial<Target> & { env?: (ctx: TargetContext) => Record<string, string> } = {}): Target {
  const { env: extraEnv, ...rest } = extra;
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
  isogateTarget('isogate-1-plugin', 'Isogate, one user plugin (onRequest sets a header, in its isolate)', 'bench/configs/one-plugin.config.ts'),
  isogateTarget('isogate-3-plugins', 'Isogate, three user plugins (three isolates, one onRequest each)', 'bench/configs/three-plugins.config.ts'),
  isogateTarget('isogate-builtins', 'Isogate, built-ins metrics + logging (to a file) + ratelimit + auth (HS256, one token reused)', 'bench/configs/builtins-chain.config.ts', {
    env: (ctx) => ({ BENCH_JWT_SECRET, BENCH_LOG_FILE: join(ctx.tmpDir, 'access.log') }),
    requestHeaders: async () => ({ authorization: `Bearer ${await benchToken()}` }),
  }),
  nginxTarget,
];

export const GOALS: Goal[] = [
  {
    label: 'Isogate empty chain ≥ 90% of floor throughput, p99 ≤ floor + 1 ms',
    target: 'isogate',
    minThroughputRatio: 0.9,
    maxP99DeltaMs: 1,
  },
  {
    label: 'Built-ins auth + ratelimit + logging + metrics ≥ 70% of the empty chain throughput',
    target: 'isogate-builtins',
    baseline: 'isogate',
    minThroughputRatio: 0.7,
  },
  {
    label: 'One onRequest user plugin ≥ 85% of the empty chain throughput',
    target: 'isogate-1-plugin',
    baseline: 'isogate',
    minThroughputRatio: 0.85,
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
