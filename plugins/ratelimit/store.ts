/**
 * What a store answers for one request. `remaining` is the points left in the current window
 * (0 while the burst allowance is being spent), or -1 when the store could not tell (the
 * `allow` outage policy): no RateLimit headers are sent then. `resetMs`: until a refused client
 * can succeed again (when the window or the burst allowance refills, whichever comes first).
 */
export interface Decision {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly resetMs: number;
}

/** The limit every store enforces, in milliseconds (windows are whole seconds; see options.ts). */
export interface WindowLimits {
  readonly points: number;
  readonly durationMs: number;
  readonly burst: number;
  readonly burstDurationMs: number;
}

/**
 * A counter of requests per key. The memory store answers synchronously (no promise per
 * request); the Redis store asynchronously and never rejects once wrapped in the outage policy.
 */
export interface LimitStore {
  consume(key: string): Decision | Promise<Decision>;
}

/** Whether two option sets count the same way (a reload may keep the counters of the old one). */
export function sameLimits(a: WindowLimits, b: WindowLimits): boolean {
  return a.points === b.points && a.durationMs === b.durationMs && a.burst === b.burst && a.burstDurationMs === b.burstDurationMs;
}
