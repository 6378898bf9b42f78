// Isogate with the cache built-in on the catch-all route: the first GET / is stored (the bench
// upstream sends no Cache-Control, so the instance ttl applies), every later one is a hit answered
// from memory without an upstream call. Compared with the empty chain's CPU per request (a goal in
// bench/targets.ts). The upstream URL comes from BENCH_UPSTREAM, set by bench/run.ts.
import { defineConfig } from '@isogate/sdk';

export default defineConfig({
  server: { host: '127.0.0.1', port: 0 },
  plugins: {
    cache: { use: 'cache', options: { ttl: '60m' } },
  },
  routes: [{ path: '/*', upstream: process.env.BENCH_UPSTREAM!, middleware: ['cache'] }],
});
