import type { Duration } from '../config.ts';

/**
 * What a request is counted against:
 * - `'ip'`: the client address (through the configured trusted proxies); IPv6 clients per network
 *   of `ipv6Prefix` bits.
 * - `'global'`: one budget shared by every client (KrakenD's `max_rate`).
 * - `{ header }`: the value of a request header, e.g. an API key, trimmed and with whitespace
 *   runs collapsed; for `Authorization` the credential alone (the scheme in any case is dropped).
 *   A header sent more than once is counted by client IP (so repeating it cannot mint new keys).
 * - `{ claim }`: a verified claim, dotted for nested claims or as a list of segments when a claim
 *   name holds dots. The better key for authenticated clients. Every route listing the instance
 *   must run an `auth` instance before it, or the config fails to load.
 *
 * A request without the header or claim is counted by its client IP instead.
 * @example
 * const perClient: RatelimitKey = 'ip';
 * const perApiKey: RatelimitKey = { header: 'X-Api-Key' };
 * const perTenant: RatelimitKey = { claim: 'org.id' };
 * const namespaced: RatelimitKey = { claim: ['https://example.com/tenant'] };
 */
export type RatelimitKey = 'ip' | 'global' | { header: string } | { claim: string | string[] };

/**
 * Options of the built-in `ratelimit` plugin.
 *
 * Fixed windows with a burst reserve (rate-limiter-flexible's model), not a continuous token
 * bucket. Each key may make `points` requests per window of `duration` (the window opens with the
 * key's first request). Once the window is used up, up to `burst` more requests are allowed, and
 * that burst allowance refills once per `burstDuration`. Around a window boundary a key can get
 * `2 × points + burst` at once; over any time `T`, at most
 * `points × (⌈T / duration⌉ + 1) + burst × (⌈T / burstDuration⌉ + 1)`; refused requests answer
 * `429` with `Retry-After` and never reach the upstream.
 *
 * For a global limit and a per-client limit on one route, declare two instances and list the
 * per-client one first, so a request it refuses does not spend the global budget.
 * @example
 * const perClient: RatelimitPluginOptions = { points: 10, duration: '1s', burst: 20, key: 'ip' };
 * const fleetWide: RatelimitPluginOptions = { points: 1000, duration: '1s', key: 'global', redis: 'redis://127.0.0.1:6379' };
 */
export interface RatelimitPluginOptions {
  /** Requests allowed per key in each window. */
  points: number;
  /** Window length, whole seconds (`"1s"`, `"1m"`; a bare number is milliseconds: `60000`). Default `"1s"`. */
  duration?: Duration;
  /** Extra requests per key once the window is used up. Default 0. */
  burst?: number;
  /** How often the burst allowance refills, whole seconds. Default ten windows. Needs `burst`. */
  burstDuration?: Duration;
  /** What a request is counted against. Default `'ip'`. */
  key?: RatelimitKey;
  /** IPv6 clients are counted per network of this many leading bits (1–128). Default 64. */
  ipv6Prefix?: number;
  /**
   * `'instance'` (default): every route that lists this instance spends the same budget per key.
   * `'route'`: each route (by name) has its own budget per key.
   */
  scope?: 'instance' | 'route';
  /** Send `RateLimit-Limit`, `-Remaining`, `-Reset` on allowed responses too (429s always carry them). Default true. */
  headers?: boolean;
  /** Most keys the memory store (and the Redis insurance limiter) holds; the least recently seen goes first. Default 100000. */
  maxKeys?: number;
  /** Count in this Redis (`redis://` or `rediss://` URL) so every gateway process shares one exact limit. */
  redis?: string;
  /** Redis key prefix. Default `isogate:ratelimit:<instance name>`; give processes the same one to share a limit. */
  prefix?: string;
  /** A Redis command that takes longer counts as a failure. Default `"200ms"`. */
  redisTimeout?: Duration;
  /**
   * While Redis fails: `'insurance'` (default) limits in each process's memory with the same limits
   * (so N processes allow up to N times the limit), `'allow'` lets every request through, `'deny'`
   * refuses every request with 429.
   */
  onStoreError?: 'insurance' | 'allow' | 'deny';
}
