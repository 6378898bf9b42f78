import { defineConfig, env, usePlugin } from '@isogate/sdk';

// The service behind the gateway. Point UPSTREAM_URL at yours: until something listens there,
// /api/* answers 502 with a JSON error (and /healthz answers 200).
const upstream = env('UPSTREAM_URL', 'http://127.0.0.1:3000');

export default defineConfig({
  server: {
    // ISOGATE_HOST=0.0.0.0 in a container (the Dockerfile sets it).
    host: env('ISOGATE_HOST', '127.0.0.1'),
    port: Number(env('ISOGATE_PORT', '8080')),
  },
  plugins: {
    // Your plugin, plugins/greeting.ts: TypeScript run in its own V8 isolate. The import names
    // it for the types (a wrong option is a type error here) and for the gateway; it is never
    // called in this file.
    greeting: usePlugin(() => import('./plugins/greeting.ts'), { header: 'x-greeting', value: 'hello from isogate' }),
  },
  routes: [
    // GET /api/users/1 is proxied to ${UPSTREAM_URL}/users/1, through the greeting plugin.
    { name: 'api', path: '/api/*', upstream, stripPrefix: '/api', middleware: ['greeting'] },
  ],
});
