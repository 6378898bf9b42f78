/**
 * Requests (and WebSockets) in flight per client address, bounded. Every response that streams
 * holds a pooled upstream connection until the client has read it, so a few hundred slow readers
 * from one address could hold every connection to an origin; with a bound per address, one client
 * cannot take more than its share (nginx's `limit_conn`, Traefik's `inFlightReq`).
 */
export class ClientInFlight {
  readonly limit: number;
  readonly #counts = new Map<string, number>();

  /** `limit` 0: unbounded (nothing is counted). */
  constructor(limit: number) {
    this.limit = limit;
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Count one more for `client`; false (nothing counted) when it already has `limit` in flight. */
  acquire(client: string): boolean {
    const n = this.#counts.get(client) ?? 0;
    if (n >= this.limit) return false;
    this.#counts.set(client, n + 1);
    return true;
  }

  release(client: string): void {
    const n = this.#counts.get(client);
    if (n === undefined) return;
    if (n <= 1) this.#counts.delete(client);
    else this.#counts.set(client, n - 1);
  }

  /** Clients with something in flight (the map never holds idle clients). */
  get clients(): number {
    return this.#counts.size;
  }
}
