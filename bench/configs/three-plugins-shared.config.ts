// Isogate with three user plugins in one shared group (`isolation: 'shared'`: one isolate, a context
// each, one crossing for the three onRequest hooks) on the catch-all route.
import { defineConfig, usePlugin } from '@isogate/sdk';

const setHeader = () => usePlugin<typeof import('../plugins/set-header.ts')>('../plugins/set-header.ts', {}, { isolation: 'shared' });

export default defineConfig({
  server: { host: '127.0.0.1', port: 0 },
  plugins: { p1: setHeader(), p2: setHeader(), p3: setHeader() },
  routes: [{ path: '/*', upstream: process.env.BENCH_UPSTREAM!, middleware: ['p1', 'p2', 'p3'] }],
});
