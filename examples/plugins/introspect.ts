import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * Checks a bearer token against an OAuth 2.0 token-introspection endpoint (RFC 7662) through the
 * sandbox's allow-listed `ctx.fetch`, and passes the subject upstream. The config must allow the
 * endpoint's origin: `usePlugin(..., { fetch: { allow: ['https://idp.example.com'] } })`.
 */
export default definePlugin({
  name: 'introspect',
  version: '1.0.0',
  // z.url() needs the URL class, which plain V8 isolates do not have: a pattern instead.
  options: z.object({ introspectionUrl: z.string().regex(/^https?:\/\/[^\s]+$/, 'expected an http(s) URL'), subjectHeader: z.string().default('x-user-id') }),
  async onRequest(req, ctx) {
    const auth = req.headers.get('authorization') ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!token) return { status: 401, headers: { 'www-authenticate': 'Bearer' }, body: { error: 'missing token' } };
    if (!ctx.fetch) throw new Error('introspect needs ctx.fetch: allow the introspection origin in the config');
    const res = await ctx.fetch(ctx.options.introspectionUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${encodeURIComponent(token)}`,
    });
    const info = res.status === 200 ? (res.json() as { active?: boolean; sub?: string }) : { active: false };
    if (!info.active) return { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' }, body: { error: 'invalid token' } };
    req.headers.delete(ctx.options.subjectHeader); // never trust a client-sent copy
    if (info.sub) req.headers.set(ctx.options.subjectHeader, info.sub);
    req.headers.delete('authorization');
  },
});
