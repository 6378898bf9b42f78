// Isogate with an empty middleware chain: one catch-all route to the bench
// upstream. The upstream URL comes from BENCH_UPSTREAM, set by bench/run.ts.
import { defineConfig } from '@isogate/sdk';

export default defineConfig({
  server: { host: '127.0.0.1', port: 0 },
  routes: [{ path: '/*', upstream: process.env.BENCH_UPSTREAM! }],
});
