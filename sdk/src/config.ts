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
  /** Concurrent client connections per process (default 10 000); further connections are refused. */
  maxConnections?: number;
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
}

/**
 * Upstream timeouts of one route.
 * @example
 * const timeout: RouteTimeouts = { connect: '2s', headers: '10s', idle: '30s' };
 */
export interface RouteTimeouts {
  /** Opening a TCP connection to the upstream (default 5 s) → 504. */
  connect?: Duration;
  /** Waiting for the upstream's response headers (default 30 s) → 504. */
  headers?: Duration;
  /** Longest silence while streaming the response body (default 60 s; 0 disables, e.g. for SSE). */
  idle?: Duration;
}

/**
 * One route: a path pattern, the methods it answers, and where it forwards.
 * @example
 * const route: RouteConfig = {
 *   path: '/users/:id',
 *   methods: ['GET'],
 *   upstream: 'http://127.0.0.1:3001/users/{id}',
 *   middleware: ['strict-limit'],
 * };
 */
export interface RouteConfig {
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
  upstream: string | string[];
  /** Remove this prefix from the request path before forwarding (e.g. `/api`). */
  stripPrefix?: string;
  /** Replace the forwarded path with this template (`/v2/users/{id}`, `/{*}`). */
  rewrite?: string;
  /** Send the client's `Host` header to the upstream instead of the upstream's own (default false). */
  preserveHost?: boolean;
  timeout?: RouteTimeouts;
  /** Plugin instance names run for this route, in this order, after the global `middleware`. */
  middleware?: string[];
}

/**
 * Options of the built-in `headers` plugin: set or remove headers on the way in and out.
 * @example
 * const options: HeadersPluginOptions = {
 *   request: { set: { 'x-gateway': 'isogate' }, remove: ['cookie'] },
 *   response: { set: { 'cache-control': 'no-store' } },
 * };
 */
export interface HeadersPluginOptions {
  request?: { set?: Record<string, string>; remove?: string[] };
  response?: { set?: Record<string, string>; remove?: string[] };
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
 * The whole gateway configuration, the default export of `gateway.config.ts`.
 * @example
 * export default defineConfig({
 *   server: { port: 8080 },
 *   plugins: { 'no-store': { use: 'headers', options: { response: { set: { 'cache-control': 'no-store' } } } } },
 *   middleware: ['no-store'],
 *   routes: [{ path: '/users/:id', upstream: 'http://127.0.0.1:3001/users/{id}' }],
 * });
 */
export interface GatewayConfig {
  server?: ServerConfig;
  /** Plugin instances by name; route and global `middleware` lists refer to these names. */
  plugins?: Record<string, PluginInstanceConfig>;
  /** Plugin instance names run first on every route, in this order. */
  middleware?: string[];
  routes: RouteConfig[];
}

/**
 * Declare a gateway configuration with full type checking and editor completion.
 * It returns its argument unchanged; validation happens when the gateway loads it.
 * @example
 * import { defineConfig } from '@isogate/sdk';
 * export default defineConfig({
 *   routes: [{ path: '/orders/*', upstream: 'http://127.0.0.1:3002' }],
 * });
 */
export function defineConfig(config: GatewayConfig): GatewayConfig {
  return config;
}
