// Isogate with the production chain of built-ins on the catch-all route: JWT auth (HS256, the
// token wrk sends is signed by bench/targets.ts with BENCH_JWT_SECRET), a per-client rate limit
// high enough never to refuse, the access log written to a file, and Prometheus metrics.
import { defineConfig } from '@isogate/sdk';

export default defineConfig({
  server: { host: '127.0.0.1', port: 0 },
  plugins: {
    metrics: { use: 'metrics' },
    log: { use: 'logging', options: { file: process.env.BENCH_LOG_FILE! } },
    limit: { use: 'ratelimit', options: { points: 1_000_000_000, duration: '1s', key: 'ip' } },
    auth: { use: 'auth', options: { secret: process.env.BENCH_JWT_SECRET!, issuer: 'isogate-bench', audience: 'bench' } },
  },
  routes: [{ path: '/*', upstream: process.env.BENCH_UPSTREAM!, middleware: ['metrics', 'log', 'limit', 'auth'] }],
});
