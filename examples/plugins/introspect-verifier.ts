import { definePlugin, unavailable } from '@isogate/sdk';
import { z } from 'zod';

/**
 * A `verifier` for the `auth` built-in: checks an opaque (or any) bearer token against an OAuth 2.0
 * token-introspection endpoint (RFC 7662) through the sandbox's allow-listed `ctx.fetch`, and
 * returns the introspection answer as the request's claims. `auth` then applies its issuer,
 * audience, role and time checks to them, caches the answer (bounded by `exp` and its cache ttl),
 * fills `req.claims` / `{claims.sub}` and propagates claims to headers.
 *
 * @example
 * plugins: {
 *   introspect: usePlugin(() => import('./examples/plugins/introspect-verifier.ts'),
 *     { introspectionUrl: 'https://idp.example.com/oauth2/introspect', clientId: 'gateway', clientSecret: env('INTROSPECT_SECRET') },
 *     { fetch: { allow: ['https://idp.example.com'] } }),
 *   auth: { use: 'auth', options: { verifier: 'introspect', roles: { claim: 'scope', required: ['orders:read'] } } },
 * }
 */
export default definePlugin({
  name: 'introspect-verifier',
  version: '1.0.0',
  // z.url() needs the URL class, which plain V8 isolates do not have: a pattern instead.
  options: z.object({
    introspectionUrl: z.string().regex(/^https?:\/\/[^\s]+$/, 'expected an http(s) URL'),
    /** Client credentials for the endpoint (RFC 7662 §2.1 requires the caller to authenticate). */
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
  }),
  async verifier(token, ctx) {
    if (!ctx.fetch) throw new Error('introspect-verifier needs ctx.fetch: allow the introspection origin in the config');
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const { clientId, clientSecret } = ctx.options;
    if (clientId !== undefined) {
      // RFC 6749 §2.3.1: form-encode each part, then Basic.
      headers['authorization'] = `Basic ${base64(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret ?? '')}`)}`;
    }
    const res = await ctx.fetch(ctx.options.introspectionUrl, {
      method: 'POST',
      headers,
      body: `token=${encodeURIComponent(token)}&token_type_hint=access_token`,
    });
    // No verdict on the token: an outage or a misconfigured client (the client gets a 503, not a 401).
    // A ctx.fetch that fails (connection refused, timeout) counts the same way.
    if (res.status !== 200) throw unavailable(`the introspection endpoint answered ${res.status}`);
    const info = res.json() as Record<string, unknown> | null;
    if (info === null || typeof info !== 'object' || info['active'] !== true) return null;
    const { active: _active, ...claims } = info;
    return claims;
  },
});

/** Plain V8 isolates have no btoa: base64 of an ASCII string. */
function base64(ascii: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let out = '';
  for (let i = 0; i < ascii.length; i += 3) {
    const a = ascii.charCodeAt(i);
    const b = i + 1 < ascii.length ? ascii.charCodeAt(i + 1) : NaN;
    const c = i + 2 < ascii.length ? ascii.charCodeAt(i + 2) : NaN;
    out += alphabet[a >> 2];
    out += alphabet[((a & 3) << 4) | (Number.isNaN(b) ? 0 : b >> 4)];
    out += Number.isNaN(b) ? '=' : alphabet[((b & 15) << 2) | (Number.isNaN(c) ? 0 : c >> 6)];
    out += Number.isNaN(c) ? '=' : alphabet[c & 63];
  }
  return out;
}
