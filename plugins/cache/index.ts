import type { ResolvedConfig, ResolvedRoute } from '../../runtime/src/config/resolved-config.ts';
import { ConfigError, formatPath, type ConfigIssue } from '../../runtime/src/config/config-error.ts';
import type { BuiltinInstance, BuiltinPlugin, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { CacheMetrics } from './cache-metrics.ts';
import { cacheMiddleware, type Filled, type RouteCache } from './cache-middleware.ts';
import { cacheName } from './cache-status.ts';
import { Coalescer } from './coalescer.ts';
import { GuardedStore } from './guarded-store.ts';
import { compileKey } from './key.ts';
import { MemoryStoreSlot } from './memory-store.ts';
import { cacheOptions, type CacheOptions } from './options.ts';
import { SharedRedis, SharedRedisSlot } from '../shared/redis-connection.ts';
import { CACHE_REDIS, RedisStore } from './redis-store.ts';
import type { CacheStore } from './store.ts';

export type { CacheOptions } from './options.ts';

interface Placement {
  /** Routes that run this instance after an auth instance: their entries are keyed on the caller. */
  readonly authenticated: ReadonlySet<ResolvedRoute>;
}

/**
 * Where the instance runs, route by route. A cache listed before `auth` would answer from its
 * entries before the caller is authenticated: anyone could read what an authenticated caller was
 * given. That is refused at load, naming the middleware entry, rather than left to the order a
 * config happens to have. After auth, entries are keyed on the verified subject (`identity`).
 */
function placementOf(config: ResolvedConfig, instanceName: string): Placement {
  const isAuth = (name: string): boolean => {
    const p = config.plugins[name];
    return p !== undefined && p.kind === 'builtin' && p.use === 'auth';
  };
  const authenticated = new Set<ResolvedRoute>();
  const issues: ConfigIssue[] = [];
  config.routes.forEach((route, i) => {
    const chain = [...config.middleware, ...route.middleware];
    const at = chain.indexOf(instanceName);
    if (at === -1) return;
    if (chain.slice(0, at).some(isAuth)) authenticated.add(route);
    const authAfter = chain.slice(at + 1).find(isAuth);
    if (authAfter === undefined) return;
    const global = at < config.middleware.length;
    const path = global ? ['middleware', at] : ['routes', i, 'middleware', at - config.middleware.length];
    issues.push({
      path: formatPath(path),
      message: `the cache "${instanceName}" runs before the auth instance "${authAfter}" on route ${JSON.stringify(route.name)}: a cached answer would be served without authentication; list "${authAfter}" before "${instanceName}"`,
    });
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return { authenticated };
}

interface Store {
  readonly store: CacheStore;
  release(): void;
}

function buildStore(opts: CacheOptions, ctx: PluginFactoryContext, metrics: CacheMetrics): Store {
  const instance = ctx.instanceName;
  if (opts.redis === undefined) {
    const slot = ctx.shared(`cache:memory:${instance}`, () => {
      const created = new MemoryStoreSlot();
      // Once per gateway: the gauge reads whatever store the instance holds at each scrape.
      metrics.storedBytes.sample(() => created.storedBytes, instance);
      return created;
    });
    const store = slot.acquire(opts.maxBytes, opts.maxEntryBytes);
    return { store, release: () => slot.release(store) };
  }
  const url = opts.redis;
  const slot = ctx.shared(`cache:redis:${opts.redisTimeout}:${url}`, () => new SharedRedisSlot(() => new SharedRedis(url, opts.redisTimeout, ctx.logger, CACHE_REDIS)));
  const connection = slot.acquire();
  const errors = metrics.storeErrors.series(instance);
  const store = new GuardedStore(new RedisStore(connection.client, opts.prefix ?? `isogate:cache:${instance}`), {
    logger: ctx.logger,
    cooldownMs: Math.max(1_000, opts.redisTimeout * 5),
    slowFailureMs: opts.redisTimeout / 2,
    onError: () => errors.value++,
  });
  return { store, release: () => slot.release() };
}

/**
 * Built-in `cache`: a shared HTTP cache (RFC 9111) for GET and HEAD, in memory (an LRU bounded by
 * bytes) or in Redis shared by every gateway process; request coalescing, stale-while-revalidate,
 * conditional requests, `Age` and `Cache-Status`. See README.md.
 */
export const cachePlugin: BuiltinPlugin<CacheOptions> = {
  name: 'cache',
  options: cacheOptions,
  create(opts, ctx): BuiltinInstance {
    const { authenticated } = placementOf(ctx.config, ctx.instanceName);
    const metrics = new CacheMetrics(ctx);
    const { store, release } = buildStore(opts, ctx, metrics);
    const abort = new AbortController();

    const routes = new Map<ResolvedRoute, RouteCache>();
    const authenticatedNames = new Set([...authenticated].map((r) => r.name));
    const routeCache = (route: ResolvedRoute): RouteCache => {
      let r = routes.get(route);
      if (r === undefined) {
        // A route object not of this config (a copy) is judged by its name, erring towards per-caller keys.
        const afterAuth = authenticated.has(route) || authenticatedNames.has(route.name);
        r = { key: compileKey(opts, route, afterAuth), counters: metrics.route(route.path) };
        routes.set(route, r);
      }
      return r;
    };
    for (const route of ctx.config.routes) routeCache(route);

    const middleware = cacheMiddleware({
      name: cacheName(ctx.instanceName),
      store,
      settings: {
        ttlMs: opts.ttl,
        maxTtlMs: opts.maxTtl,
        staleWhileRevalidateMs: opts.staleWhileRevalidate,
        statuses: new Set(opts.statuses),
        maxEntryBytes: opts.maxEntryBytes,
      },
      methods: new Set(opts.methods),
      coalescer: opts.coalesce ? new Coalescer<Filled>(opts.coalesceTimeout) : null,
      route: routeCache,
      logger: ctx.logger,
      signal: abort.signal,
    });
    return {
      middleware,
      dispose() {
        abort.abort();
        release();
      },
    };
  },
};
