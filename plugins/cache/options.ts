import { z } from 'zod';
import { byteSize, duration } from '../../runtime/src/config/units.ts';

/**
 * The options schema of the `cache` built-in. Every object is strict and every default lives here;
 * `sdk/src/builtins/cache.ts` is the hand-written, documented input type, kept in step by
 * `sdk-types.test.ts`.
 */

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'expected an HTTP header name')
  .transform((n) => n.toLowerCase());

const queryName = z.string().min(1).max(200);

/** Statuses a cached answer cannot stand for: a partial body (206) and an answer to a condition (304). */
const NEVER_STORED = new Set([206, 304]);

/** 2xx and 3xx, except 206 and 304. */
export const DEFAULT_STATUSES: readonly number[] = Object.freeze(
  Array.from({ length: 200 }, (_, i) => 200 + i).filter((s) => !NEVER_STORED.has(s)),
);

const status = z
  .number()
  .int()
  .min(200, 'expected a final status (200–599)')
  .max(599, 'expected a final status (200–599)')
  .refine((s) => !NEVER_STORED.has(s), '206 (a partial body) and 304 (an answer to a condition) are never stored');

const redisUrl = z
  .string()
  .refine((u) => URL.canParse(u) && /^rediss?:$/.test(new URL(u).protocol), 'expected a redis:// or rediss:// URL');

const key = z
  .strictObject({
    /** 'all': every query parameter (in any order); a list: only these; 'none': the query is ignored. */
    query: z.union([z.literal('all'), z.literal('none'), z.array(queryName).min(1)], { error: 'expected "all", "none" or a list of parameter names' }).default('all'),
    /** Request headers whose values are part of the key (lower-cased). */
    headers: z.array(headerName).max(32).default([]),
    /** The Host the client asked for (default true). */
    host: z.boolean().default(true),
  })
  .default({ query: 'all', headers: [], host: true });

const SECOND = 1000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DAY = 86_400_000;

export const cacheOptions = z
  .strictObject({
    /** Freshness of a response whose upstream gives none (no max-age, s-maxage or Expires); 0: such responses are not stored. */
    ttl: duration.default(60 * SECOND),
    /** No response is fresh for longer than this, whatever its upstream says. */
    maxTtl: duration.refine((ms) => ms >= SECOND, 'expected at least 1s').default(DAY),
    /** How long past its freshness a response may be served while one background request refreshes it, unless the upstream says (`stale-while-revalidate`). */
    staleWhileRevalidate: duration.default(0),
    /** Methods answered from the cache (HEAD is answered from a stored GET). */
    methods: z.array(z.enum(['GET', 'HEAD'], { error: 'expected "GET" or "HEAD": other methods are never cached' })).min(1).default(['GET', 'HEAD']),
    key,
    /** On a route where auth runs before the cache: 'subject' keys entries on the verified `iss` and `sub`; 'shared' gives every authenticated caller the same entries. */
    identity: z.enum(['subject', 'shared']).default('subject'),
    /** Statuses that may be stored; default every 2xx and 3xx but 206 and 304. */
    statuses: z.array(status).min(1).optional(),
    /** Bodies larger than this stream through without being stored. */
    maxEntryBytes: byteSize.default(1024 * 1024),
    /** Memory store: total bytes held (bodies, headers and keys); the least recently used entry goes first. */
    maxBytes: byteSize.optional(),
    /** Concurrent misses for one key wait for the first one's answer instead of each calling the upstream. */
    coalesce: z.boolean().default(true),
    /** How long a coalesced request waits for the first one before it calls the upstream itself. */
    coalesceTimeout: duration.refine((ms) => ms >= 1 && ms <= 60_000, 'expected 1ms to 60s').default(5 * SECOND),
    /** Share the cache between gateway processes through this Redis. */
    redis: redisUrl.optional(),
    /** Redis key prefix; default `isogate:cache:<instance name>`. */
    prefix: z.string().min(1).max(200).optional(),
    /** A Redis command that takes longer fails (a lookup is then a miss). */
    redisTimeout: duration.refine((ms) => ms >= 1 && ms <= 10_000, 'expected 1ms to 10s').optional(),
  })
  .superRefine((o, ctx) => {
    if (o.ttl > o.maxTtl) ctx.addIssue({ code: 'custom', path: ['ttl'], message: `ttl is longer than maxTtl (${o.maxTtl / 1000}s)` });
    if (o.redis === undefined) {
      for (const k of ['prefix', 'redisTimeout'] as const) {
        if (o[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${k} applies to the Redis store only (set redis)` });
      }
      const maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
      if (o.maxEntryBytes > maxBytes) {
        ctx.addIssue({ code: 'custom', path: ['maxEntryBytes'], message: `maxEntryBytes is larger than maxBytes (${maxBytes} bytes): nothing that size could be kept` });
      }
    } else if (o.maxBytes !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxBytes'], message: 'maxBytes bounds the memory store; with redis, bound Redis itself (maxmemory with an LRU policy)' });
    }
  })
  .transform((o) => ({
    ...o,
    statuses: o.statuses ?? DEFAULT_STATUSES,
    maxBytes: o.maxBytes ?? DEFAULT_MAX_BYTES,
    redisTimeout: o.redisTimeout ?? 200,
  }));

export type CacheOptions = z.output<typeof cacheOptions>;
