// The benchmark's user plugin: one onRequest hook that sets a header, the smallest real work a
// plugin does. Runs in its own isolate like any user plugin.
import { definePlugin } from '@isogate/sdk';

export default definePlugin({
  name: 'bench-set-header',
  version: '1.0.0',
  onRequest(req) {
    req.headers.set('x-bench-plugin', 'on');
  },
});
