// Isogate with an empty middleware chain behind its own HTTPS listener: the plain row's route,
// with the throwaway certificate bench/targets.ts makes for the run (BENCH_TLS_CERT/KEY).
import { defineConfig } from '@isogate/sdk';

export default defineConfig({
  server: { host: '127.0.0.1', port: 0, tls: { cert: process.env.BENCH_TLS_CERT!, key: process.env.BENCH_TLS_KEY! } },
  routes: [{ path: '/*', upstream: process.env.BENCH_UPSTREAM! }],
});
