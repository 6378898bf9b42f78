import type { Logger } from 'pino';

export interface StoreOutageOptions {
  readonly logger: Logger;
  /** After a slow failure, the store is left alone this long. */
  readonly cooldownMs: number;
  /** A failure that took this long or more is a stalled store (a command timeout), not a refused connection. */
  readonly slowFailureMs: number;
  /** Logged (warn) when the outage starts, with the error and `fields`. */
  readonly downMessage: string;
  /** Logged (info) when a command succeeds again. */
  readonly backMessage: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * Whether a shared store (Redis) is down, for the built-ins that put a policy in front of one (the
 * rate limiter's outage policy, the cache's guarded store). After a slow failure (a stalled store
 * timing out) the store is not asked for `cooldownMs`, so a stalled store costs one command
 * timeout per cooldown rather than one per request; a fast failure (disconnected: no offline
 * queue) costs nothing, so the next request tries again at once. The outage and the recovery are
 * logged once each, not per request.
 */
export class StoreOutage {
  readonly #options: StoreOutageOptions;
  #retryAt = 0;
  #down = false;

  constructor(options: StoreOutageOptions) {
    this.#options = options;
  }

  /** True from a failure until the next success. */
  get down(): boolean {
    return this.#down;
  }

  /** Whether the store is to be left alone now (cooling down after a slow failure). */
  resting(): boolean {
    return this.#retryAt !== 0 && Date.now() < this.#retryAt;
  }

  /** A command failed after `tookMs`. */
  failed(err: unknown, tookMs: number): void {
    if (tookMs >= this.#options.slowFailureMs) this.#retryAt = Date.now() + this.#options.cooldownMs;
    if (this.#down) return;
    this.#down = true;
    this.#options.logger.warn({ error: err instanceof Error ? err.message : String(err), ...this.#options.fields }, this.#options.downMessage);
  }

  /** A command succeeded: the outage, if there was one, is over. */
  succeeded(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#retryAt = 0;
    this.#options.logger.info(this.#options.backMessage);
  }
}
