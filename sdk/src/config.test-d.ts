/**
 * Type tests, checked by `tsc` as part of `npm test`: each `@ts-expect-error` line must be a type
 * error, or the compiler reports the directive as unused and the check fails.
 */
import { defineConfig, usePlugin } from './index.ts';

export const good = defineConfig({
  server: { port: 8080, timeouts: { headers: '10s', request: 30_000 }, limits: { maxBodyBytes: '2mb' }, underscoreHeaders: 'reject' },
  plugins: { h: { use: 'headers', options: { response: { set: { 'x-a': '1' } } } } },
  middleware: ['h'],
  routes: [{ path: '/users/:id', methods: ['GET'], upstream: ['http://a:1/users/{id}', 'http://b:1/users/{id}'], timeout: { connect: '2s' } }],
});

// @ts-expect-error routes are required
defineConfig({ server: {} });

defineConfig({
  // @ts-expect-error unknown top-level key
  rotues: [],
  routes: [],
});

defineConfig({
  // @ts-expect-error port is a number
  server: { port: '8080' },
  routes: [],
});

defineConfig({
  // @ts-expect-error a duration needs a unit
  server: { timeouts: { headers: '10 seconds' } },
  routes: [],
});

defineConfig({
  // @ts-expect-error methods are HTTP methods
  routes: [{ path: '/a', upstream: 'http://a:1', methods: ['FETCH'] }],
});

defineConfig({
  // @ts-expect-error the upstream is required
  routes: [{ path: '/a' }],
});

defineConfig({
  // @ts-expect-error unknown built-in plugin
  plugins: { x: { use: 'nope' } },
  routes: [],
});

defineConfig({
  // @ts-expect-error wrong option for the headers plugin
  plugins: { h: { use: 'headers', options: { request: { sett: {} } } } },
  routes: [],
});

// User plugins: options are checked against the plugin's own schema (a type-only import).
defineConfig({
  plugins: {
    ok: usePlugin<typeof import('../../examples/plugins/add-header.ts')>('./add-header.ts', { name: 'x-a', value: '1' }),
    // @ts-expect-error `name` must be a string
    bad: usePlugin<typeof import('../../examples/plugins/add-header.ts')>('./add-header.ts', { name: 1, value: '1' }),
    // @ts-expect-error `enabled` is required by the maintenance plugin's schema
    missing: usePlugin<typeof import('../../examples/plugins/maintenance.ts')>('./maintenance.ts', {}),
  },
  routes: [],
});

defineConfig({
  // @ts-expect-error a user plugin must go through usePlugin (so its options are typed)
  plugins: { raw: { use: './plugins/x.ts', options: {} } },
  routes: [],
});

// Circuit breaker, retries, health checks (per route; breaker and checks belong to the route's origins).
export const resilient = defineConfig({
  server: { health: { requireUpstreams: true } },
  routes: [
    {
      path: '/users/*',
      upstream: ['http://a:1', 'http://b:1'],
      circuitBreaker: { consecutiveFailures: 5, errorRate: { percent: 50, window: '10s' }, cooldown: '30s', halfOpenProbes: 2, failureStatuses: [502, 503] },
      retry: { attempts: 3, on: ['connect-failure', 'timeout'], statuses: [503], backoff: { base: '25ms', max: '1s' }, budget: { percent: 10, minRetries: 3, window: '10s' } },
      healthCheck: { path: '/healthz', interval: '5s', timeout: '1s', healthyThreshold: 2, unhealthyThreshold: 3 },
      timeout: { total: '3s' },
    },
  ],
});

defineConfig({
  // @ts-expect-error retries are on connect-failure, reset or timeout; statuses go in `statuses`
  routes: [{ path: '/a', upstream: 'http://a:1', retry: { on: ['5xx'] } }],
});

defineConfig({
  // @ts-expect-error the error rate needs its percent
  routes: [{ path: '/a', upstream: 'http://a:1', circuitBreaker: { errorRate: { window: '10s' } } }],
});

defineConfig({
  // @ts-expect-error a health check interval is a duration
  routes: [{ path: '/a', upstream: 'http://a:1', healthCheck: { interval: 'often' } }],
});
