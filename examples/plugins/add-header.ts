import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/** Adds a header to every request on its way upstream, and removes internal ones from responses. */
export default definePlugin({
  name: 'add-header',
  version: '1.0.0',
  options: z.object({ name: z.string().min(1), value: z.string(), strip: z.array(z.string()).default([]) }),
  onRequest(req, ctx) {
    req.headers.set(ctx.options.name, ctx.options.value);
  },
  onResponse(res, _req, ctx) {
    for (const name of ctx.options.strip) res.headers.delete(name);
  },
});
