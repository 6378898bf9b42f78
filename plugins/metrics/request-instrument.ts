import { performance } from 'node:perf_hooks';
import { attachInstrument, type HookName, type RequestEvent, type RequestInstrument, type SentOutcome, type UpstreamCall } from '../../runtime/src/chain/instruments.ts';
import type { GatewayRequest, GatewayResponse, Middleware } from '../../runtime/src/chain/types.ts';
import type { ResolvedRoute } from '../../runtime/src/config/resolved-config.ts';
import { GatewayError } from '../../runtime/src/errors.ts';
import type { BuiltinInstance, UnroutedRequest } from '../../runtime/src/plugins/builtin-plugin.ts';
import { type GatewayMetrics, methodIndex, type RouteMetrics } from './gateway-metrics.ts';

/**
 * What one request reports. The request is counted once, when the transport says the response
 * was written (or abandoned): that is when the duration ends and the in-flight gauge goes down.
 */
class RequestMetrics implements RequestInstrument {
  readonly metrics: GatewayMetrics;
  readonly #route: RouteMetrics;
  readonly #method: number;
  readonly #start: number;
  #finished = false;

  constructor(metrics: GatewayMetrics, route: RouteMetrics, method: number) {
    this.metrics = metrics;
    this.#route = route;
    this.#method = method;
    this.#start = performance.now();
    metrics.inFlight.value++;
  }

  upstreamStart(_req: GatewayRequest, call: UpstreamCall): () => void {
    const series = this.#route.upstream(call.origin);
    const start = performance.now();
    return function upstreamEnded() {
      series.observe((performance.now() - start) / 1e3);
    };
  }

  hookStart(_req: GatewayRequest, plugin: string, hook: HookName): () => void {
    const series = this.metrics.hook(plugin, hook);
    const start = performance.now();
    // Failures are counted from the `plugin-error` event, which says what became of them.
    return function hookEnded() {
      series.observe((performance.now() - start) / 1e3);
    };
  }

  event(_req: GatewayRequest, event: RequestEvent): void {
    switch (event.type) {
      case 'ratelimit-rejected':
        this.#route.rejections().value++;
        break;
      case 'auth-failed':
        this.#route.authFailure(event.reason).value++;
        break;
      case 'plugin-error':
        this.metrics.pluginError(event.plugin, event.kind).value++;
        break;
    }
  }

  sent(_req: GatewayRequest, status: number, outcome: SentOutcome): void {
    this.finish(status, outcome.aborted);
  }

  /** Exactly once per request, whichever of `sent` and the upgrade path gets here first. */
  finish(status: number, aborted: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.metrics.inFlight.value--;
    this.#route.requests(this.#method, status).value++;
    this.#route.duration(this.#method).observe((performance.now() - this.#start) / 1e3);
    if (aborted) this.#route.aborted().value++;
  }
}

function observedBy(instruments: readonly RequestInstrument[], metrics: GatewayMetrics): boolean {
  for (const i of instruments) if (i instanceof RequestMetrics && i.metrics === metrics) return true;
  return false;
}

/**
 * The metrics middleware for one routing table. Route series are resolved here, once per table,
 * and shared by label value with every other table, so counts carry across reloads.
 */
export function requestMetricsMiddleware(metrics: GatewayMetrics, routes: readonly ResolvedRoute[]): Middleware {
  const byRoute = new Map<ResolvedRoute, RouteMetrics>();
  for (const route of routes) byRoute.set(route, metrics.route(route.path));

  return (next) =>
    function observeRequest(req) {
      // Listed twice (globally and on the route, or two instances): count the request once.
      if (req.instruments !== null && observedBy(req.instruments, metrics)) return next(req);
      let route = byRoute.get(req.route);
      if (route === undefined) {
        route = metrics.route(req.route.path);
        byRoute.set(req.route, route);
      }
      const observation = new RequestMetrics(metrics, route, methodIndex(req.method));
      attachInstrument(req, observation);
      if (!req.upgrade) return next(req);
      // The transport reports nothing for an upgrade once the sockets are spliced: count the
      // handshake's answer here (the WebSocket's lifetime is not a request duration).
      return next(req).then(
        (res: GatewayResponse) => {
          observation.finish(res.status, false);
          return res;
        },
        (err: unknown) => {
          observation.finish(err instanceof GatewayError ? err.status : 500, false);
          throw err;
        },
      );
    };
}

/**
 * The `route` label of requests the gateway answered before any route matched (404, 405, a bad
 * path, 413/414, a refused underscore header). Never the raw path: a scanner trying a million
 * paths must not mint a million series. Route templates always start with "/", so this value can
 * never be a template.
 */
export const UNMATCHED_ROUTE = '(unmatched)';


/**
 * Counts requests answered before routing under `route="(unmatched)"`. They are not in the
 * in-flight gauge: the gateway had already decided the answer when it told us, and the refusal of
 * an upgrade is never reported as sent, so a gauge raised here could stay up for ever.
 */
export function unroutedMetricsObserver(metrics: GatewayMetrics): NonNullable<BuiltinInstance['unrouted']> {
  const route = metrics.route(UNMATCHED_ROUTE);
  // Every metrics instance in the global middleware hears of the same request object (they share
  // the registry): the first one counts it.
  const seen = metrics.unroutedSeen;
  return function observeUnrouted(req: UnroutedRequest, status: number) {
    if (seen.has(req)) return;
    seen.add(req);
    const method = methodIndex(req.method);
    const start = performance.now();
    const count = (aborted: boolean): void => {
      route.requests(method, status).value++;
      route.duration(method).observe((performance.now() - start) / 1e3);
      if (aborted) route.aborted().value++;
    };
    if (req.upgrade) {
      count(false);
      return;
    }
    return (outcome) => count(outcome.aborted);
  };
}
