import type { Logger } from 'pino';
import { compose } from './chain/compose.ts';
import type { Handler, Middleware } from './chain/types.ts';
import type { ResolvedConfig, ResolvedRoute } from './config/resolved-config.ts';
import type { BuiltinPluginRegistry } from './plugins/builtin-plugin.ts';
import { createProxyHandler } from './proxy/proxy-handler.ts';
import type { UpstreamPools } from './proxy/upstream-pools.ts';
import { createTarget, UpstreamSet } from './proxy/upstream-set.ts';
import { TrustedProxies } from './proxy/trusted-proxies.ts';
import { Router } from './router/router.ts';
import { createPluginMiddleware } from './isolate/plugin-middleware.ts';
import type { PluginHost } from './isolate/plugin-host.ts';

export interface CompiledRoute {
  readonly route: ResolvedRoute;
  /** The whole chain: global middleware, route middleware, then the proxy. Built once. */
  readonly handler: Handler;
  readonly upstreams: UpstreamSet;
}

/**
 * Everything built from one resolved config: the router, each route's composed chain and its
 * upstream pools. A hot reload builds a new table and swaps it in; requests that started on the
 * old table finish on it, then the table is retired and its pools released.
 */
export class RoutingTable {
  readonly config: ResolvedConfig;
  readonly router: Router<CompiledRoute>;
  readonly routes: readonly CompiledRoute[];
  readonly trustedProxies: TrustedProxies;
  readonly #pools: UpstreamPools;
  readonly #disposers: (() => void | Promise<void>)[];
  #inFlight = 0;
  #onIdle: (() => void) | null = null;

  constructor(
    config: ResolvedConfig,
    deps: { plugins: BuiltinPluginRegistry; pools: UpstreamPools; logger: Logger; userPlugins?: ReadonlyMap<string, PluginHost> },
  ) {
    this.config = config;
    this.#pools = deps.pools;
    this.trustedProxies = new TrustedProxies(config.server.trustedProxies);
    this.#disposers = [];

    // One middleware instance per plugin instance, shared by every route that lists it.
    const instances = new Map<string, Middleware>();
    for (const [name, instance] of Object.entries(config.plugins)) {
      if (instance.kind === 'user') {
        const host = deps.userPlugins?.get(name);
        if (!host) throw new Error(`user plugin "${name}" was not loaded (load the config with loadConfigFile or loadUserPlugins)`);
        instances.set(name, createPluginMiddleware(host, name, instance.failurePolicy, deps.logger));
        // The table owns its plugin isolates: they go when requests on this table are done.
        this.#disposers.push(() => host.dispose());
        continue;
      }
      const plugin = deps.plugins.get(instance.use)!;
      instances.set(name, plugin.create(instance.options as never, { instanceName: name, logger: deps.logger.child({ plugin: name }), config }));
      if (plugin.dispose) this.#disposers.push(() => plugin.dispose!());
    }

    this.router = new Router<CompiledRoute>();
    const routes: CompiledRoute[] = [];
    for (const route of config.routes) {
      const targets = route.upstreams.map((url) => createTarget(url, deps.pools.acquire(new URL(url).origin, route.timeout.connect)));
      const upstreams = new UpstreamSet(targets);
      const layers = [...config.middleware, ...route.middleware].map((name) => ({ name, middleware: instances.get(name)! }));
      const compiled: CompiledRoute = { route, handler: compose(layers, createProxyHandler(route, upstreams)), upstreams };
      this.router.add(route.path, route.methods, compiled);
      routes.push(compiled);
    }
    this.routes = routes;
  }

  enter(): void {
    this.#inFlight++;
  }

  leave(): void {
    if (--this.#inFlight === 0 && this.#onIdle) this.#onIdle();
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Wait for requests that started on this table to be dispatched, then release its resources. */
  async retire(): Promise<void> {
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#onIdle = resolve));
    for (const route of this.routes) for (const target of route.upstreams.targets) this.#pools.release(target.pool);
    await Promise.allSettled(this.#disposers.map((d) => d()));
  }
}
