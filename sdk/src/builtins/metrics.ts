import type { Duration } from '../config.ts';

/**
 * Histogram bucket upper bounds, in seconds: positive, strictly increasing, at most 64
 * (`+Inf` is always added). Each bound is one time series per label set, so keep them few.
 * @example
 * const buckets: MetricsBuckets = { request: [0.01, 0.05, 0.1, 0.5, 1, 5], hook: [0.0005, 0.001, 0.005] };
 */
export interface MetricsBuckets {
  /**
   * `gateway_request_duration_seconds`. Default: `[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]`.
   * @example
   * const request = [0.01, 0.05, 0.1, 0.5, 1, 5];
   */
  request?: number[];
  /**
   * `gateway_upstream_duration_seconds`. Default: the same as `request`.
   * @example
   * const upstream = [0.005, 0.025, 0.1, 0.5, 2];
   */
  upstream?: number[];
  /**
   * `gateway_plugin_hook_duration_seconds`. Default: `[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]`.
   * @example
   * const hook = [0.0005, 0.001, 0.005, 0.05];
   */
  hook?: number[];
}

/**
 * Options of the built-in `metrics` plugin: Prometheus metrics for every request it sees, and a
 * scrape endpoint served before routing. List it first in the global `middleware` so that it
 * sees every route and times the whole chain. The registry outlives config reloads, so counters
 * never restart because the config changed; `buckets` and the process-metrics options are
 * fixed when the gateway starts (a reload that changes them logs a warning).
 *
 * Metrics: `gateway_requests_total{method,route,status}`,
 * `gateway_request_duration_seconds{method,route}`, `gateway_requests_in_flight`,
 * `gateway_upstream_duration_seconds{route,upstream}`, `gateway_plugin_hook_duration_seconds{plugin,hook}`,
 * `gateway_plugin_errors_total{plugin,kind}`, `gateway_ratelimit_rejections_total{route}`,
 * `gateway_auth_failures_total{route,reason}`, `gateway_config_reloads_total{result}`,
 * `gateway_requests_aborted_total{route}`, `gateway_metrics_workers`, and Node's process metrics.
 * `route` is always the route template (`/users/:id`), never the path a client sent.
 *
 * @example
 * import { defineConfig } from '@isogate/sdk';
 *
 * export default defineConfig({
 *   plugins: { metrics: { use: 'metrics', options: { allow: ['10.0.0.0/8', '127.0.0.1'] } } },
 *   middleware: ['metrics'],
 *   routes: [{ path: '/users/:id', upstream: 'http://users:3000' }],
 * });
 */
export interface MetricsPluginOptions {
  /**
   * Where the scrape is served, before routing (exact match; default `/metrics`). It must not
   * collide with the health paths or another plugin's endpoint.
   * @example
   * const path = '/internal/metrics';
   */
  path?: string;
  /**
   * Who may scrape: IP addresses and CIDR ranges, checked against the TCP peer's address (not
   * `X-Forwarded-For`: a scraper connects directly). Others get 403. Default: anyone — the
   * endpoint bypasses middleware and shows route templates, plugin names and upstream origins,
   * so set this to your scraper's CIDR (the gateway warns at start when it is unset and
   * `server.host` is not a loopback address).
   * @example
   * const allow = ['10.0.0.0/8', '127.0.0.1', '::1'];
   */
  allow?: string[];
  /**
   * Histogram buckets, in seconds.
   * @example
   * const buckets = { request: [0.01, 0.1, 1, 10] };
   */
  buckets?: MetricsBuckets;
  /**
   * Node.js process metrics from prom-client's `collectDefaultMetrics` (CPU, memory, heap, event
   * loop lag, GC, handles). Default `true`.
   * @example
   * const processMetrics = false;
   */
  processMetrics?: boolean;
  /**
   * Prefix for the process metrics' names (default none: `process_cpu_seconds_total`, `nodejs_heap_size_total_bytes`, …).
   * @example
   * const processMetricsPrefix = 'isogate_';
   */
  processMetricsPrefix?: string;
  /**
   * With `isogate start --workers N`: how long a scrape waits for every worker's metrics
   * (default `3s`, at most `60s`). A worker that has not answered by then is counted with its
   * last answer (counters and histograms, not gauges) and in `gateway_metrics_workers_missing`.
   * Keep it below Prometheus' `scrape_timeout`.
   * @example
   * const clusterTimeout = '2s';
   */
  clusterTimeout?: Duration;
  /**
   * How long a rendered scrape is served again before the metrics are collected anew (default
   * `1s`, at most `60s`; `0` collects on every scrape). A scraper polling back to back then costs
   * one collection per period rather than a CPU core; Prometheus scrapes every 15 s or so and
   * never notices. Concurrent scrapes always share one collection.
   * @example
   * const cacheFor = '500ms';
   */
  cacheFor?: Duration;
}
