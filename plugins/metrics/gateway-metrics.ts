import { collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { HookName, PluginErrorKind } from '../../runtime/src/chain/instruments.ts';
import type { GatewayEvent } from '../../runtime/src/plugins/builtin-plugin.ts';
import { CIRCUIT_STATE_VALUE } from '../../runtime/src/proxy/breaker/circuit-breaker.ts';
import type { MetricsOptions } from './options.ts';
import { CounterFamily, type CounterSeries, GaugeFamily, type GaugeSeries, HistogramFamily, type HistogramSeries, registerFamily } from './series.ts';

/**
 * Every metric the gateway exposes, in one registry per gateway that outlives config reloads
 * (kept in `ctx.shared`), so counters never restart because the config changed.
 *
 * Cardinality is bounded by the config, never by what clients send: `route` is the route
 * template, `method` one of a fixed set, `upstream` an origin from the config, `plugin` an
 * instance name, `status` an HTTP status, and the free-text labels (`reason`) are sanitised and
 * capped.
 */

/** Method label values; anything else (WebDAV verbs, custom methods) is `_OTHER`, as OpenTelemetry does. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', '_OTHER'] as const;
const OTHER_METHOD = METHODS.length - 1;

export function methodIndex(method: string): number {
  switch (method) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'PATCH':
      return 5;
    case 'OPTIONS':
      return 6;
    case 'CONNECT':
      return 7;
    case 'TRACE':
      return 8;
    default:
      return OTHER_METHOD;
  }
}

/** A free-text label value reported by a plugin (an auth failure reason): short codes pass, the rest is `other`. */
const LABEL_CODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$/;
/** Distinct `reason` values kept per route before further ones are counted as `other`. */
export const MAX_REASONS_PER_ROUTE = 32;

/** The series of one route template, resolved once so a request only indexes arrays. */
export class RouteMetrics {
  readonly route: string;
  readonly #metrics: GatewayMetrics;
  /** [method index][status] → requests_total series. */
  readonly #requests: CounterSeries[][] = [];
  /** [method index] → request duration series. */
  readonly #durations: HistogramSeries[] = [];
  readonly #upstreams = new Map<string, HistogramSeries>();
  readonly #authFailures = new Map<string, CounterSeries>();
  #rejections: CounterSeries | undefined;
  #aborted: CounterSeries | undefined;
  #otherAuthFailures: CounterSeries | undefined;

  constructor(metrics: GatewayMetrics, route: string) {
    this.#metrics = metrics;
    this.route = route;
  }

  requests(method: number, status: number): CounterSeries {
    const byStatus = (this.#requests[method] ??= []);
    return (byStatus[status] ??= this.#metrics.requestsTotal.series(METHODS[method]!, this.route, String(status)));
  }

  duration(method: number): HistogramSeries {
    return (this.#durations[method] ??= this.#metrics.requestDuration.series(METHODS[method]!, this.route));
  }

  upstream(origin: string): HistogramSeries {
    let s = this.#upstreams.get(origin);
    if (s === undefined) {
      s = this.#metrics.upstreamDuration.series(this.route, origin);
      this.#upstreams.set(origin, s);
    }
    return s;
  }

  rejections(): CounterSeries {
    return (this.#rejections ??= this.#metrics.ratelimitRejections.series(this.route));
  }

  aborted(): CounterSeries {
    return (this.#aborted ??= this.#metrics.abortedTotal.series(this.route));
  }

  authFailure(reason: string): CounterSeries {
    let s = this.#authFailures.get(reason);
    if (s === undefined) {
      if (LABEL_CODE.test(reason) && this.#authFailures.size < MAX_REASONS_PER_ROUTE) {
        s = this.#metrics.authFailures.series(this.route, reason);
        this.#authFailures.set(reason, s);
      } else {
        // Not remembered: junk must not grow the map either.
        s = this.#otherAuthFailures ??= this.#metrics.authFailures.series(this.route, 'other');
      }
    }
    return s;
  }
}

/** The definitions that a registry is built with; they cannot change while the registry lives. */
export interface MetricDefinitions {
  readonly buckets: MetricsOptions['buckets'];
  readonly processMetrics: boolean;
  readonly processMetricsPrefix: string;
}

export function sameDefinitions(a: MetricDefinitions, b: MetricDefinitions): boolean {
  const same = (x: readonly number[], y: readonly number[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    same(a.buckets.request, b.buckets.request) &&
    same(a.buckets.upstream, b.buckets.upstream) &&
    same(a.buckets.hook, b.buckets.hook) &&
    a.processMetrics === b.processMetrics &&
    a.processMetricsPrefix === b.processMetricsPrefix
  );
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly definitions: MetricDefinitions;

  readonly requestsTotal = new CounterFamily('gateway_requests_total', 'Requests answered, by method, route template and status', ['method', 'route', 'status']);
  readonly requestDuration: HistogramFamily;
  readonly inFlight: GaugeSeries;
  readonly upstreamDuration: HistogramFamily;
  readonly hookDuration: HistogramFamily;
  readonly pluginErrors = new CounterFamily('gateway_plugin_errors_total', 'User-plugin hook failures, by plugin instance and kind', ['plugin', 'kind']);
  readonly ratelimitRejections = new CounterFamily('gateway_ratelimit_rejections_total', 'Requests refused by a rate limit, by route template', ['route']);
  readonly authFailures = new CounterFamily('gateway_auth_failures_total', 'Requests refused by authentication, by route template and reason', ['route', 'reason']);
  readonly configReloads = new CounterFamily('gateway_config_reloads_total', 'Config reloads, by result', ['result']);
  readonly abortedTotal = new CounterFamily('gateway_requests_aborted_total', 'Responses the client did not receive completely (it went away, or the body stream failed), by route template', ['route']);
  // 0/1/2 so that the worst state wins when a cluster scrape takes the highest across workers.
  readonly circuitState = new GaugeFamily(
    'gateway_upstream_circuit_state',
    'Circuit breaker state of an upstream origin: 0 closed, 1 half-open, 2 open (out of the rotation); across workers the highest',
    ['upstream'],
    { aggregator: 'max' },
  );
  readonly circuitTransitions = new CounterFamily('gateway_upstream_circuit_transitions_total', 'Circuit breaker state changes of an upstream origin, by the state entered', ['upstream', 'state']);

  /** Requests answered before routing that an instance has counted (several instances share this registry). */
  readonly unroutedSeen = new WeakSet<object>();

  readonly #routes = new Map<string, RouteMetrics>();
  readonly #hooks = new Map<string, Record<HookName, HistogramSeries | undefined>>();
  readonly #pluginErrors = new Map<string, Partial<Record<PluginErrorKind, CounterSeries>>>();

  constructor(definitions: MetricDefinitions) {
    this.definitions = definitions;
    const { buckets } = definitions;
    this.requestDuration = new HistogramFamily(
      'gateway_request_duration_seconds',
      'Time from the metrics middleware receiving the request to the response being written to the client, by method and route template',
      ['method', 'route'],
      buckets.request,
    );
    this.upstreamDuration = new HistogramFamily(
      'gateway_upstream_duration_seconds',
      'Time from sending a request upstream to its response headers (or failure), per attempt, by route template and upstream origin',
      ['route', 'upstream'],
      buckets.upstream,
    );
    this.hookDuration = new HistogramFamily('gateway_plugin_hook_duration_seconds', 'User-plugin hook calls, by plugin instance and hook', ['plugin', 'hook'], buckets.hook);
    const inFlight = new GaugeFamily('gateway_requests_in_flight', 'Requests received by the metrics middleware and not yet answered', []);
    this.inFlight = inFlight.series();
    // 1 per process: summed across workers it says how many answered a cluster scrape.
    const workers = new GaugeFamily('gateway_metrics_workers', 'Gateway processes whose metrics are in this scrape', []);
    workers.series().value = 1;
    // Always 0 in one process; the cluster primary sets it (see cluster.ts). Present here so that
    // dashboards and alerts see the same series with or without --workers.
    const missing = new GaugeFamily('gateway_metrics_workers_missing', 'Gateway processes that did not answer this scrape in time (counted with their last answer, without their gauges)', []);
    missing.series().value = 0;

    for (const family of [
      this.requestsTotal,
      this.requestDuration,
      inFlight,
      this.upstreamDuration,
      this.hookDuration,
      this.pluginErrors,
      this.ratelimitRejections,
      this.authFailures,
      this.abortedTotal,
      this.configReloads,
      this.circuitState,
      this.circuitTransitions,
      workers,
      missing,
    ]) {
      registerFamily(this.registry, family);
    }
    // Both results exist from the start, so "no reload has failed" is a 0 rather than a missing series.
    this.configReloads.series('success');
    this.configReloads.series('failure');
    if (definitions.processMetrics) {
      for (const metric of processMetrics(definitions.processMetricsPrefix).getMetricsAsArray()) this.registry.registerMetric(metric as unknown as Metric);
    }
  }

  onGatewayEvent(event: GatewayEvent): void {
    if (event.type === 'config-reload') this.configReloads.series(event.result).value++;
    else if (event.type === 'upstream-circuit') {
      this.circuitState.series(event.upstream).value = CIRCUIT_STATE_VALUE[event.state];
      // `previous: null` reports the present state (a new origin, a late subscriber): no change to count.
      if (event.previous !== null) this.circuitTransitions.series(event.upstream, event.state).value++;
    }
  }

  route(template: string): RouteMetrics {
    let r = this.#routes.get(template);
    if (r === undefined) {
      r = new RouteMetrics(this, template);
      this.#routes.set(template, r);
    }
    return r;
  }

  hook(plugin: string, hook: HookName): HistogramSeries {
    let byHook = this.#hooks.get(plugin);
    if (byHook === undefined) {
      byHook = { onRequest: undefined, onResponse: undefined, verifier: undefined };
      this.#hooks.set(plugin, byHook);
    }
    return (byHook[hook] ??= this.hookDuration.series(plugin, hook));
  }

  pluginError(plugin: string, kind: PluginErrorKind): CounterSeries {
    let byKind = this.#pluginErrors.get(plugin);
    if (byKind === undefined) {
      byKind = {};
      this.#pluginErrors.set(plugin, byKind);
    }
    return (byKind[kind] ??= this.pluginErrors.series(plugin, kind));
  }
}

/**
 * Node process metrics (CPU, memory, heap spaces, event-loop lag, GC, handles) are per process,
 * and prom-client's collectors start an event-loop monitor and a GC observer that cannot be
 * stopped: collect them once per process (and prefix) and register the same metric objects in
 * every gateway's registry, so a process that builds many gateways (tests) does not pile them up.
 */
const processRegistries = new Map<string, Registry>();

function processMetrics(prefix: string): Registry {
  let registry = processRegistries.get(prefix);
  if (registry === undefined) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix });
    for (const [from, to, help] of RENAMED_PROCESS_GAUGES) renameGauge(registry, prefix + from, prefix + to, help);
    processRegistries.set(prefix, registry);
  }
  return registry;
}

/**
 * prom-client's totals of active handles, requests and resources are gauges with a counter's
 * `_total` suffix: Prometheus' linter rejects them (`promtool check metrics`: non-counter metrics
 * should not have "_total" suffix), and tools that go by the suffix take them for counters. The
 * same numbers are exposed under lint-clean names. They are kept rather than left to
 * `sum without (type) (nodejs_active_handles)`, which has no series at all (rather than 0) when
 * nothing of the kind is active, as is usual for libuv requests.
 */
const RENAMED_PROCESS_GAUGES = [
  ['nodejs_active_handles_total', 'nodejs_active_handles_all', 'Number of active libuv handles of all types (the sum of nodejs_active_handles over type)'],
  ['nodejs_active_requests_total', 'nodejs_active_requests_all', 'Number of active libuv requests of all types (the sum of nodejs_active_requests over type)'],
  ['nodejs_active_resources_total', 'nodejs_active_resources_all', 'Number of active resources keeping the event loop alive, of all types (the sum of nodejs_active_resources over type)'],
] as const;

/**
 * Re-expose prom-client's gauge `from` as `to`: the original is unregistered and read at each
 * collection, so the number stays exactly prom-client's. Nothing to do where this Node lacks the
 * API behind it (prom-client then did not create it).
 */
function renameGauge(registry: Registry, from: string, to: string, help: string): void {
  const original = registry.getSingleMetric(from);
  if (original === undefined) return;
  registry.removeSingleMetric(from);
  new Gauge({
    name: to,
    help,
    registers: [registry],
    async collect() {
      const { values } = await original.get();
      this.set(values[0]?.value ?? 0);
    },
  });
}
