import { z } from 'zod';
import { duration } from '../../runtime/src/config/units.ts';

/** Windows are whole seconds: Redis keys expire with `EX <seconds>` (rate-limiter-flexible's script). */
const windowLength = duration.refine((ms) => ms >= 1000 && ms % 1000 === 0, {
  message: 'expected whole seconds like "1s", "10s" or "1m" (at least 1s)',
});

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'expected an HTTP header name')
  .transform((n) => n.toLowerCase());

/** Dotted for nested claims, or the segments as a list when a claim name holds dots (as in auth). */
const claimPath = z.union(
  [
    z.string().regex(/^[^.\s]+(\.[^.\s]+)*$/, 'expected a claim name or a dotted path like "sub" or "org.id"'),
    z.array(z.string().min(1)).min(1),
  ],
  { error: 'expected a claim name, a dotted path like "org.id", or a list of segments' },
);

/** What a request is counted against. */
const key = z.union(
  [
    z.literal('ip'),
    z.literal('global'),
    z.strictObject({ header: headerName }),
    z.strictObject({ claim: claimPath }),
  ],
  { error: 'expected "ip", "global", { header: "<name>" } or { claim: "<path>" }' },
);

const redisUrl = z
  .string()
  .refine((u) => URL.canParse(u) && /^rediss?:$/.test(new URL(u).protocol), 'expected a redis:// or rediss:// URL');

export const ratelimitOptions = z
  .strictObject({
    /** Requests allowed per window (per key). */
    points: z.number().int().min(1).max(1_000_000_000),
    /** Window length. */
    duration: windowLength.default(1000),
    /** Extra requests per key on top of `points`, spent only once a window is used up. */
    burst: z.number().int().min(0).max(1_000_000_000).default(0),
    /** How often the burst allowance refills; default ten windows. */
    burstDuration: windowLength.optional(),
    key: key.default('ip'),
    /** IPv6 clients are counted per network of this prefix length (a host usually owns a whole /64). */
    ipv6Prefix: z.number().int().min(1).max(128).default(64),
    /** 'instance': every route listing this instance shares one budget per key; 'route': one budget per key and route. */
    scope: z.enum(['instance', 'route']).default('instance'),
    /** RateLimit-* headers on allowed responses too (429s always carry them and Retry-After). */
    headers: z.boolean().default(true),
    /** Memory store (and the Redis insurance limiter): most keys kept; the least recently used goes first. */
    maxKeys: z.number().int().min(1).max(100_000_000).default(100_000),
    /** Share the limit across gateway processes through this Redis. */
    redis: redisUrl.optional(),
    /** Redis key prefix; default `isogate:ratelimit:<instance name>`. */
    prefix: z.string().min(1).max(200).optional(),
    /** A Redis command that takes longer fails (and the onStoreError policy answers). */
    redisTimeout: duration.refine((ms) => ms >= 1 && ms <= 10_000, 'expected 1ms to 10s').optional(),
    /** What to do while Redis is failing. */
    onStoreError: z.enum(['insurance', 'allow', 'deny']).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.burstDuration !== undefined && o.burst === 0) {
      ctx.addIssue({ code: 'custom', path: ['burstDuration'], message: 'burstDuration needs burst > 0' });
    }
    if (o.redis === undefined) {
      // Redis-only settings without Redis are a mistake worth reporting, not something to ignore.
      for (const k of ['prefix', 'redisTimeout', 'onStoreError'] as const) {
        if (o[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${k} applies to the Redis store only (set redis)` });
      }
    }
  })
  .transform((o) => ({
    ...o,
    burstDuration: o.burstDuration ?? o.duration * 10,
    redisTimeout: o.redisTimeout ?? 200,
    onStoreError: o.onStoreError ?? ('insurance' as const),
  }));

export type RatelimitOptions = z.output<typeof ratelimitOptions>;
export type RatelimitKey = RatelimitOptions['key'];
