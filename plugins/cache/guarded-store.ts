import type { Logger } from 'pino';
import { StoreOutage } from '../shared/store-outage.ts';
import type { CacheRecord, CacheStore } from './store.ts';

export interface GuardOptions {
  readonly logger: Logger;
  /** After a slow failure, Redis is left alone this long. */
  readonly cooldownMs: number;
  /** A failure that took this long or more is a stalled Redis (a command timeout), not a refused connection. */
  readonly slowFailureMs: number;
  /** Called on every failed command (the store-errors counter). */
  readonly onError?: () => void;
}

/**
 * A shared store behind the cache's outage policy: **a failing store is an empty one.** A lookup
 * that fails is a miss (the request goes upstream), a write or delete that fails is dropped; no
 * request ever gets an error or waits longer than one command timeout because of the store.
 *
 * As in the rate limiter (both use `StoreOutage`): after a slow failure (a stalled Redis timing out) the store is not asked
 * for `cooldownMs`, so a stalled Redis costs one timeout per cooldown rather than one per
 * request; a fast failure (disconnected: no offline queue) costs nothing, so the next request
 * tries again at once. The outage and the recovery are logged once each.
 */
export class GuardedStore implements CacheStore {
  readonly #store: CacheStore;
  readonly #onError: (() => void) | undefined;
  readonly #outage: StoreOutage;

  constructor(store: CacheStore, options: GuardOptions) {
    this.#store = store;
    this.#onError = options.onError;
    this.#outage = new StoreOutage({
      logger: options.logger,
      cooldownMs: options.cooldownMs,
      slowFailureMs: options.slowFailureMs,
      downMessage: 'cache store failed; lookups are misses until it is back',
      backMessage: 'cache store is back',
    });
  }

  /** True while the store is considered down. */
  get outage(): boolean {
    return this.#outage.down;
  }

  async get(key: string): Promise<CacheRecord | undefined> {
    if (this.#outage.resting()) return undefined;
    const started = Date.now();
    try {
      const record = await this.#store.get(key);
      this.#outage.succeeded();
      return record;
    } catch (err) {
      this.#failed(err, Date.now() - started);
      return undefined;
    }
  }

  async set(key: string, record: CacheRecord, ttlMs: number): Promise<void> {
    if (this.#outage.resting()) return;
    const started = Date.now();
    try {
      await this.#store.set(key, record, ttlMs);
    } catch (err) {
      this.#failed(err, Date.now() - started);
    }
  }

  async delete(key: string): Promise<void> {
    if (this.#outage.resting()) return;
    const started = Date.now();
    try {
      await this.#store.delete(key);
    } catch (err) {
      this.#failed(err, Date.now() - started);
    }
  }

  #failed(err: unknown, tookMs: number): void {
    this.#onError?.();
    this.#outage.failed(err, tookMs);
  }
}
