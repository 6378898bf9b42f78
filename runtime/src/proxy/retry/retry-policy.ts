import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedRetry } from '../../config/resolved-config.ts';
import { GatewayError } from '../../errors.ts';
import type { UpstreamFailure } from '../upstream-errors.ts';
import { RetryBudget } from './retry-budget.ts';

/** Methods that RFC 9110 §9.2.2 makes safe to send twice. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * A route's retry policy: which failures and answers are retried, how long to wait before each
 * retry (exponential backoff with full jitter), and the route's retry budget. The loop that uses
 * it is the proxy handler's (and the aggregation's, per backend).
 *
 * Not undici's RetryAgent / `interceptors.retry()` (lib/handler/retry-handler.js), although
 * upstream concerns are otherwise interceptors (the breaker, the queue bound):
 * - it retries on the dispatcher it wraps, that is the same origin, while a route retries on the
 *   next upstream of its set, each with its own Host and path: a pool's interceptor never sees the
 *   other upstreams;
 * - after response bytes have flowed it resumes with a Range request and splices the answers; the
 *   gateway must never retry once a byte went to the client;
 * - its only bound is `maxRetries`: no budget shared by the route's requests (so retries would
 *   multiply the load on a failing upstream) and no overall deadline;
 * - its attempts are one call to the gateway's observers, where each attempt here is an upstream
 *   call of its own (a CLIENT span, an upstream-duration observation, a breaker outcome);
 * - per-route settings would travel in every request's dispatch options.
 * Streamed bodies come out the same: it will not resend a body already read, and neither does
 * this (a Readable body is never retried; a buffered one is a Buffer, sent again as is).
 */
export class RetryPolicy {
  readonly attempts: number;
  readonly budget: RetryBudget;
  readonly #on: ReadonlySet<UpstreamFailure>;
  readonly #statuses: ReadonlySet<number>;
  readonly #base: number;
  readonly #max: number;
  readonly #random: () => number;

  constructor(settings: ResolvedRetry, options: { random?: () => number; now?: () => number } = {}) {
    this.attempts = settings.attempts;
    this.budget = new RetryBudget(settings.budget, options.now);
    this.#on = new Set(settings.on);
    this.#statuses = new Set(settings.statuses);
    this.#base = settings.backoff.base;
    this.#max = settings.backoff.max;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Whether sending the request again is harmless once it may have reached the upstream: an
   * idempotent method, or no body. (Whether the body can be sent again at all is the caller's:
   * it must be none or a buffer.)
   */
  static repeatable(method: string, hasBody: boolean): boolean {
    return !hasBody || IDEMPOTENT_METHODS.has(method);
  }

  /** Whether this failure is retried. A connect failure never reached the upstream: any method may retry it. */
  retriesFailure(failure: UpstreamFailure | null, repeatable: boolean): boolean {
    if (failure === null || !this.#on.has(failure)) return false;
    return failure === 'connect-failure' || repeatable;
  }

  retriesStatus(status: number, repeatable: boolean): boolean {
    return repeatable && this.#statuses.has(status);
  }

  /** The wait before retry `n` (1: the first retry): a random time below min(max, base·2^(n-1)). */
  delay(n: number): number {
    return Math.floor(this.#random() * Math.min(this.#max, this.#base * 2 ** (n - 1)));
  }
}

/**
 * The route's deadline over the whole upstream exchange (every attempt and backoff, up to the
 * response headers), as one signal with the client's: it aborts with `UPSTREAM_TIMEOUT` when the
 * deadline passes, and with the client's reason when the client goes. Call `stop()` once the
 * headers are in: the body is then bounded by the idle timeout, and the signal only follows the
 * client.
 */
export class UpstreamDeadline {
  readonly signal: AbortSignal;
  /** When it passes (ms since epoch). */
  readonly end: number;
  #timer: NodeJS.Timeout | null;

  constructor(client: AbortSignal, ms: number) {
    const controller = new AbortController();
    this.signal = controller.signal;
    this.end = Date.now() + ms;
    if (client.aborted) controller.abort(client.reason);
    else client.addEventListener('abort', () => controller.abort(client.reason), { once: true });
    this.#timer = setTimeout(() => controller.abort(new GatewayError('UPSTREAM_TIMEOUT')), ms);
  }

  /** Time left, ms. */
  get remaining(): number {
    return this.end - Date.now();
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/**
 * Whether a retry after `wait` ms may happen: it starts before the deadline, and the budget has a
 * retry left (taken only then, as the last check).
 */
export function mayRetry(retry: RetryPolicy, deadline: { readonly remaining: number } | null, wait: number): boolean {
  return (deadline === null || deadline.remaining > wait) && retry.budget.withdraw();
}

/** Wait `ms`, or less if `signal` aborts first (then reject with its reason). */
export async function backoff(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) {
    if (signal.aborted) throw signal.reason;
    return;
  }
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    throw signal.aborted ? signal.reason : err;
  }
}
