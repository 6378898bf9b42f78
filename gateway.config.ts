import { defineConfig, env, usePlugin } from '@isogate/sdk';

// The example gateway that `npm start` runs in front of the services in examples/upstreams.
const users = env('USERS_URL', 'http://127.0.0.1:3001');
const orders = env('ORDERS_URL', 'http://127.0.0.1:3002');
const billing = env('BILLING_URL', 'http://127.0.0.1:3003');
const preferences = env('PREFERENCES_URL', 'http://127.0.0.1:3004');
// Rate limits are per gateway process unless REDIS_URL points at a Redis they share.
const redis = () => (process.env['REDIS_URL'] ? { redis: process.env['REDIS_URL'] } : {});

export default defineConfig({
  server: {
    host: env('ISOGATE_HOST', '127.0.0.1'),
    port: Number(env('ISOGATE_PORT', '8080')),
    limits: { maxBodyBytes: '1mb' },
    timeouts: { shutdown: '10s' },
  },
  plugins: {
    // Observers first in the global middleware, so they see every request and every other plugin.
    metrics: { use: 'metrics', options: { path: '/metrics' } },
    // Traces go nowhere unless ISOGATE_TRACES_EXPORTER says otlp-http / otlp-grpc / console (OTEL_* variables are honoured).
    tracing: {
      use: 'tracing',
      options: { serviceName: 'isogate-example', exporter: env('ISOGATE_TRACES_EXPORTER', 'none') as 'none' | 'console' | 'otlp-http' | 'otlp-grpc' },
    },
    'access-log': { use: 'logging', options: { requestId: { trustIncoming: 'trusted-proxies' } } },
    // A per-client limit (by IP) and a limit for all clients together; REDIS_URL shares them across gateways.
    'per-client': { use: 'ratelimit', options: { points: 20, duration: '1s', burst: 40, key: 'ip', ...redis() } },
    'all-clients': { use: 'ratelimit', options: { points: 500, duration: '1s', key: 'global', ...redis() } },
    // Bearer JWTs signed with a shared secret: `npx isogate token --sub 1` prints one for development.
    auth: {
      use: 'auth',
      options: {
        // The development secret is public (it is in this file): in production the variable is required.
        secret: env('ISOGATE_JWT_SECRET', process.env['NODE_ENV'] === 'production' ? undefined : 'isogate-development-secret-change-me-0123456789'),
        issuer: 'isogate-dev',
        audience: 'isogate-example',
        propagate: [['sub', 'X-User-Id']],
      },
    },
    'powered-by': { use: 'headers', options: { response: { set: { 'x-powered-by': 'isogate' }, remove: ['server'] } } },
    'no-cookies': { use: 'headers', options: { request: { remove: ['cookie'] } } },
    // User plugins: TypeScript in their own V8 isolates, options type-checked against their schema.
    // The import names the plugin for the types and the gateway; it is never called here.
    'tag-orders': usePlugin(() => import('./examples/plugins/add-header.ts'), {
      name: 'x-gateway-plugin',
      value: 'add-header',
      strip: ['x-powered-by-upstream'],
    }),
    maintenance: usePlugin(() => import('./examples/plugins/maintenance.ts'), {
      enabled: env('MAINTENANCE', 'off') === 'on',
      bypassHeader: 'x-maintenance-bypass',
    }),
    // A plugin installed from npm (here a workspace package), referenced by its package name.
    'request-id': usePlugin(() => import('isogate-plugin-request-id'), { echo: true }),
  },
  middleware: ['metrics', 'tracing', 'access-log', 'per-client', 'all-clients', 'powered-by'],
  routes: [
    { name: 'users', path: '/api/users', methods: ['GET', 'POST'], upstream: users, stripPrefix: '/api' },
    { name: 'user', path: '/api/users/:id', methods: ['GET'], upstream: `${users}/users/{id}`, middleware: ['no-cookies'] },
    { name: 'orders', path: '/api/orders/*', upstream: orders, stripPrefix: '/api', middleware: ['request-id', 'maintenance', 'tag-orders'] },
    // Authenticated: the user id comes from the token, never from the client.
    { name: 'me', path: '/api/me', methods: ['GET'], upstream: `${users}/users/{claims.sub}`, middleware: ['auth'] },
    { name: 'echo', path: '/api/echo/*', upstream: orders, rewrite: '/echo/{*}' },
    // Aggregated: one call, three services called at once, their JSON shaped and merged into
    // { user: {...}, subscription_plan: 'pro', preferences: {...} }.
    {
      name: 'user-profile',
      path: '/api/v1/user-profile/:id',
      methods: ['GET'],
      backends: [
        { url: `${users}/users/{id}`, group: 'user' },
        { url: `${billing}/subscriptions/{id}`, allow: ['plan'], mapping: { plan: 'subscription_plan' } },
        { url: `${preferences}/preferences/{id}`, group: 'preferences', timeout: '2s' },
      ],
      aggregate: { partial: 'flag' },
    },
    // Server-sent events: no idle timeout on the stream. The path comes from `rewrite`: a path in the
    // upstream URL would be a prefix put before the request's (/events/api/events).
    { name: 'events', path: '/api/events', methods: ['GET'], upstream: orders, rewrite: '/events', timeout: { idle: 0 } },
  ],
});
