import { SlidingWindow } from '../sliding-window.ts';

/**
 * How many retries a route may add to its upstreams' load, as Finagle's RetryBudget and Envoy's
 * `retry_budget` bound it: over a sliding window, `minRetries` (so that a quiet route can still
 * retry) plus `percent` % of the requests seen. When an upstream fails everything, retries then
 * add at most that share of extra calls instead of multiplying the load by the attempts.
 */
export class RetryBudget {
  readonly #percent: number;
  readonly #minRetries: number;
  /** (requests, retries) */
  readonly #window: SlidingWindow;
  readonly #now: () => number;

  constructor(settings: { readonly percent: number; readonly minRetries: number; readonly window: number }, now: () => number = Date.now) {
    this.#percent = settings.percent;
    this.#minRetries = settings.minRetries;
    this.#window = new SlidingWindow(settings.window);
    this.#now = now;
  }

  /** A request arrived (retried or not, it earns its share of retries). */
  deposit(): void {
    this.#window.add(this.#now(), 1, 0);
  }

  /** Take one retry from the budget; false (nothing taken) when it is spent. */
  withdraw(): boolean {
    const now = this.#now();
    const [requests, retries] = this.#window.totals(now);
    if (retries >= this.#minRetries + (requests * this.#percent) / 100) return false;
    this.#window.add(now, 0, 1);
    return true;
  }
}
