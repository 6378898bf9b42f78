import { LRUCache } from 'lru-cache';
import type { Closable } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { CacheRecord, CacheStore } from './store.ts';

/** What an entry costs beyond its body, its header text and its key: the objects around them. */
const ENTRY_OVERHEAD = 256;

function headerBytes(headers: Readonly<Record<string, string | string[]>>): number {
  let n = 0;
  for (const name in headers) {
    const value = headers[name]!;
    n += name.length + 4;
    if (typeof value === 'string') n += value.length;
    else for (const v of value) n += v.length + 2;
  }
  return n;
}

/** An estimate of what a record holds in memory, in bytes (strings counted once per character). */
export function recordBytes(key: string, record: CacheRecord): number {
  if (record.kind === 'vary') return ENTRY_OVERHEAD + key.length + record.generation.length + record.names.reduce((n, s) => n + s.length + 8, 0);
  return ENTRY_OVERHEAD + key.length + record.body.byteLength + headerBytes(record.headers);
}

/**
 * Entries in this process: lru-cache bounded by bytes (`maxSize` with a `sizeCalculation`), each
 * with its own TTL (its keep time). An entry past its TTL is never returned; it is removed when
 * looked up, when room is needed, or when the stored-bytes gauge is read.
 */
export class MemoryStore implements CacheStore {
  readonly #lru: LRUCache<string, CacheRecord>;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;

  constructor(maxBytes: number, maxEntryBytes: number) {
    this.maxBytes = maxBytes;
    this.maxEntryBytes = maxEntryBytes;
    this.#lru = new LRUCache<string, CacheRecord>({
      maxSize: maxBytes,
      // A record over the bound is not stored (a body within maxEntryBytes with very large headers).
      maxEntrySize: Math.min(maxBytes, maxEntryBytes + 64 * 1024 + ENTRY_OVERHEAD),
      sizeCalculation: (record, key) => recordBytes(key, record),
      // Stale is ours to judge (freshUntil, staleUntil); lru-cache's TTL is the keep time.
      allowStale: false,
      updateAgeOnGet: false,
    });
  }

  get(key: string): CacheRecord | undefined {
    return this.#lru.get(key);
  }

  set(key: string, record: CacheRecord, ttlMs: number): void {
    this.#lru.set(key, record, { ttl: Math.max(1, Math.ceil(ttlMs)) });
  }

  delete(key: string): void {
    this.#lru.delete(key);
  }

  /** Bytes held by live entries (those past their keep time are dropped first). */
  get storedBytes(): number {
    this.#lru.purgeStale();
    return this.#lru.calculatedSize;
  }

  get size(): number {
    return this.#lru.size;
  }

  clear(): void {
    this.#lru.clear();
  }
}

/**
 * The memory store of one instance name, kept across routing tables like the rate limiter's
 * counters: a reload with the same bounds keeps every entry (a reload is not a cache flush);
 * other bounds start empty; when no table uses the instance any more, its entries are dropped.
 */
export class MemoryStoreSlot implements Closable {
  #store: MemoryStore | null = null;
  #users = 0;

  acquire(maxBytes: number, maxEntryBytes: number): MemoryStore {
    this.#users++;
    if (this.#store === null || this.#store.maxBytes !== maxBytes || this.#store.maxEntryBytes !== maxEntryBytes) {
      this.#store = new MemoryStore(maxBytes, maxEntryBytes);
    }
    return this.#store;
  }

  release(store: MemoryStore): void {
    if (this.#users === 0) return;
    this.#users--;
    if (this.#store !== store) {
      store.clear();
      return;
    }
    if (this.#users === 0) {
      this.#store.clear();
      this.#store = null;
    }
  }

  /** What the instance holds now (0 once it is gone). */
  get storedBytes(): number {
    return this.#store?.storedBytes ?? 0;
  }

  close(): void {
    this.#store?.clear();
    this.#store = null;
  }
}
