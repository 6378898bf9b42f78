import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * Greets the upstream service: sets a header on each request that arrives without it, and says
 * so to the client in the response.
 *
 * This code runs in a V8 isolate inside the gateway, not in Node: no process, require, timers or
 * node: imports (ctx.fetch is its network). It has URL, TextEncoder/TextDecoder, atob/btoa,
 * structuredClone, crypto (subtle, randomUUID) and console.
 */
export default definePlugin({
  name: 'greeting',
  version: '0.1.0',
  options: z.object({
    header: z.string().min(1).default('x-greeting'),
    value: z.string().default('hello'),
  }),
  onRequest(req, ctx) {
    const { header, value } = ctx.options;
    if (req.headers.has(header)) return;
    req.headers.set(header, value);
    ctx.log.debug('greeting set', { header, route: req.routeName });
  },
  onResponse(res) {
    res.headers.set('x-greeted', 'yes');
  },
});
