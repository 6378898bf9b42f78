import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Closable } from '../../runtime/src/plugins/builtin-plugin.ts';
import { decodeRecord, encodeRecord } from './serialize.ts';
import type { CacheRecord, CacheStore } from './store.ts';

/**
 * One ioredis connection per Redis URL and command timeout, shared by the cache instances (and
 * routing tables) that use the same settings. Settings as the rate limiter's, for the same
 * reasons: no offline queue (while disconnected a command fails at once instead of waiting),
 * a command timeout (a stalled Redis fails the command), reconnection in the background.
 */
export class CacheRedis {
  readonly client: Redis;
  readonly #logger: Logger;
  readonly #where: string;
  #state: 'connecting' | 'ready' | 'down' | 'closed' = 'connecting';

  constructor(url: string, timeoutMs: number, logger: Logger) {
    this.#logger = logger;
    this.#where = redactedRedisUrl(url);
    this.client = new Redis(url, {
      enableOfflineQueue: false,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 1,
      connectTimeout: Math.max(1_000, timeoutMs * 5),
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
      connectionName: 'isogate-cache',
    });
    this.client.on('ready', () => {
      this.#state = 'ready';
      this.#logger.info({ redis: this.#where }, 'cache store connected');
    });
    // 'error' comes with every failed (re)connection attempt: log the transition only.
    this.client.on('error', (err: Error) => {
      if (this.#state === 'down' || this.#state === 'closed') return;
      this.#state = 'down';
      this.#logger.warn({ redis: this.#where, error: err.message }, 'cache store connection failed; lookups are misses until it is back');
    });
    this.client.on('end', () => {
      if (this.#state !== 'closed') this.#state = 'down';
    });
  }

  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.client.status === 'ready') this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }
}

/** The connection for one set of Redis settings, counted by the instances using it; closed with the last. */
export class CacheRedisSlot implements Closable {
  #connection: CacheRedis | null = null;
  #users = 0;
  readonly #open: () => CacheRedis;

  constructor(open: () => CacheRedis) {
    this.#open = open;
  }

  acquire(): CacheRedis {
    this.#users++;
    this.#connection ??= this.#open();
    return this.#connection;
  }

  release(): void {
    if (this.#users === 0) return;
    if (--this.#users === 0) this.close();
  }

  close(): void {
    this.#connection?.close();
    this.#connection = null;
  }
}

export function redactedRedisUrl(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}

/**
 * Entries in Redis, one string each: `<prefix>:<sha256 of the key, base64url>` holding
 * `serialize.ts`'s encoding, with `PX` set to the entry's keep time, so Redis drops what can no
 * longer be served. The key is hashed: it holds the path, the query and the caller's identity,
 * none of which belongs in a key listing, and its length is then fixed. Every gateway process
 * with the same prefix shares the entries.
 *
 * Rejects when Redis fails: wrap it in `GuardedStore`.
 */
export class RedisStore implements CacheStore {
  readonly #client: Redis;
  readonly #prefix: string;

  constructor(client: Redis, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
  }

  redisKey(key: string): string {
    return `${this.#prefix}:${createHash('sha256').update(key).digest('base64url')}`;
  }

  async get(key: string): Promise<CacheRecord | undefined> {
    const value = await this.#client.getBuffer(this.redisKey(key));
    return value === null ? undefined : decodeRecord(value);
  }

  async set(key: string, record: CacheRecord, ttlMs: number): Promise<void> {
    await this.#client.set(this.redisKey(key), encodeRecord(record), 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async delete(key: string): Promise<void> {
    await this.#client.del(this.redisKey(key));
  }
}
