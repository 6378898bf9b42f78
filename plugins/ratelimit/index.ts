import type { Readable } from 'node:stream';
import type { GatewayRequest, GatewayResponse, Middleware } from '../../runtime/src/chain/types.ts';
import { emitRequestEvent, type RequestEvent } from '../../runtime/src/chain/instruments.ts';
import { ConfigError, formatPath } from '../../runtime/src/config/config-error.ts';
import { errorResponse } from '../../runtime/src/errors.ts';
import type { BuiltinInstance, BuiltinPlugin, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { RateLimitHeaders } from './headers.ts';
import { keyFunction } from './keys.ts';
import { ratelimitOptions, type RatelimitOptions } from './options.ts';
import { GuardedStore } from './outage-policy.ts';
import { RedisStore, SharedRedis, SharedRedisSlot } from './redis-store.ts';
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
  const slot = ctx.shared(`ratelimit:redis:${opts.redisTimeout}:${url}`, () => new SharedRedisSlot(() => new SharedRedis(url, opts.redisTimeout, ctx.logger)));
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
 * A claim key reads `req.claims`, which only authentication sets: listed before `auth` (or on a
 * route without it) every request would silently be counted by client IP. That is a config
 * mistake, reported at load with the option's path and the routes, not a quiet downgrade. Auth is
 * the rule because it is the only thing that sets claims (a user plugin's verifier is reached
 * through auth too). The chain of a route is the global middleware, then the route's own.
 */
function requireAuthBefore(ctx: PluginFactoryContext): void {
  const { config, instanceName } = ctx;
  const isAuth = (name: string): boolean => {
    const p = config.plugins[name];
    return p !== undefined && p.kind === 'builtin' && p.use === 'auth';
  };
  const unauthenticated: string[] = [];
  for (const route of config.routes) {
    const chain = [...config.middleware, ...route.middleware];
    const at = chain.indexOf(instanceName);
    if (at !== -1 && !chain.slice(0, at).some(isAuth)) unauthenticated.push(route.name);
  }
  if (unauthenticated.length === 0) return;
  const shown = unauthenticated.slice(0, 5).map((n) => JSON.stringify(n));
  const more = unauthenticated.length > 5 ? ` and ${unauthenticated.length - 5} more` : '';
  const routes = `${unauthenticated.length === 1 ? 'route' : 'routes'} ${shown.join(', ')}${more}`;
  throw new ConfigError([
    {
      path: formatPath(['plugins', instanceName, 'options', 'key']),
      message: `a claim key needs an auth instance earlier in the chain, but ${routes} run${unauthenticated.length === 1 ? 's' : ''} "${instanceName}" without one before it (claims would always be missing): list it after auth, e.g. middleware: ['auth', '${instanceName}']`,
    },
  ]);
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
    if (typeof opts.key === 'object' && 'claim' in opts.key) requireAuthBefore(ctx);
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
