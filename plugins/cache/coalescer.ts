/**
 * Request coalescing: concurrent misses for one key make one upstream call. The first request
 * for a key leads (it calls the upstream and stores the answer); the ones that arrive while it
 * does follow: they wait for what the leader stored, at most `timeoutMs`, and then — or at once
 * when the leader's answer could not be stored (private, too large, an error, the leader's client
 * gone) — call the upstream themselves. So a follower never waits on a leader that fails, and
 * never waits unboundedly on one that is slow.
 *
 * Coalescing is per gateway process: processes sharing a Redis cache each make one call for a
 * key that none of them has stored yet.
 */
export type Join<T> = { readonly leader: true; settle(value: T | null): void } | { readonly leader: false; readonly outcome: Promise<T | null> };

interface Flight<T> {
  readonly waiters: Set<(value: T | null) => void>;
}

export class Coalescer<T> {
  readonly #flights = new Map<string, Flight<T>>();
  readonly #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Requests waiting on a leader right now (tests). */
  get waiting(): number {
    let n = 0;
    for (const f of this.#flights.values()) n += f.waiters.size;
    return n;
  }

  get inFlight(): number {
    return this.#flights.size;
  }

  join(key: string): Join<T> {
    const flight = this.#flights.get(key);
    if (flight !== undefined) return { leader: false, outcome: this.#follow(flight) };
    const created: Flight<T> = { waiters: new Set() };
    this.#flights.set(key, created);
    let settled = false;
    return {
      leader: true,
      settle: (value) => {
        if (settled) return;
        settled = true;
        if (this.#flights.get(key) === created) this.#flights.delete(key);
        for (const wake of created.waiters) wake(value);
        created.waiters.clear();
      },
    };
  }

  #follow(flight: Flight<T>): Promise<T | null> {
    return new Promise<T | null>((resolve) => {
      const wake = (value: T | null): void => {
        clearTimeout(timer);
        flight.waiters.delete(wake);
        resolve(value);
      };
      const timer = setTimeout(() => wake(null), this.#timeoutMs);
      flight.waiters.add(wake);
    });
  }
}
