import type { Readable } from 'node:stream';
import type { GatewayRequest, GatewayResponse, Middleware } from '../../runtime/src/chain/types.ts';
import { emitRequestEvent, type RequestEvent } from '../../runtime/src/chain/instruments.ts';
import { errorResponse } from '../../runtime/src/errors.ts';
import { requireAuthBefore } from '../../runtime/src/plugins/require-auth-before.ts';
import type { BuiltinInstance, BuiltinPlugin, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { RateLimitHeaders } from './headers.ts';
import { keyFunction } from './keys.ts';
import { ratelimitOptions, type RatelimitOptions } from './options.ts';
import { GuardedStore } from './outage-policy.ts';
import { SharedRedis, SharedRedisSlot } from '../shared/redis-connection.ts';
import { RATE_LIMIT_REDIS, RedisStore } from './redis-store.ts';
import type { MemoryStore } from './memory-store.ts';
import { MemoryStoreSlot } from './store-slot.ts';
import type { Decision, LimitStore, WindowLimits } from './store.ts';

export type { RatelimitOptions } from './options.ts';

function ignore(): void {}

/** A refused request's body is read and dropped so the client connection stays usable. */
function drain(body: Readable | null): void {
  if (body !== null) body.on('error', ignore).resume();
}

interface Store {
  store: LimitStore;
  release(): void;
}

/**
 * Memory counters survive a config reload when the instance keeps its name and its limits (so a
 * reload does not hand every client a fresh budget); they go when the instance goes.
 */
function memoryStore(ctx: PluginFactoryContext, kind: 'memory' | 'insurance', limits: WindowLimits, maxKeys: number): { store: MemoryStore; release(): void } {
  const slot = ctx.shared(`ratelimit:${kind}:${ctx.instanceName}`, () => new MemoryStoreSlot());
  const store = slot.acquire(limits, maxKeys);
  return { store, release: () => slot.release(store) };
}

function buildStore(opts: RatelimitOptions, limits: WindowLimits, ctx: PluginFactoryContext): Store {
  if (opts.redis === undefined) return memoryStore(ctx, 'memory', limits, opts.maxKeys);
  const url = opts.redis;
  const slot = ctx.shared(`ratelimit:redis:${opts.redisTimeout}:${url}`, () => new SharedRedisSlot(() => new SharedRedis(url, opts.redisTimeout, ctx.logger, RATE_LIMIT_REDIS)));
  const connection = slot.acquire();
  const insurance = opts.onStoreError === 'insurance' ? memoryStore(ctx, 'insurance', limits, opts.maxKeys) : null;
  const store = new GuardedStore(new RedisStore(connection.client, limits, opts.prefix ?? `isogate:ratelimit:${ctx.instanceName}`), {
    policy: opts.onStoreError,
    insurance: insurance?.store ?? null,
    logger: ctx.logger,
    cooldownMs: Math.max(1_000, opts.redisTimeout * 5),
    slowFailureMs: opts.redisTimeout / 2,
  });
  return {
    store,
    release: () => {
      insurance?.release();
      slot.release();
    },
  };
}

/**
 * Built-in `ratelimit`: counts requests per key (client IP, a header, a claim, or one global
 * bucket) in fixed windows with an optional burst allowance, in memory or in Redis shared by every
 * gateway process; refuses with 429 before the upstream is called. See README.md.
 */
export const ratelimitPlugin: BuiltinPlugin<RatelimitOptions> = {
  name: 'ratelimit',
  options: ratelimitOptions,
  create(opts, ctx): BuiltinInstance {
    if (typeof opts.key === 'object' && 'claim' in opts.key) requireAuthBefore(ctx, ['key'], 'a claim key');
    const limits: WindowLimits = { points: opts.points, durationMs: opts.duration, burst: opts.burst, burstDurationMs: opts.burstDuration };
    const { store, release } = buildStore(opts, limits, ctx);
    const keyOf = keyFunction(opts);
    const headers = new RateLimitHeaders(opts.points);
    const sendHeaders = opts.headers;
    const rejected: RequestEvent = Object.freeze({ type: 'ratelimit-rejected', plugin: ctx.instanceName });

    function refuse(req: GatewayRequest, decision: Decision): GatewayResponse {
      emitRequestEvent(req, rejected);
      drain(req.body);
      return errorResponse('RATE_LIMITED', headers.refused(req, decision.resetMs));
    }

    const middleware: Middleware = (next) =>
      async function rateLimit(req) {
        const pending = store.consume(keyOf(req));
        const decision = pending instanceof Promise ? await pending : pending;
        if (!decision.allowed) return refuse(req, decision);
        if (!sendHeaders || decision.remaining < 0) return next(req);
        const res = await next(req);
        headers.allowed(req, res, decision.remaining, decision.resetMs);
        return res;
      };

    return { middleware, dispose: release };
  },
};
