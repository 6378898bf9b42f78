import type { Logger } from 'pino';
import { compose } from './chain/compose.ts';
import type { Handler, Middleware } from './chain/types.ts';
import type { ResolvedConfig, ResolvedRoute } from './config/resolved-config.ts';
import type { BuiltinInstance, BuiltinPluginRegistry, EndpointHandler, UserPluginHandle } from './plugins/builtin-plugin.ts';
import type { GatewayServices } from './plugins/gateway-services.ts';
import { userPluginHandle } from './isolate/user-plugin-handle.ts';
import { createProxyHandler } from './proxy/proxy-handler.ts';
import { createAggregateHandler } from './proxy/aggregate/aggregate-handler.ts';
import { originPolicies, routeUpstreamUrls } from './proxy/origin-policy.ts';
import type { UpstreamPools } from './proxy/upstream-pools.ts';
import type { BodyBufferBudget } from './proxy/buffer-request-body.ts';
import { createTarget, UpstreamSet } from './proxy/upstream-set.ts';
import { TrustedProxies } from './proxy/trusted-proxies.ts';
import { Router } from './router/router.ts';
import { createPluginMiddleware } from './isolate/plugin-middleware.ts';
import { createSharedGroupMiddleware, crossesShared } from './isolate/shared-group-middleware.ts';
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
  /** Observers of requests answered before routing: the `unrouted` of the global middleware's instances. */
  readonly unroutedObservers: NonNullable<BuiltinInstance['unrouted']>[] = [];
  /** The user plugin hosts this table runs (it holds one use of each). */
  readonly userPlugins: ReadonlyMap<string, PluginHost>;
  /** Paths plugins answer before routing (`/metrics`), by exact normalised path. */
  readonly endpoints: ReadonlyMap<string, EndpointHandler>;
  readonly #pools: UpstreamPools;
  readonly #disposers: (() => void | Promise<void>)[];
  #inFlight = 0;
  #onIdle: (() => void) | null = null;

  constructor(
    config: ResolvedConfig,
    deps: {
      plugins: BuiltinPluginRegistry;
      pools: UpstreamPools;
      bodyBudget: BodyBufferBudget;
      logger: Logger;
      services: GatewayServices;
      userPlugins?: ReadonlyMap<string, PluginHost>;
    },
  ) {
    this.config = config;
    this.#pools = deps.pools;
    this.trustedProxies = new TrustedProxies(config.server.trustedProxies);
    this.#disposers = [];
    this.userPlugins = deps.userPlugins ?? new Map();

    // One middleware instance per plugin instance, shared by every route that lists it.
    const instances = new Map<string, Middleware>();
    const endpoints = new Map<string, EndpointHandler>();
    const handles = new Map<string, UserPluginHandle>();
    for (const [name, instance] of Object.entries(config.plugins)) {
      if (instance.kind !== 'user') continue;
      const host = deps.userPlugins?.get(name);
      if (!host) throw new Error(`user plugin "${name}" was not loaded (load the config with loadConfigFile or loadUserPlugins)`);
      const member = host.member(name);
      instances.set(name, createPluginMiddleware(member, name, instance.failurePolicy, deps.logger));
      handles.set(name, userPluginHandle(member, name, deps.logger));
      // The table owns its plugin isolates: they go when requests on this table are done.
      this.#disposers.push(() => host.dispose());
    }
    const builtinDisposersFrom = this.#disposers.length;
    try {
      this.#createBuiltins(config, deps, instances, endpoints, handles);
    } catch (err) {
      // Release what the instances created so far hold (the caller still owns the user plugin hosts).
      for (const dispose of this.#disposers.slice(builtinDisposersFrom)) Promise.resolve(dispose()).catch(() => {});
      throw err;
    }
    this.endpoints = endpoints;

    this.router = new Router<CompiledRoute>();
    const routes: CompiledRoute[] = [];
    const proxySettings = { bufferBodyBytes: config.server.limits.bufferBodyBytes, bodyBudget: deps.bodyBudget };
    // Breakers and health checks belong to origins, whichever routes set them.
    const policies = originPolicies(config.routes);
    const sharedRuns = sharedRunBuilder(config, this.userPlugins, deps.logger);
    for (const route of config.routes) {
      // An aggregated route has a target per backend (its origin; the path is the backend's template).
      const targets = routeUpstreamUrls(route).map((url) => {
        const origin = new URL(url).origin;
        const pool = deps.pools.acquire(origin, route.timeout.connect, route.http2, policies.get(origin));
        return createTarget(url, pool, deps.pools.circuit(origin));
      });
      const upstreams = new UpstreamSet(targets);
      const layers = chainLayers([...config.middleware, ...route.middleware], instances, sharedRuns);
      const terminal = route.backends ? createAggregateHandler(route, targets, { ...proxySettings, logger: deps.logger }) : createProxyHandler(route, upstreams, proxySettings);
      const compiled: CompiledRoute = { route, handler: compose(layers, terminal), upstreams };
      this.router.add(route.path, route.methods, compiled);
      routes.push(compiled);
    }
    this.routes = routes;
  }

  #createBuiltins(
    config: ResolvedConfig,
    deps: { plugins: BuiltinPluginRegistry; logger: Logger; services: GatewayServices },
    instances: Map<string, Middleware>,
    endpoints: Map<string, EndpointHandler>,
    handles: ReadonlyMap<string, UserPluginHandle>,
  ): void {
    const unrouted = new Map<string, NonNullable<BuiltinInstance['unrouted']>>();
    for (const [name, instance] of Object.entries(config.plugins)) {
      if (instance.kind !== 'builtin') continue;
      const plugin = deps.plugins.get(instance.use)!;
      const created = plugin.create(instance.options as never, {
        instanceName: name,
        logger: deps.logger.child({ plugin: name }),
        config,
        shared: (key, create) => deps.services.shared(key, create),
        onGatewayEvent: (listener) => deps.services.onEvent(listener),
        userPlugin: (instanceName) => handles.get(instanceName),
      });
      if (typeof created === 'function') {
        instances.set(name, created);
        continue;
      }
      instances.set(name, created.middleware);
      if (created.unrouted && config.middleware.includes(name)) unrouted.set(name, created.unrouted.bind(created));
      if (created.dispose) this.#disposers.push(() => created.dispose!());
      for (const [path, handler] of Object.entries(created.endpoints ?? {})) {
        const health = config.server.health;
        if (path === health.liveness || path === health.readiness || endpoints.has(path)) {
          throw new Error(`plugins.${name}: endpoint ${path} is already served by the gateway or another plugin`);
        }
        endpoints.set(path, handler);
      }
    }
    // In the order of the global middleware, like everything else that runs on a request.
    for (const name of config.middleware) {
      const observe = unrouted.get(name);
      if (observe) this.unroutedObservers.push(observe);
    }
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

/** A middleware for a run of consecutive shared-group members (undefined: the name is not one). */
type SharedRuns = { host(name: string): PluginHost | undefined; middleware(run: readonly string[]): Middleware };

/**
 * Shared-group runs, one middleware per distinct run (routes listing the same run share it):
 * a member whose hooks take no body, of a host that is a shared group.
 */
function sharedRunBuilder(config: ResolvedConfig, userPlugins: ReadonlyMap<string, PluginHost>, logger: Logger): SharedRuns {
  const built = new Map<string, Middleware>();
  return {
    host(name) {
      const instance = config.plugins[name];
      const host = userPlugins.get(name);
      return instance?.kind === 'user' && host?.shared && crossesShared(host, name) ? host : undefined;
    },
    middleware(run) {
      const key = run.join('\0');
      let middleware = built.get(key);
      if (!middleware) {
        const members = run.map((instanceName) => {
          const instance = config.plugins[instanceName] as Extract<ResolvedConfig['plugins'][string], { kind: 'user' }>;
          return { instanceName, failurePolicy: instance.failurePolicy };
        });
        middleware = createSharedGroupMiddleware(userPlugins.get(run[0]!)!, members, logger);
        built.set(key, middleware);
      }
      return middleware;
    },
  };
}

/**
 * A route's layers, in order: each instance's own middleware, except that consecutive members of
 * a shared plugin group become one layer that runs their hooks in one crossing (named `a+b+c`).
 */
function chainLayers(names: readonly string[], instances: ReadonlyMap<string, Middleware>, shared: SharedRuns): { name: string; middleware: Middleware }[] {
  const layers: { name: string; middleware: Middleware }[] = [];
  for (let i = 0; i < names.length; ) {
    const host = shared.host(names[i]!);
    let end = i + 1;
    while (host && end < names.length && shared.host(names[end]!) === host && !names.slice(i, end).includes(names[end]!)) end++;
    if (end - i < 2) {
      layers.push({ name: names[i]!, middleware: instances.get(names[i]!)! });
      i++;
      continue;
    }
    const run = names.slice(i, end);
    layers.push({ name: run.join('+'), middleware: shared.middleware(run) });
    i = end;
  }
  return layers;
}
