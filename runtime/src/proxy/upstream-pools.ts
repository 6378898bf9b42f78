import { Pool } from 'undici';

interface Entry {
  pool: Pool;
  refs: number;
}

/**
 * Keep-alive connection pools, one per (upstream origin, connect timeout), shared by every
 * routing table. A hot reload that keeps an upstream keeps its warm connections; a pool is closed
 * (gracefully: queued requests finish) when the last table using it is retired.
 */
export class UpstreamPools {
  readonly #entries = new Map<string, Entry>();
  readonly #connections: number;

  constructor(options: { connectionsPerOrigin?: number } = {}) {
    this.#connections = options.connectionsPerOrigin ?? 256;
  }

  acquire(origin: string, connectTimeout: number): Pool {
    const key = `${origin}|${connectTimeout}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      const pool = new Pool(origin, {
        connections: this.#connections,
        connect: { timeout: connectTimeout },
        keepAliveTimeout: 4_000,
        // Timeouts are set per request from the route's config.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      entry = { pool, refs: 0 };
      this.#entries.set(key, entry);
    }
    entry.refs++;
    return entry.pool;
  }

  release(pool: Pool): void {
    for (const [key, entry] of this.#entries) {
      if (entry.pool !== pool) continue;
      if (--entry.refs === 0) {
        this.#entries.delete(key);
        pool.close().catch(() => pool.destroy());
      }
      return;
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  async closeAll(): Promise<void> {
    const pools = [...this.#entries.values()].map((e) => e.pool);
    this.#entries.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }

  destroyAll(): void {
    for (const entry of this.#entries.values()) entry.pool.destroy().catch(() => {});
    this.#entries.clear();
  }
}
