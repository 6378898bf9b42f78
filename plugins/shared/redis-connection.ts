import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RefCountedSlot } from './ref-counted-slot.ts';

/** What a connection is for: its name on the server (`CLIENT LIST`) and how log lines call it. */
export interface RedisRole {
  /** `CLIENT SETNAME`, so an operator can tell the gateway's connections apart. */
  readonly connectionName: string;
  /** The store in log lines: "<store> connected". */
  readonly store: string;
  /** What the plugin does while Redis is down, said once when the connection fails. */
  readonly whenDown: string;
}

/**
 * One ioredis connection per Redis URL and command timeout, shared by every instance (and every
 * routing table) of a built-in that uses the same settings; see `SharedRedisSlot` for its lifetime.
 * The rate limiter and the cache use it alike:
 *
 * - `enableOfflineQueue: false`: while disconnected a command fails at once instead of waiting
 *   in a queue (with the defaults a `consume` was still pending after 8 s, RESEARCH.md).
 * - `commandTimeout`: a connected but stalled Redis fails the command after `timeoutMs`.
 * - Reconnection runs in the background, backing off to one attempt every 2 s, until closed.
 */
export class SharedRedis {
  readonly client: Redis;
  readonly #logger: Logger;
  readonly #where: string;
  #state: 'connecting' | 'ready' | 'down' | 'closed' = 'connecting';

  constructor(url: string, timeoutMs: number, logger: Logger, role: RedisRole) {
    this.#logger = logger;
    this.#where = redactedRedisUrl(url);
    this.client = new Redis(url, {
      enableOfflineQueue: false,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 1,
      connectTimeout: Math.max(1_000, timeoutMs * 5),
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
      connectionName: role.connectionName,
    });
    this.client.on('ready', () => {
      this.#state = 'ready';
      this.#logger.info({ redis: this.#where }, `${role.store} connected`);
    });
    // ioredis emits 'error' on every failed (re)connection attempt: log the transition only.
    this.client.on('error', (err: Error) => {
      if (this.#state === 'down' || this.#state === 'closed') return;
      this.#state = 'down';
      this.#logger.warn({ redis: this.#where, error: err.message }, `${role.store} connection failed; ${role.whenDown}`);
    });
    this.client.on('end', () => {
      if (this.#state !== 'closed') this.#state = 'down';
    });
  }

  /**
   * QUIT when connected (the server sees a clean goodbye; bounded by the command timeout);
   * otherwise stop reconnecting at once. Resolves when the connection is done with.
   */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.client.status !== 'ready') {
      this.client.disconnect();
      return;
    }
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/**
 * The connection for one set of Redis settings, reference-counted by the instances using it:
 * changed settings (another URL, another `redisTimeout`) open a new connection, and the old one
 * is closed when the last routing table using it retires, instead of reconnecting forever to a
 * Redis nobody uses any more.
 */
export class SharedRedisSlot extends RefCountedSlot<SharedRedis> {}

/** The URL without its password, for logs. */
export function redactedRedisUrl(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}
