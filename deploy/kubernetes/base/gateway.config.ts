import { defineConfig, env, usePlugin } from '@isogate/sdk';

// The config the Kubernetes manifests deploy. kustomize turns this file and plugins/ into the
// ConfigMap mounted at /app/config (kustomize reads no file outside its kustomization's
// directory, so the cluster's config lives here, not at the repository's root). What differs
// between clusters comes from the Deployment's environment; test/e2e/deploy loads this file, as
// mounted from the rendered ConfigMap, with that environment.

/** A comma-separated list from the environment ('' when unset). */
const list = (name: string) =>
  env(name, '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export default defineConfig({
  server: {
    host: '0.0.0.0',
    port: 8080,
    // The ingress or load balancer in front: their X-Forwarded-For names the client, which the
    // per-client rate limit and in-flight bound key on. Unset, every client behind one ingress pod
    // shares that pod's limits.
    trustedProxies: list('ISOGATE_TRUSTED_PROXIES'),
    // The Deployment's preStop sleep and terminationGracePeriodSeconds are sized from this.
    timeouts: { shutdown: '20s' },
    health: { liveness: '/healthz', readiness: '/readyz' },
  },
  plugins: {
    // Scrapes are allowed from the TCP peers listed (your Prometheus); anyone else gets 403.
    metrics: { use: 'metrics', options: { allow: ['127.0.0.1', ...list('ISOGATE_METRICS_ALLOW')] } },
    'access-log': { use: 'logging' },
    // One limit for all replicas: the counters live in the Redis at REDIS_URL. If Redis fails, each
    // replica limits on its own in memory until it is back.
    'per-client': { use: 'ratelimit', options: { points: 50, duration: '1s', burst: 100, key: 'ip', redis: env('REDIS_URL') } },
    // `kubectl set env deployment/isogate MAINTENANCE=on` rolls out replicas that answer 503.
    maintenance: usePlugin(() => import('./plugins/maintenance.ts'), {
      enabled: env('MAINTENANCE', 'off') === 'on',
      bypassHeader: 'x-maintenance-bypass',
    }),
  },
  middleware: ['metrics', 'access-log', 'per-client', 'maintenance'],
  routes: [{ name: 'api', path: '/api/*', upstream: env('UPSTREAM_URL'), stripPrefix: '/api' }],
});
