import type { ByteSize, Duration } from '../config.ts';

/**
 * What a cache entry is keyed on, besides the route, the normalised path and the caller's
 * identity (see {@link CachePluginOptions.identity}).
 * @example
 * const everyParam: CacheKeyOptions = {}; // every query parameter, in any order, and the Host
 * const paged: CacheKeyOptions = { query: ['page', 'per_page'], headers: ['Accept-Language'] };
 * const perApiKey: CacheKeyOptions = { headers: ['X-Api-Key'] };
 */
export interface CacheKeyOptions {
  /**
   * Query parameters in the key: `'all'` (default; their order does not matter), a list of names
   * (the others are still sent upstream, but do not tell entries apart), or `'none'`.
   */
  query?: 'all' | 'none' | string[];
  /**
   * Request headers whose values are in the key, e.g. an API key on a route where the upstream
   * authenticates. Listing `Authorization` keys entries on the credential itself; without it, a
   * request carrying `Authorization` on a route without `auth` before the cache bypasses it.
   */
  headers?: string[];
  /** The Host the client asked for is in the key. Default true. */
  host?: boolean;
}

/**
 * Options of the built-in `cache` plugin: a shared HTTP cache (RFC 9111) for GET and HEAD,
 * placed in a route's (or the global) `middleware` like any other plugin. What is after it in the
 * chain (the upstream, later plugins) is what it stores.
 *
 * - Honours the upstream's `Cache-Control` (`no-store` and `private` are never stored;
 *   `s-maxage`, then `max-age`, then `Expires` give the freshness, else `ttl`; `no-cache` stores
 *   for revalidation only; `stale-while-revalidate`; `must-revalidate`) and `Vary` (`Vary: *` is
 *   never stored). Never stores a response with `Set-Cookie`, nor a status outside `statuses`.
 * - Answers carry `Age` and `Cache-Status` (RFC 9211); `If-None-Match` and `If-Modified-Since`
 *   are answered 304 from the entry; a stale entry with an `ETag` or `Last-Modified` is
 *   revalidated with a conditional request.
 * - Concurrent misses for one key make one upstream call (`coalesce`).
 * - On a route where `auth` runs before it, entries are per caller (`identity`). Listing it
 *   *before* an `auth` instance is a config error: a hit would skip authentication.
 * - In memory (an LRU bounded by `maxBytes`), or in Redis shared by every gateway process
 *   (`redis`); while Redis fails, lookups are misses: never an error, never a wait past
 *   `redisTimeout`.
 * @example
 * const perCaller: CachePluginOptions = { ttl: '30s', staleWhileRevalidate: '10s' };
 * const fleetWide: CachePluginOptions = { ttl: '5m', key: { query: ['page'] }, redis: 'redis://127.0.0.1:6379' };
 * const negative: CachePluginOptions = { ttl: '1m', statuses: [200, 301, 404] };
 */
export interface CachePluginOptions {
  /**
   * How long a response is fresh when its upstream does not say (no `s-maxage`, `max-age` or
   * `Expires`). `0`: such responses are not stored. Default `"60s"`.
   */
  ttl?: Duration;
  /** No response is fresh for longer than this, whatever its upstream says (at least 1s). Default one day (`86400000`). */
  maxTtl?: Duration;
  /**
   * How long past its freshness an entry may still answer while one background request
   * refreshes it, when the upstream gives no `stale-while-revalidate`. Default 0.
   */
  staleWhileRevalidate?: Duration;
  /** Methods answered from the cache; a HEAD is answered from a stored GET. Default `['GET', 'HEAD']`. */
  methods?: ('GET' | 'HEAD')[];
  /** What entries are keyed on. */
  key?: CacheKeyOptions;
  /**
   * On routes where an `auth` instance runs before the cache: `'subject'` (default) keys every
   * entry on the verified `iss` and `sub` claims, so an answer given to one caller is never given
   * to another (a token without `sub` bypasses the cache); `'shared'` gives every authenticated
   * caller the same entries — only for answers that do not depend on who asks.
   */
  identity?: 'subject' | 'shared';
  /**
   * Statuses that may be stored (200–599, never 206 or 304). Default: every 2xx and 3xx but 206
   * and 304. Add `404` to cache "not found" answers.
   */
  statuses?: number[];
  /** Bodies larger than this stream through without being stored. Default `"1mb"`. */
  maxEntryBytes?: ByteSize;
  /** Memory store: bytes held at most (bodies, headers, keys); the least recently used entry goes first. Default `"64mb"`. */
  maxBytes?: ByteSize;
  /** Concurrent misses for one key wait for the first one's answer instead of each calling the upstream. Default true. */
  coalesce?: boolean;
  /** How long a coalesced request waits for the first one before it calls the upstream itself (1ms–60s). Default `"5s"`. */
  coalesceTimeout?: Duration;
  /** Keep entries in this Redis (`redis://` or `rediss://`), shared by every gateway process using the same `prefix`. */
  redis?: string;
  /** Redis key prefix. Default `isogate:cache:<instance name>`. */
  prefix?: string;
  /** A Redis command that takes longer fails (the lookup is a miss). Default `"200ms"`. */
  redisTimeout?: Duration;
}
