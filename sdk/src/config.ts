import type { UserPluginInstance } from './plugin.ts';
import type { AuthPluginOptions } from './builtins/auth.ts';
import type { RatelimitPluginOptions } from './builtins/ratelimit.ts';
import type { LoggingPluginOptions } from './builtins/logging.ts';
import type { MetricsPluginOptions } from './builtins/metrics.ts';
import type { TracingPluginOptions } from './builtins/tracing.ts';

/**
 * The shape of `gateway.config.ts`: what a gateway author writes. The runtime validates this
 * strictly (unknown keys are errors), fills defaults and freezes the result before anything
 * is built from it.
 */

/**
 * A duration: milliseconds as a number, or a string with a unit.
 * @example
 * const timeouts = { headers: '10s', request: 30_000, keepAlive: '5s' };
 */
export type Duration = number | `${number}ms` | `${number}s` | `${number}m`;

/** A byte size: a number of bytes, or a string with a unit (binary multiples). @example '1mb' */
export type ByteSize = number | `${number}b` | `${number}kb` | `${number}mb`;

/**
 * HTTP methods a route can declare.
 * @example
 * const methods: HttpMethod[] = ['GET', 'POST']; // HEAD is answered wherever GET is
 */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/**
 * Limits applied to every client request before any route or middleware runs.
 * @example
 * const limits: ServerLimits = { maxBodyBytes: '10mb', maxHeaderCount: 64 };
 */
export interface ServerLimits {
  /** Whole header block, request line included (default 16 KiB) → 431 when exceeded. */
  maxHeaderBytes?: ByteSize;
  /** Number of header fields (default 100) → 431 when exceeded. */
  maxHeaderCount?: number;
  /** Request-target length (default 8 KiB) → 414 when exceeded. */
  maxUrlLength?: ByteSize;
  /** Request body (default 1 MiB) → 413, before reading when Content-Length says so. */
  maxBodyBytes?: ByteSize;
  /**
   * Request bodies up to this size (default 1 MiB) are read completely before the upstream is
   * called, so a slow upload never holds an upstream connection while it trickles in (nginx's
   * `proxy_request_buffering`). Larger bodies stream. `0` streams every body; a route can opt out
   * with `requestBuffering: false`.
   */
  bufferBodyBytes?: ByteSize | 0;
  /** Concurrent client connections per process (default 10 000); further connections are refused. */
  maxConnections?: number;
  /**
   * Requests and WebSockets in flight at once from one client address (default 64; `0`: no
   * limit) → 429. The address is the client's own, from `X-Forwarded-For` when the peer is a
   * trusted proxy. Keeps one client from holding every pooled upstream connection.
   */
  maxInFlightPerClient?: number;
  /**
   * Keep-alive connections the gateway opens to one upstream origin at most (default 256). When all
   * are busy, requests wait up to the route's `timeout.queue`.
   */
  upstreamConnections?: number;
}

/**
 * Client-side timeouts.
 * @example
 * const timeouts: ServerTimeouts = { headers: '10s', request: '60s', shutdown: '20s' };
 */
export interface ServerTimeouts {
  /** Time to receive the complete request head (default 15 s) → 408. */
  headers?: Duration;
  /** Time to receive the complete request, body included (default 60 s) → 408. */
  request?: Duration;
  /** How long an idle keep-alive client connection stays open (default 5 s). */
  keepAlive?: Duration;
  /**
   * How long a response may wait for a client that stops reading (default 30 s; nginx's
   * `send_timeout`): the connection is closed when no data could be written for this long.
   */
  send?: Duration;
  /** On SIGTERM/SIGINT, how long in-flight requests may take before the process exits (default 30 s). */
  shutdown?: Duration;
}

/**
 * Paths of the built-in health endpoints, answered before routing and bypassing route middleware.
 * @example
 * const health: HealthPaths = { liveness: '/livez', readiness: '/readyz' };
 */
export interface HealthPaths {
  /** Liveness: 200 while the process runs (default `/healthz`). */
  liveness?: string;
  /** Readiness: 200 when serving, 503 while draining (default `/readyz`). */
  readiness?: string;
  /**
   * Readiness also answers 503 (`{"status":"upstreams-unavailable"}`) while some route has no
   * upstream in the rotation: every one of its upstreams has an open circuit breaker or fails its
   * health checks (default false). Mind that every gateway replica sees the same upstreams: with
   * this on, an upstream outage takes every replica out of its load balancer.
   */
  requireUpstreams?: boolean;
}

/**
 * The listening server.
 * @example
 * const server: ServerConfig = { host: '0.0.0.0', port: 8080, trustedProxies: ['10.0.0.0/8'] };
 */
export interface ServerConfig {
  /** Interface to bind (default `127.0.0.1`). */
  host?: string;
  /** Port (default 8080; 0 picks a free port). */
  port?: number;
  /**
   * Addresses or CIDR ranges of proxies in front of the gateway. Only requests arriving from one of
   * these have their `X-Forwarded-*` and `Forwarded` headers believed; from anyone else they are
   * replaced. Default: none.
   */
  trustedProxies?: string[];
  limits?: ServerLimits;
  timeouts?: ServerTimeouts;
  /**
   * What to do with request header names containing `_` (default `'drop'`). Proxies and CGI-style
   * backends map `-` and `_` to the same variable, so `X_User` could smuggle past a check on
   * `X-User`; nginx drops such headers by default, Envoy can reject them.
   */
  underscoreHeaders?: 'drop' | 'reject';
  health?: HealthPaths;
  /** Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) instead of plain HTTP. */
  tls?: TlsConfig;
}

/**
 * The HTTPS listener. Certificate and key files are watched: a renewed certificate is used for new
 * connections without a restart and without dropping open ones.
 * @example
 * const tls: TlsConfig = { cert: '/etc/isogate/tls.crt', key: '/etc/isogate/tls.key', redirectHttpPort: 8080 };
 * const fromEnv: TlsConfig = { cert: env('TLS_CERT_PEM'), key: env('TLS_KEY_PEM') };
 */
export interface TlsConfig {
  /** Certificate chain: a PEM file path (relative to the config file) or the PEM text itself. */
  cert: string;
  /** Private key: a PEM file path (relative to the config file) or the PEM text itself. */
  key: string;
  /** Oldest TLS version accepted (default `'TLSv1.2'`). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Also listen for plain HTTP on this port and redirect every request to HTTPS (308). */
  redirectHttpPort?: number;
}

/**
 * Upstream timeouts of one route.
 * @example
 * const timeout: RouteTimeouts = { connect: '2s', headers: '10s', idle: '30s' };
 */
export interface RouteTimeouts {
  /** Opening a TCP connection to the upstream (default 5 s) → 504. */
  connect?: Duration;
  /**
   * Waiting for a free pooled connection to the upstream when all are busy (default 5 s) →
   * 503 `ISOGATE_ERR_UPSTREAM_SATURATED`.
   */
  queue?: Duration;
  /** Waiting for the upstream's response headers (default 30 s) → 504. */
  headers?: Duration;
  /** Longest silence while streaming the response body (default 60 s; 0 disables, e.g. for SSE). */
  idle?: Duration;
  /**
   * The whole upstream exchange up to the response headers, every retry and backoff included →
   * 504. Default: not set; a route with `retry` is then bounded by `headers`.
   */
  total?: Duration;
}

/**
 * The circuit breaker of the route's upstream origins. A breaker belongs to an origin and is
 * shared by every route using it (routes that set it for the same origin must agree). While open,
 * calls fail at once with `503 ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN` (and `Retry-After`), and a route
 * with several upstreams skips it; after `cooldown`, `halfOpenProbes` calls are let through: all
 * succeed and it closes, one fails and it opens again. Failures are connect errors, resets,
 * timeouts and the `failureStatuses`; a client going away is never one.
 * @example
 * const breaker: CircuitBreakerConfig = { consecutiveFailures: 5, errorRate: { percent: 50, minRequests: 20, window: '10s' }, cooldown: '30s' };
 */
export interface CircuitBreakerConfig {
  /** Failures in a row that open it (default 5; 0: only the error rate). */
  consecutiveFailures?: number;
  /** Open when at least `percent` % of the calls in the last `window` failed (once `minRequests` calls were seen). */
  errorRate?: { percent: number; minRequests?: number; window?: Duration };
  /** How long it stays open before probing (default 10 s). */
  cooldown?: Duration;
  /** Calls let through half-open, all of which must succeed to close it (default 1). */
  halfOpenProbes?: number;
  /** Upstream statuses counted as failures (default `[500, 502, 503, 504]`). */
  failureStatuses?: number[];
}

/**
 * Retries of the route's upstream calls: exponential backoff with full jitter, on another upstream
 * of the set when there is one, only before any byte of an answer reached the client, within the
 * route's `timeout.total` and its retry budget. Requests that may be retried: idempotent methods
 * (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`) and requests without a body; a body must be buffered
 * (`requestBuffering`), a streamed one is never sent twice. A connect failure (nothing was sent)
 * is retried for any method.
 * @example
 * const retry: RetryConfig = { attempts: 3, backoff: { base: '50ms', max: '500ms' }, budget: { percent: 10 } };
 */
export interface RetryConfig {
  /** Attempts in all, the first one included (default 3). */
  attempts?: number;
  /** Failures retried (default all three). */
  on?: ('connect-failure' | 'reset' | 'timeout')[];
  /** Upstream answers retried (default `[502, 503, 504]`); the last attempt's answer is passed on as is. */
  statuses?: number[];
  /** Before retry n, a random wait below min(max, base·2^(n-1)) (default base 25 ms, max 1 s). */
  backoff?: { base?: Duration; max?: Duration };
  /**
   * At most `minRetries` plus `percent` % of the route's requests are retries, over a sliding
   * `window` (default 20 %, 10, 10 s): retries cannot multiply the load on a failing upstream.
   */
  budget?: { percent?: number; minRetries?: number; window?: Duration };
}

/**
 * Active health checks of the route's upstream origins: `GET path` every `interval`; a 2xx or 3xx
 * within `timeout` passes. `unhealthyThreshold` failures in a row take an upstream out of the
 * rotation (its circuit is held open), `healthyThreshold` passes put it back. One checker per
 * origin, however many routes use it.
 * @example
 * const healthCheck: HealthCheckConfig = { path: '/healthz', interval: '5s', timeout: '1s', unhealthyThreshold: 2 };
 */
export interface HealthCheckConfig {
  /** Path (and query) to GET (default `/`). */
  path?: string;
  /** Between the end of one check and the next (default 10 s). */
  interval?: Duration;
  /** Default 2 s. */
  timeout?: Duration;
  /** Passes in a row that put an upstream back (default 2). */
  healthyThreshold?: number;
  /** Failures in a row that take it out (default 3). */
  unhealthyThreshold?: number;
}

/**
 * KrakenD-style shaping of a JSON answer, applied in this order: `collection`, `target`,
 * `allow`/`deny`, `mapping`, `group`.
 * @example
 * const shape: ShapeConfig = { target: 'data', allow: ['id', 'profile.name'], mapping: { id: 'user_id' } };
 */
export interface ShapeConfig {
  /** Take this sub-object (dotted path) of the answer before the rest applies. */
  target?: string;
  /** Keep only these fields (dotted paths for nested ones). */
  allow?: string[];
  /** Drop these fields (dotted paths for nested ones). */
  deny?: string[];
  /** Rename top-level fields: `{ from: 'to' }`. */
  mapping?: Record<string, string>;
  /** Nest the result under this key. */
  group?: string;
  /** An answer that is a JSON array becomes this field (a top-level array cannot be merged). */
  collection?: string;
}

/**
 * One backend of an aggregated route. Its URL and header values are templates: `{id}` (route
 * params), `{query.q}`, `{claims.sub}` (after auth), `{env.NAME}`, `{req.clientIp}`, and
 * `{resp0.field}` (an earlier backend's answer: this one then waits for it).
 * @example
 * const backend: BackendConfig = { url: 'http://prefs:3000/preferences/{id}?lang={query.lang}', group: 'preferences', timeout: '800ms' };
 */
export interface BackendConfig extends ShapeConfig {
  url: string;
  /** Default GET. */
  method?: HttpMethod;
  /** Headers set on this backend's call (values are templates). */
  headers?: Record<string, string>;
  /** Longest wait for this backend's answer (default: the route's `timeout.headers`). */
  timeout?: Duration;
}

/**
 * How an aggregated route answers.
 * @example
 * const aggregate: AggregateConfig = { partial: 'fail', deadline: '3s' };
 */
export interface AggregateConfig {
  /**
   * When a backend fails: `'flag'` (default) answers with what arrived and
   * `X-Isogate-Completed: false`; `'fail'` answers the coded 502 (504 for a timeout).
   */
  partial?: 'flag' | 'fail';
  /** The whole aggregation, sequential steps included (default 10 s). */
  deadline?: Duration;
  /** Largest backend answer read (default 1 MiB); larger is that backend's failure. */
  maxBackendBytes?: ByteSize;
}

/**
 * The fields of a route ({@link RouteConfig} adds the rule that exactly one of `upstream` and
 * `backends` is given).
 * @example
 * const fields: RouteFields = { path: '/users/:id', upstream: 'http://127.0.0.1:3001/users/{id}' };
 */
export interface RouteFields<Instance extends string = string> {
  /** Name shown in logs and metrics (default: the path pattern). */
  name?: string;
  /**
   * Pattern: static segments, `:param` segments and a final `*` wildcard. The most specific
   * pattern wins (exact > param > wildcard), whatever the declaration order.
   */
  path: string;
  /** Methods answered (default: all). `HEAD` is answered wherever `GET` is. */
  methods?: HttpMethod[];
  /**
   * Upstream URL, or several for round-robin with failover. A path containing `{param}` or `{*}`
   * is a template filled from the route's params (the whole forwarded path); a plain path is a
   * prefix put before the forwarded path.
   */
  upstream?: string | string[];
  /**
   * Instead of `upstream`: several backends called at once (or in steps, when one URL uses another's
   * answer as `{resp0.field}`), whose JSON answers are shaped and merged into one object.
   * @example
   * backends: [
   *   { url: 'http://users:3000/users/{id}', group: 'user' },
   *   { url: 'http://billing:3000/subscriptions/{id}', allow: ['plan'], mapping: { plan: 'subscription_plan' } },
   * ]
   */
  backends?: BackendConfig[];
  /** How an aggregated route (`backends`) behaves. */
  aggregate?: AggregateConfig;
  /**
   * Shape a proxied route's JSON answer like a backend's (`target`, `allow`/`deny`, `mapping`,
   * `group`, `collection`). Without it the answer streams untouched.
   */
  shape?: ShapeConfig;
  /** Remove this prefix from the request path before forwarding (e.g. `/api`). */
  stripPrefix?: string;
  /** Replace the forwarded path with this template (`/v2/users/{id}`, `/{*}`). */
  rewrite?: string;
  /** Send the client's `Host` header to the upstream instead of the upstream's own (default false). */
  preserveHost?: boolean;
  /**
   * Pass WebSocket upgrades through to the upstream (default false). Only `Upgrade: websocket` is
   * ever tunnelled, and only on routes that say so; any other Upgrade (h2c, …) is removed and the
   * request proxied as a plain request.
   */
  websocket?: boolean;
  /**
   * Speak HTTP/2 to the upstream (default false): h2c with prior knowledge for `http://` URLs, ALPN
   * `h2` for `https://`. Needed for gRPC, whose trailers (grpc-status) are passed through.
   */
  http2?: boolean;
  /**
   * Read request bodies up to `server.limits.bufferBodyBytes` before calling the upstream (default
   * true). Turn off for routes that stream uploads to an upstream which reads them as they arrive.
   */
  requestBuffering?: boolean;
  timeout?: RouteTimeouts;
  /** Circuit breaker of this route's upstream origins (shared with every route using them). */
  circuitBreaker?: CircuitBreakerConfig;
  /** Active health checks of this route's upstream origins (once per origin). */
  healthCheck?: HealthCheckConfig;
  /** Retries of this route's upstream calls. */
  retry?: RetryConfig;
  /**
   * Plugin instance names run for this route, in this order, after the global `middleware`.
   * Only names declared under `plugins` compile (`NoInfer`: a name here never declares one).
   */
  middleware?: NoInfer<Instance>[];
}

/**
 * One route: a path pattern, the methods it answers, and where it forwards — an `upstream` (proxied)
 * or `backends` (aggregated), exactly one of them. `Instance` is the names of the config's plugin
 * instances (inferred by {@link defineConfig}).
 * @example
 * const route: RouteConfig<'strict-limit'> = {
 *   path: '/users/:id',
 *   methods: ['GET'],
 *   upstream: 'http://127.0.0.1:3001/users/{id}',
 *   middleware: ['strict-limit'],
 * };
 */
export type RouteConfig<Instance extends string = string> = RouteFields<Instance> &
  ({ upstream: string | string[]; backends?: undefined } | { backends: BackendConfig[]; upstream?: undefined });

/**
 * Options of the built-in `headers` plugin: set, append or remove headers on the way in and out.
 * Values are templates: `{claims.sub}` (needs auth before this instance), `{params.id}` (a param of
 * every route that runs it), `{query.q}`, `{env.NAME}` (read at load), `{req.clientIp}`.
 * @example
 * const options: HeadersPluginOptions = {
 *   request: { set: { 'x-user-id': '{claims.sub}', 'x-region': '{env.REGION}' }, remove: ['cookie'] },
 *   response: { set: { 'cache-control': 'no-store' }, append: { vary: 'authorization' } },
 * };
 */
export interface HeadersPluginOptions {
  request?: HeaderEdits;
  response?: HeaderEdits;
}

/**
 * Header edits, applied in this order: remove, set (replaces), append (adds to what is there;
 * `set-cookie` as another field, others joined with `, `).
 * @example
 * const edits: HeaderEdits = { set: { 'x-client': '{req.clientIp}' }, append: { via: 'edge' }, remove: ['server'] };
 */
export interface HeaderEdits {
  set?: Record<string, string>;
  append?: Record<string, string>;
  remove?: string[];
}

/**
 * Built-in plugins and their options, by the name used in `plugins.<instance>.use`.
 * @example
 * const options: BuiltinPluginOptions['headers'] = { response: { remove: ['server'] } };
 */
export interface BuiltinPluginOptions {
  headers: HeadersPluginOptions;
  auth: AuthPluginOptions;
  ratelimit: RatelimitPluginOptions;
  logging: LoggingPluginOptions;
  metrics: MetricsPluginOptions;
  tracing: TracingPluginOptions;
  cache: import('./builtins/cache.ts').CachePluginOptions;
}

/**
 * One configured plugin instance. A built-in can be instantiated several times under different
 * instance names with different options.
 * @example
 * const instance: PluginInstanceConfig = { use: 'headers', options: { response: { remove: ['server'] } } };
 */
export type PluginInstanceConfig =
  | {
      [K in keyof BuiltinPluginOptions]: { use: K; options?: BuiltinPluginOptions[K] };
    }[keyof BuiltinPluginOptions]
  | UserPluginInstance;

/**
 * The whole gateway configuration, the default export of `gateway.config.ts`. `Instance` is the
 * names of its plugin instances: {@link defineConfig} infers them from `plugins`, so a `middleware`
 * name that is not declared there is a type error.
 * @example
 * export default defineConfig({
 *   server: { port: 8080 },
 *   plugins: { 'no-store': { use: 'headers', options: { response: { set: { 'cache-control': 'no-store' } } } } },
 *   middleware: ['no-store'],
 *   routes: [{ path: '/users/:id', upstream: 'http://127.0.0.1:3001/users/{id}' }],
 * });
 */
export interface GatewayConfig<Instance extends string = string> {
  server?: ServerConfig;
  /** Plugin instances by name; route and global `middleware` lists refer to these names. */
  plugins?: Record<Instance, PluginInstanceConfig>;
  /** Plugin instance names run first on every route, in this order. */
  middleware?: NoInfer<Instance>[];
  routes: RouteConfig<Instance>[];
}

/**
 * Declare a gateway configuration with full type checking and editor completion: plugin options
 * against each plugin's types, and every `middleware` name (global and per route) against the
 * instances declared under `plugins`, so a misspelt name is an editor error.
 * It returns its argument unchanged; validation happens when the gateway loads it.
 * @example
 * import { defineConfig } from '@isogate/sdk';
 * export default defineConfig({
 *   plugins: { 'no-store': { use: 'headers', options: { response: { set: { 'cache-control': 'no-store' } } } } },
 *   routes: [{ path: '/orders/*', upstream: 'http://127.0.0.1:3002', middleware: ['no-store'] }],
 * });
 */
export function defineConfig<Instance extends string = never>(config: GatewayConfig<Instance>): GatewayConfig<Instance> {
  return config;
}
