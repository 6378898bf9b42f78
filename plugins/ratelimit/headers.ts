import type { GatewayRequest, GatewayResponse } from '../../runtime/src/chain/types.ts';

/** Decimal strings of small integers, made once: remaining counts and reset seconds are mostly small. */
const SMALL = Array.from({ length: 1024 }, (_, i) => String(i));

function int(n: number): string {
  return n < 1024 ? SMALL[n]! : String(n);
}

/** Whole seconds, rounded up: a client that waits this long will find the window reset. */
export function secondsUntil(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/** The lowest `RateLimit-Remaining` already written on this response, by whichever instance wrote it. */
const LOWEST_REMAINING = Symbol('isogate.ratelimit.lowestRemaining');

/**
 * The response headers of one instance: `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset` (draft-ietf-httpapi-ratelimit-headers, the three-field form: limit per
 * window, points left in it, seconds until it resets), and `Retry-After` on a 429.
 *
 * When several instances run on one request (a global and a per-client limit), the headers of
 * the one with the fewest remaining points win, as the draft recommends; on a tie the inner
 * (later-listed) one, which wrote first, is kept. A refusal always wins (remaining 0, written first).
 */
export class RateLimitHeaders {
  readonly #limit: string;

  constructor(points: number) {
    this.#limit = int(points);
  }

  /** Headers for a 429 answer. */
  refused(req: GatewayRequest, resetMs: number): Record<string, string> {
    const reset = int(Math.max(1, secondsUntil(resetMs)));
    req.state[LOWEST_REMAINING] = 0;
    return { 'retry-after': reset, 'ratelimit-limit': this.#limit, 'ratelimit-remaining': '0', 'ratelimit-reset': reset };
  }

  /** Add this instance's headers to an allowed response unless another instance reported fewer remaining points. */
  allowed(req: GatewayRequest, res: GatewayResponse, remaining: number, resetMs: number): void {
    const lowest = req.state[LOWEST_REMAINING] as number | undefined;
    if (lowest !== undefined && lowest <= remaining) return;
    req.state[LOWEST_REMAINING] = remaining;
    const h = res.headers;
    h['ratelimit-limit'] = this.#limit;
    h['ratelimit-remaining'] = int(remaining);
    h['ratelimit-reset'] = int(secondsUntil(resetMs));
  }
}
