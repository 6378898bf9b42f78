/**
 * Type tests for plugins, checked by `tsc` as part of `npm test`: each `@ts-expect-error` line must
 * be a type error, or the compiler reports the directive as unused and the check fails. The valid
 * plugins at the top must compile, so the errors below come from what each one gets wrong.
 */
import { z } from 'zod';
import { definePlugin, usePlugin } from './index.ts';

// Valid: every hook, options from a schema, an async verifier, a direct response.
export const good = definePlugin({
  name: 'good',
  version: '1.0.0',
  options: z.object({ header: z.string(), enabled: z.boolean().default(true) }),
  requestBody: 'json',
  maxBodyBytes: 4096,
  onRequest(req, ctx) {
    if (!ctx.options.enabled) return { status: 503, body: { error: 'off' } };
    req.headers.set(ctx.options.header, req.params['id'] ?? '');
    req.path = '/v2' + req.path;
    ctx.state['seen'] = true;
    ctx.log.info('passed', { path: req.path });
  },
  async onResponse(res) {
    res.status = 200;
    res.headers.delete('server');
  },
  async verifier(token) {
    return token === 'ok' ? { sub: 'u1' } : null;
  },
});

// Valid: no options at all.
export const bare = definePlugin({ name: 'bare', version: '0.0.1', onRequest() {} });

// @ts-expect-error a plugin needs a version
definePlugin({ name: 'no-version', onRequest() {} });

// @ts-expect-error a plugin needs a name
definePlugin({ version: '1.0.0', onRequest() {} });

definePlugin({
  name: 'typo',
  version: '1.0.0',
  // @ts-expect-error unknown hook name (onRequests)
  onRequests() {},
});

definePlugin({
  name: 'bad-body',
  version: '1.0.0',
  // @ts-expect-error requestBody is 'text', 'json' or 'bytes'
  requestBody: 'xml',
});

definePlugin({
  name: 'bad-return',
  version: '1.0.0',
  // @ts-expect-error onRequest answers a response object or nothing, not a number
  onRequest() {
    return 42;
  },
});

definePlugin({
  name: 'bad-direct',
  version: '1.0.0',
  // @ts-expect-error a direct response's status is a number
  onRequest() {
    return { status: '403' };
  },
});

definePlugin({
  name: 'read-only',
  version: '1.0.0',
  onRequest(req) {
    // @ts-expect-error the method is read-only (a plugin changes path, query and headers)
    req.method = 'POST';
  },
});

definePlugin({
  name: 'bad-verifier',
  version: '1.0.0',
  // @ts-expect-error a verifier answers claims (an object) or null, not a boolean
  verifier() {
    return true;
  },
});

definePlugin({
  name: 'wrong-option',
  version: '1.0.0',
  options: z.object({ header: z.string() }),
  onRequest(req, ctx) {
    // @ts-expect-error an option the schema does not declare
    req.headers.set(ctx.options.heder, 'x');
  },
});

definePlugin({
  name: 'no-host',
  version: '1.0.0',
  onRequest(_req, ctx) {
    // @ts-expect-error ctx offers no process or host objects
    void ctx.process;
  },
});

// Options where the config uses the plugin: checked against the plugin's schema.
usePlugin<typeof import('../../examples/plugins/add-header.ts')>('../../examples/plugins/add-header.ts', { name: 'x-a', value: '1' });
// @ts-expect-error wrong option type for the plugin's schema
usePlugin<typeof import('../../examples/plugins/add-header.ts')>('../../examples/plugins/add-header.ts', { name: 'x-a', value: 1 });
