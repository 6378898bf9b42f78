import { defineConfig, env, usePlugin } from '@isogate/sdk';

// The example gateway that `npm start` runs in front of the services in examples/upstreams.
const users = env('USERS_URL', 'http://127.0.0.1:3001');
const orders = env('ORDERS_URL', 'http://127.0.0.1:3002');

export default defineConfig({
  server: {
    host: env('ISOGATE_HOST', '127.0.0.1'),
    port: Number(env('ISOGATE_PORT', '8080')),
    limits: { maxBodyBytes: '1mb' },
    timeouts: { shutdown: '10s' },
  },
  plugins: {
    'powered-by': { use: 'headers', options: { response: { set: { 'x-powered-by': 'isogate' }, remove: ['server'] } } },
    'no-cookies': { use: 'headers', options: { request: { remove: ['cookie'] } } },
    // User plugins: TypeScript in their own V8 isolates, options type-checked against their schema.
    'tag-orders': usePlugin<typeof import('./examples/plugins/add-header.ts')>('./examples/plugins/add-header.ts', {
      name: 'x-gateway-plugin',
      value: 'add-header',
      strip: ['x-powered-by-upstream'],
    }),
    maintenance: usePlugin<typeof import('./examples/plugins/maintenance.ts')>('./examples/plugins/maintenance.ts', {
      enabled: env('MAINTENANCE', 'off') === 'on',
      bypassHeader: 'x-maintenance-bypass',
    }),
    // A plugin installed from npm (here a workspace package), referenced by its package name.
    'request-id': usePlugin<typeof import('isogate-plugin-request-id')>('isogate-plugin-request-id', { echo: true }),
  },
  middleware: ['powered-by'],
  routes: [
    { name: 'users', path: '/api/users', methods: ['GET', 'POST'], upstream: users, stripPrefix: '/api' },
    { name: 'user', path: '/api/users/:id', methods: ['GET'], upstream: `${users}/users/{id}`, middleware: ['no-cookies'] },
    { name: 'orders', path: '/api/orders/*', upstream: orders, stripPrefix: '/api', middleware: ['request-id', 'maintenance', 'tag-orders'] },
    { name: 'echo', path: '/api/echo/*', upstream: orders, rewrite: '/echo/{*}' },
    // Server-sent events: no idle timeout on the stream.
    { name: 'events', path: '/api/events', methods: ['GET'], upstream: `${orders}/events`, timeout: { idle: 0 } },
  ],
});
