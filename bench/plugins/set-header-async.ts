// The benchmark plugin as an `async` hook that awaits nothing: what a plugin author who writes
// `async onRequest` out of habit pays (bench/hook-crossing.ts).
import { definePlugin } from '@isogate/sdk';

export default definePlugin({
  name: 'bench-set-header-async',
  version: '1.0.0',
  async onRequest(req) {
    req.headers.set('x-bench-plugin', 'on');
  },
});
