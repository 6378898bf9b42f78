import type { GatewayRequest, HeaderMap } from '../../runtime/src/chain/types.ts';
import type { CacheOptions } from './options.ts';

/** Why a request is neither answered from the cache nor stored. */
export class Bypass {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

/** A request with credentials the key does not tell apart (see `compileKey`). */
export const BYPASS_AUTHORIZATION = new Bypass('authorization');
/** Authentication ran but gave no subject to key the entry on. */
export const BYPASS_NO_SUBJECT = new Bypass('no-subject');

export type KeyFunction = (req: GatewayRequest) => string | Bypass;

const SEP = '\u0000';

/** Keep the listed parameters, in a canonical order (by name, then as sent). */
function selectQuery(query: string, keep: ReadonlySet<string> | null): string {
  if (query === '') return '';
  const params = query.split('&').filter((p) => p !== '');
  const kept = keep === null ? params : params.filter((p) => {
    const eq = p.indexOf('=');
    const raw = eq === -1 ? p : p.slice(0, eq);
    let name = raw;
    try {
      name = decodeURIComponent(raw.replaceAll('+', ' '));
    } catch {
      // kept as sent
    }
    return keep.has(name);
  });
  if (kept.length < 2) return kept.join('&');
  // Sorted by name only (a stable sort keeps a repeated name's values in their order: a=2&a=1 ≠ a=1&a=2).
  return kept
    .map((p) => [p.split('=', 1)[0]!, p] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([, p]) => p)
    .join('&');
}

/** A header's value as the key sees it: repeated fields joined, whitespace runs collapsed; absent is distinct from empty. */
export function headerKeyValue(value: string | string[] | undefined): string {
  if (value === undefined) return '\u0001';
  return (Array.isArray(value) ? value.join(', ') : value).trim().replace(/\s+/g, ' ');
}

/**
 * The key of a request, for one route. It holds the route's name (a reload that moves a path to
 * another route starts afresh), the Host (unless `key.host` is false: an upstream that builds
 * links from `X-Forwarded-Host` must not have one client's host served to another), the
 * normalised path, the chosen query parameters and headers, and who is asking:
 *
 * - On a route where `auth` runs before the cache (`authenticated`), with `identity: 'subject'`,
 *   the verified `iss` and `sub` claims: one caller's entries are never another's. Verified
 *   claims without a `sub` bypass the cache. An anonymous request (auth with `optional: true`)
 *   shares the anonymous entries.
 * - Anywhere else, a request with an `Authorization` header bypasses the cache (RFC 9111 §3.5
 *   lets a shared cache reuse such answers only when the upstream says so; the gateway cannot
 *   tell the callers apart), unless `authorization` is one of `key.headers`, which keys on the
 *   credential itself.
 *
 * GET and HEAD share keys (a HEAD is answered from a stored GET).
 */
export function compileKey(options: Pick<CacheOptions, 'key' | 'identity'>, route: { name: string }, authenticated: boolean): KeyFunction {
  const { query, headers, host } = options.key;
  const keep = query === 'all' ? null : query === 'none' ? new Set<string>() : new Set(query);
  const ignoreQuery = query === 'none';
  const keyedOnAuthorization = headers.includes('authorization');
  const bySubject = authenticated && options.identity === 'subject';
  const routePart = `${route.name}${SEP}`;

  return function cacheKey(req) {
    let identity = '';
    if (bySubject) {
      const claims = req.claims;
      if (claims !== null) {
        const sub = claims['sub'];
        if (typeof sub !== 'string' && typeof sub !== 'number') return BYPASS_NO_SUBJECT;
        const iss = claims['iss'];
        identity = JSON.stringify([typeof iss === 'string' ? iss : '', String(sub)]);
      }
    } else if (!authenticated && !keyedOnAuthorization && req.headers['authorization'] !== undefined) {
      return BYPASS_AUTHORIZATION;
    }
    let key = routePart;
    if (host) {
      const h = req.headers['host'];
      key += typeof h === 'string' ? h.toLowerCase() : '';
    }
    key += SEP + req.path + SEP;
    if (!ignoreQuery) key += selectQuery(req.query, keep);
    for (const name of headers) key += SEP + headerKeyValue(req.headers[name]);
    return identity === '' ? key : key + SEP + identity;
  };
}

/** The key of one variant of a resource whose response varies on `names`. */
export function variantKey(key: string, generation: string, names: readonly string[], headers: HeaderMap): string {
  let out = `${key}${SEP}vary${SEP}${generation}`;
  for (const name of names) out += SEP + headerKeyValue(headers[name]);
  return out;
}
