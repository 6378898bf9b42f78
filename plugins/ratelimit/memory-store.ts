import { LRUCache } from 'lru-cache';
import type { Decision, LimitStore, WindowLimits } from './store.ts';

interface Counter {
  windowEnd: number;
  used: number;
  burstEnd: number;
  burstUsed: number;
}

/**
 * Per-process counters with the same arithmetic as rate-limiter-flexible's Redis store behind a
 * BurstyRateLimiter (the contract suite runs both): a window of `durationMs` opens at a key's
 * first request and allows `points`; once it is used up, requests spend the burst allowance, a
 * second window of `burstDurationMs` and `burst` points opened at its first use.
 *
 * rate-limiter-flexible's own memory store keeps every key until its window ends (one timer per
 * key, no cap). Here at most `maxKeys` counters are kept, in an LRU: when a new key arrives at the
 * cap, the least recently seen key is forgotten (and starts a fresh window if it comes back).
 * Expired counters are not swept; they are reused in place or evicted by newer keys.
 */
export class MemoryStore implements LimitStore {
  readonly #counters: LRUCache<string, Counter>;
  readonly #points: number;
  readonly #durationMs: number;
  readonly #burst: number;
  readonly #burstDurationMs: number;

  constructor(limits: WindowLimits, maxKeys: number) {
    this.#counters = new LRUCache<string, Counter>({ max: maxKeys });
    this.#points = limits.points;
    this.#durationMs = limits.durationMs;
    this.#burst = limits.burst;
    this.#burstDurationMs = limits.burstDurationMs;
  }

  /** Keys currently held (at most maxKeys). */
  get size(): number {
    return this.#counters.size;
  }

  consume(key: string): Decision {
    const now = Date.now();
    let c = this.#counters.get(key);
    if (c === undefined) {
      c = { windowEnd: now + this.#durationMs, used: 0, burstEnd: 0, burstUsed: 0 };
      this.#counters.set(key, c);
    } else if (c.windowEnd <= now) {
      c.windowEnd = now + this.#durationMs;
      c.used = 0;
    }
    // Refused requests count too (as in rate-limiter-flexible): the window still ends on time.
    c.used++;
    if (c.used <= this.#points) return { allowed: true, remaining: this.#points - c.used, resetMs: c.windowEnd - now };
    if (this.#burst === 0) return { allowed: false, remaining: 0, resetMs: c.windowEnd - now };
    if (c.burstEnd <= now) {
      c.burstEnd = now + this.#burstDurationMs;
      c.burstUsed = 0;
    }
    c.burstUsed++;
    return { allowed: c.burstUsed <= this.#burst, remaining: 0, resetMs: Math.min(c.windowEnd, c.burstEnd) - now };
  }

  clear(): void {
    this.#counters.clear();
  }
}
