import type { HeaderMap } from '../../runtime/src/chain/types.ts';

/** A stored response. Times are epoch milliseconds (shared through Redis by every process). */
export interface CachedResponse {
  readonly kind: 'response';
  readonly status: number;
  /** End-to-end headers as stored: no `Age`, no hop-by-hop fields, never `Set-Cookie`. */
  readonly headers: Readonly<HeaderMap>;
  readonly body: Buffer;
  readonly storedAt: number;
  readonly freshUntil: number;
  readonly staleUntil: number;
}

/**
 * What is stored under a resource's key when its response has a `Vary`: the request headers that
 * select a variant, and a generation. Each variant is stored under the key, the generation and
 * those headers' values; an unsafe request (a POST to the resource) deletes this record, so the
 * variants stored before it can never be found again, even once a new record is written.
 */
export interface VaryRecord {
  readonly kind: 'vary';
  readonly names: readonly string[];
  readonly generation: string;
}

export type CacheRecord = CachedResponse | VaryRecord;

/**
 * Where entries live: in this process (memory, an LRU bounded by bytes) or in Redis (shared by
 * every gateway process). A memory store answers synchronously, so a hit costs no promise.
 * The Redis store rejects when Redis fails: `GuardedStore` turns that into misses.
 */
export interface CacheStore {
  get(key: string): CacheRecord | undefined | Promise<CacheRecord | undefined>;
  /** Keep `record` for `ttlMs` (> 0). */
  set(key: string, record: CacheRecord, ttlMs: number): void | Promise<void>;
  delete(key: string): void | Promise<void>;
}
