import type { Logger } from 'pino';
import { StoreOutage } from '../shared/store-outage.ts';
import type { MemoryStore } from './memory-store.ts';
import type { Decision, LimitStore } from './store.ts';

export type OutagePolicy = 'insurance' | 'allow' | 'deny';

/** No RateLimit headers: the gateway does not know the client's count. */
const UNKNOWN_ALLOWED: Decision = Object.freeze({ allowed: true, remaining: -1, resetMs: 0 });

/**
 * The Redis store behind the outage policy. When a Redis command fails (disconnected: at once;
 * stalled: after the command timeout), requests are answered by the policy:
 *
 * - `insurance` (default): a per-process memory limiter with the same limits answers. The limit
 *   then holds per gateway process instead of for the whole fleet: N processes let up to N times
 *   the limit through until Redis is back. Counts are not copied back to Redis.
 * - `allow`: every request passes, without RateLimit headers (fail open).
 * - `deny`: every request is refused with 429 and `Retry-After` (fail closed).
 *
 * After a slow failure (one that took `slowFailureMs` or more: a stalled Redis timing out), Redis is
 * left alone for `cooldownMs`, so a stalled Redis costs one command timeout per cooldown, not one
 * per request; the first request after the cooldown tries it again. A fast failure (disconnected,
 * not connected yet) costs nothing to retry, so the next request tries Redis again at once.
 * The outage and the recovery are logged once each, not per request.
 */
export class GuardedStore implements LimitStore {
  readonly #primary: LimitStore;
  readonly #policy: OutagePolicy;
  readonly #insurance: MemoryStore | null;
  readonly #denied: Decision;
  readonly #outage: StoreOutage;

  constructor(primary: LimitStore, options: { policy: OutagePolicy; insurance: MemoryStore | null; logger: Logger; cooldownMs: number; slowFailureMs: number }) {
    this.#primary = primary;
    this.#policy = options.policy;
    this.#insurance = options.insurance;
    this.#outage = new StoreOutage({
      logger: options.logger,
      cooldownMs: options.cooldownMs,
      slowFailureMs: options.slowFailureMs,
      downMessage: `rate limit store failed; answering with the ${options.policy} policy until it is back`,
      backMessage: 'rate limit store is back; limits are shared again',
      fields: { policy: options.policy },
    });
    this.#denied = Object.freeze({ allowed: false, remaining: 0, resetMs: Math.max(1_000, options.cooldownMs) });
    if (options.policy === 'insurance' && options.insurance === null) throw new Error('the insurance policy needs an insurance store');
  }

  /** True while Redis is considered down (tests and logs). */
  get outage(): boolean {
    return this.#outage.down;
  }

  consume(key: string): Decision | Promise<Decision> {
    if (this.#outage.resting()) return this.#fallback(key);
    return this.#consumePrimary(key);
  }

  async #consumePrimary(key: string): Promise<Decision> {
    const started = Date.now();
    try {
      const decision = await this.#primary.consume(key);
      this.#outage.succeeded();
      return decision;
    } catch (err) {
      this.#outage.failed(err, Date.now() - started);
      return this.#fallback(key);
    }
  }

  #fallback(key: string): Decision {
    if (this.#policy === 'insurance') return this.#insurance!.consume(key);
    return this.#policy === 'allow' ? UNKNOWN_ALLOWED : this.#denied;
  }
}
