/**
 * Two counts over a sliding time window, kept in a ring of buckets (the window moves a bucket at a
 * time): what the circuit breaker's error rate (calls, failures) and the retry budget (requests,
 * retries) need. Fixed memory, no timer, O(buckets) to read.
 */
export class SlidingWindow {
  readonly #bucketMs: number;
  readonly #first = new Float64Array(10);
  readonly #second = new Float64Array(10);
  /** Which bucket (now / bucketMs) each slot holds; -1: none yet. */
  readonly #epochs = new Float64Array(10).fill(-1);

  constructor(windowMs: number) {
    this.#bucketMs = Math.max(1, windowMs / 10);
  }

  /** Count one of the first kind (a call, a request) and, with `second`, one of the second (a failure, a retry). */
  add(now: number, first: number, second: number): void {
    const epoch = Math.floor(now / this.#bucketMs);
    const slot = epoch % 10;
    if (this.#epochs[slot] !== epoch) {
      this.#epochs[slot] = epoch;
      this.#first[slot] = 0;
      this.#second[slot] = 0;
    }
    this.#first[slot]! += first;
    this.#second[slot]! += second;
  }

  /** Both counts over the last window (the current bucket and the nine before it). */
  totals(now: number): [first: number, second: number] {
    const epoch = Math.floor(now / this.#bucketMs);
    let first = 0;
    let second = 0;
    for (let slot = 0; slot < 10; slot++) {
      const e = this.#epochs[slot]!;
      if (e > epoch - 10 && e <= epoch) {
        first += this.#first[slot]!;
        second += this.#second[slot]!;
      }
    }
    return [first, second];
  }

  clear(): void {
    this.#epochs.fill(-1);
  }
}
