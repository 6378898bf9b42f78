import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisRole } from '../shared/redis-connection.ts';
import { decodeRecord, encodeRecord } from './serialize.ts';
import type { CacheRecord, CacheStore } from './store.ts';

/** The cache's connections (plugins/shared/redis-connection.ts). */
export const CACHE_REDIS: RedisRole = { connectionName: 'isogate-cache', store: 'cache store', whenDown: 'lookups are misses until it is back' };

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
