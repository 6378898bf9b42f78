import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * While `enabled`, every request is answered 503 with Retry-After by the gateway itself, unless it
 * carries the bypass header (for the people checking the release). A local plugin: it reaches the
 * pods in the same ConfigMap as the config.
 */
export default definePlugin({
  name: 'maintenance',
  version: '1.0.0',
  options: z.object({
    enabled: z.boolean(),
    retryAfterSeconds: z.number().int().positive().default(120),
    bypassHeader: z.string().min(1).optional(),
  }),
  onRequest(req, ctx) {
    const { enabled, retryAfterSeconds, bypassHeader } = ctx.options;
    if (!enabled || (bypassHeader !== undefined && req.headers.has(bypassHeader))) return;
    return {
      status: 503,
      headers: { 'retry-after': String(retryAfterSeconds) },
      body: { error: { code: 'MAINTENANCE', message: 'down for maintenance' } },
    };
  },
});
