import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * Rewrites JSON responses: removes configured fields (at the top level, or in each object of a
 * top-level array) and adds a `_gateway` field naming the route. Shows a plugin that reads and
 * changes a response body: `responseBody: 'json'` makes the gateway buffer the body (up to
 * `maxBodyBytes`) and hand it over parsed; editing it in place is enough for the change to be
 * sent. Bodies that are not JSON, or are compressed, arrive as `undefined` and pass unchanged.
 */
export default definePlugin({
  name: 'json-rewrite',
  version: '1.0.0',
  responseBody: 'json',
  maxBodyBytes: 256 * 1024,
  options: z.object({
    remove: z.array(z.string().min(1)).default([]),
    /** Name of the field added to each rewritten object; an empty string adds none. */
    stampField: z.string().default('_gateway'),
  }),
  onResponse(res, req, ctx) {
    const body = res.body;
    if (body === null || typeof body !== 'object') return;
    const rewrite = (value: unknown) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
      const record = value as Record<string, unknown>;
      for (const field of ctx.options.remove) delete record[field];
      if (ctx.options.stampField) record[ctx.options.stampField] = { route: req.routeName };
    };
    if (Array.isArray(body)) body.forEach(rewrite);
    else rewrite(body);
  },
});
