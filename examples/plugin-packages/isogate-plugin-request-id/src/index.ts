import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

// A client-sent id is kept only if it looks like an id: it ends up in logs and upstream headers.
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id: keeps an acceptable one the client sent, otherwise sets a new
 * random one, before the request goes upstream. The id is put in `ctx.state.requestId` for the
 * plugins after this one, and (with `echo`) on the response so clients can quote it.
 */
export default definePlugin({
  name: 'isogate-plugin-request-id',
  version: '0.1.0',
  options: z.object({
    /** The header carrying the id. */
    header: z.string().min(1).default('x-request-id'),
    /** Keep an id the client sent (when it is 1–128 characters of `A-Z a-z 0-9 . _ : -`). */
    trustIncoming: z.boolean().default(true),
    /** Copy the id onto the response. */
    echo: z.boolean().default(true),
  }),
  onRequest(req, ctx) {
    const { header, trustIncoming } = ctx.options;
    const incoming = req.headers.getAll(header);
    let id = incoming.length === 1 && trustIncoming && ACCEPTABLE_ID.test(incoming[0]!) ? incoming[0]! : undefined;
    if (id === undefined) {
      // A version 4 UUID from the host's cryptographic generator (the sandbox's crypto global).
      id = crypto.randomUUID();
      req.headers.set(header, id);
      if (incoming.length > 0) ctx.log.debug('replaced a request id', { route: req.routeName });
    }
    ctx.state['requestId'] = id;
  },
  onResponse(res, req, ctx) {
    if (!ctx.options.echo) return;
    const id = ctx.state['requestId'];
    res.headers.set(ctx.options.header, typeof id === 'string' ? id : (req.headers.get(ctx.options.header) ?? ''));
  },
});
