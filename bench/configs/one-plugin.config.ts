// Isogate with one user plugin (an onRequest hook that sets a header) on the catch-all route.
import { defineConfig, usePlugin } from '@isogate/sdk';

export default defineConfig({
  server: { host: '127.0.0.1', port: 0 },
  plugins: { p1: usePlugin<typeof import('../plugins/set-header.ts')>('../plugins/set-header.ts', {}) },
  routes: [{ path: '/*', upstream: process.env.BENCH_UPSTREAM!, middleware: ['p1'] }],
});
