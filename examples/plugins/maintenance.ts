import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * Short-circuits with 503 while maintenance is on, except for allow-listed client addresses or a
 * bypass header. Shows a plugin answering by itself: the upstream never sees the request.
 */
export default definePlugin({
  name: 'maintenance',
  version: '1.0.0',
  options: z.object({
    enabled: z.boolean(),
    retryAfterSeconds: z.number().int().positive().default(300),
    allowIps: z.array(z.string()).default([]),
    bypassHeader: z.string().optional(),
  }),
  onRequest(req, ctx) {
    const { enabled, retryAfterSeconds, allowIps, bypassHeader } = ctx.options;
    if (!enabled || allowIps.includes(req.clientIp)) return;
    if (bypassHeader && req.headers.has(bypassHeader)) {
      ctx.log.info('maintenance bypassed', { route: req.routeName });
      return;
    }
    return {
      status: 503,
      headers: { 'retry-after': String(retryAfterSeconds) },
      body: { error: { code: 'MAINTENANCE', message: 'down for maintenance, back soon' } },
    };
  },
});
