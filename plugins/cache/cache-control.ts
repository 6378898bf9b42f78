/**
 * The parts of RFC 9111 a shared cache needs from a response's `Cache-Control`: what may be
 * stored, and for how long it is fresh. Unknown directives are ignored, as the RFC asks.
 */
export interface CacheControl {
  noStore: boolean;
  /** `no-cache`, qualified or not: stored, but never served without asking the upstream first. */
  noCache: boolean;
  /** `private`, qualified or not: a shared cache must not store it. */
  private: boolean;
  public: boolean;
  /** `must-revalidate` or `proxy-revalidate`: never served stale. */
  mustRevalidate: boolean;
  /** Seconds; an invalid value is 0 (RFC 9111 §4.2.1: treat it as stale). */
  maxAge: number | undefined;
  sMaxAge: number | undefined;
  staleWhileRevalidate: number | undefined;
}

const EMPTY: CacheControl = Object.freeze({
  noStore: false,
  noCache: false,
  private: false,
  public: false,
  mustRevalidate: false,
  maxAge: undefined,
  sMaxAge: undefined,
  staleWhileRevalidate: undefined,
});

/** delta-seconds: digits only; past 2^31 it is 2^31 (RFC 9111 §1.2.2). */
function deltaSeconds(value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) return 0;
  return Math.min(Number(value), 2 ** 31);
}

/** Split on commas outside quoted strings. */
function directives(value: string): string[] {
  if (!value.includes('"')) return value.split(',');
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

export function parseCacheControl(header: string | string[] | undefined): CacheControl {
  if (header === undefined) return EMPTY;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '') return EMPTY;
  const cc: CacheControl = { ...EMPTY };
  for (const part of directives(value)) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    let arg = eq === -1 ? undefined : part.slice(eq + 1).trim();
    if (arg !== undefined && arg.length >= 2 && arg.startsWith('"') && arg.endsWith('"')) arg = arg.slice(1, -1);
    switch (name) {
      case 'no-store':
        cc.noStore = true;
        break;
      case 'no-cache':
        cc.noCache = true;
        break;
      case 'private':
        cc.private = true;
        break;
      case 'public':
        cc.public = true;
        break;
      case 'must-revalidate':
      case 'proxy-revalidate':
        cc.mustRevalidate = true;
        break;
      // A repeated directive keeps its first value: conflicting copies are a broken upstream,
      // and the first is what most caches use.
      case 'max-age':
        cc.maxAge ??= deltaSeconds(arg);
        break;
      case 's-maxage':
        cc.sMaxAge ??= deltaSeconds(arg);
        break;
      case 'stale-while-revalidate':
        cc.staleWhileRevalidate ??= deltaSeconds(arg);
        break;
    }
  }
  return cc;
}

/** The field names a `Vary` lists, lower-cased; `['*']` when it holds `*`; empty when absent. */
export function varyNames(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const names = new Set<string>();
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '*') return ['*'];
    if (name !== '') names.add(name);
  }
  return [...names].sort();
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Settings of a cache instance that decide lifetimes (ms). */
export interface FreshnessSettings {
  /** Freshness of a response that states none; 0: such a response is not stored. */
  readonly ttlMs: number;
  readonly maxTtlMs: number;
  /** Stale-while-revalidate window when the upstream states none. */
  readonly staleWhileRevalidateMs: number;
}

/** When a stored response stops being fresh, stops being servable stale, and may be dropped. Epoch ms. */
export interface Lifetime {
  /** When the response was generated, as far as the cache knows: now minus the upstream's `Age`. */
  readonly storedAt: number;
  readonly freshUntil: number;
  /** The end of the stale-while-revalidate window (`freshUntil` when there is none). */
  readonly staleUntil: number;
  /**
   * How long the store keeps it: the stale window, and for a response with a validator (`ETag`,
   * `Last-Modified`) as long again as its freshness (at least `ttl`), so that it can be
   * revalidated with a conditional request (a 304 costs the upstream less than the body).
   */
  readonly keepUntil: number;
}

export type NotStored = 'no-store' | 'private' | 'no-cache' | 'set-cookie' | 'vary' | 'status' | 'stale';

/**
 * How long a response may be used, or why it cannot be stored. Freshness is `s-maxage`, else
 * `max-age`, else `Expires − Date`, else the instance's `ttl`, capped at `maxTtl`. `no-cache` makes
 * it stale at once (stored only with a validator, to be revalidated every time).
 */
export function lifetimeOf(headers: Readonly<Record<string, string | string[] | undefined>>, cc: CacheControl, now: number, settings: FreshnessSettings): Lifetime | NotStored {
  if (cc.noStore) return 'no-store';
  if (cc.private) return 'private';
  const hasValidator = headers['etag'] !== undefined || headers['last-modified'] !== undefined;

  let freshMs: number;
  if (cc.noCache) freshMs = 0;
  else if (cc.sMaxAge !== undefined) freshMs = cc.sMaxAge * 1000;
  else if (cc.maxAge !== undefined) freshMs = cc.maxAge * 1000;
  else {
    const expires = single(headers['expires']);
    if (expires !== undefined) {
      const at = Date.parse(expires);
      const date = Date.parse(single(headers['date']) ?? '');
      // An invalid Expires (often "0") means already expired (RFC 9111 §5.3).
      freshMs = Number.isNaN(at) ? 0 : Math.max(0, at - (Number.isNaN(date) ? now : date));
    } else freshMs = settings.ttlMs;
  }
  freshMs = Math.min(freshMs, settings.maxTtlMs);

  const ageSeconds = deltaSeconds(single(headers['age'])?.trim());
  const storedAt = now - ageSeconds * 1000;
  const freshUntil = storedAt + freshMs;
  const swrMs = cc.noCache || cc.mustRevalidate ? 0 : Math.min((cc.staleWhileRevalidate ?? settings.staleWhileRevalidateMs / 1000) * 1000, settings.maxTtlMs);
  const staleUntil = freshUntil + swrMs;
  const keepUntil = staleUntil + (hasValidator ? Math.max(freshMs, settings.ttlMs) : 0);
  if (keepUntil <= now) return cc.noCache ? 'no-cache' : 'stale';
  return { storedAt, freshUntil, staleUntil, keepUntil };
}
