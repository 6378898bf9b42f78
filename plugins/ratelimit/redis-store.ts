import type { Redis } from 'ioredis';
import { BurstyRateLimiter, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisRole } from '../shared/redis-connection.ts';
import type { Decision, LimitStore, WindowLimits } from './store.ts';

/** The rate limiter's connections (plugins/shared/redis-connection.ts). */
export const RATE_LIMIT_REDIS: RedisRole = { connectionName: 'isogate-ratelimit', store: 'rate limit store', whenDown: 'reconnecting in the background' };

function allowed(res: RateLimiterRes): Decision {
  return { allowed: true, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
}

function refusedOrFailed(err: unknown): Decision {
  // rate-limiter-flexible rejects with a RateLimiterRes when the limit is reached, with an Error when Redis failed.
  if (err instanceof RateLimiterRes) return { allowed: false, remaining: 0, resetMs: err.msBeforeNext };
  throw err;
}

/**
 * Counters in Redis through rate-limiter-flexible: one atomic Lua script per limiter (SET NX EX,
 * INCRBY, PTTL), so any number of gateway processes sharing the Redis and the key prefix share
 * one exact count. With a burst, a BurstyRateLimiter consults the burst counter only when the
 * window is used up (a second round trip for those requests only).
 *
 * Rejects (with the Redis error) when Redis fails: wrap it in `GuardedStore` for the outage policy.
 */
export class RedisStore implements LimitStore {
  readonly #limiter: RateLimiterRedis | BurstyRateLimiter;

  constructor(client: Redis, limits: WindowLimits, prefix: string) {
    const window = new RateLimiterRedis({
      storeClient: client,
      points: limits.points,
      duration: limits.durationMs / 1000,
      keyPrefix: prefix,
      rejectIfRedisNotReady: true,
    });
    this.#limiter =
      limits.burst === 0
        ? window
        : new BurstyRateLimiter(
            window,
            new RateLimiterRedis({
              storeClient: client,
              points: limits.burst,
              duration: limits.burstDurationMs / 1000,
              keyPrefix: `${prefix}:burst`,
              rejectIfRedisNotReady: true,
            }),
          );
  }

  consume(key: string): Promise<Decision> {
    return this.#limiter.consume(key).then(allowed, refusedOrFailed);
  }
}
