import type { ParsedServer } from './schema.ts';

/** How one backend's JSON answer is cut down before it is merged (proxy/shape/json-shape.ts). */
export interface ResolvedShape {
  readonly target?: string;
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  readonly mapping?: Readonly<Record<string, string>>;
  readonly group?: string;
  readonly collection?: string;
}

/** One backend of an aggregated route. */
export interface ResolvedBackend extends ResolvedShape {
  /** URL template (`{id}`, `{query.q}`, `{claims.sub}`, `{resp0.field}`). */
  readonly url: string;
  readonly method: string;
  /** Header values are templates. */
  readonly headers: Readonly<Record<string, string>>;
  /** Longest wait for this backend's answer, ms. */
  readonly timeout: number;
  /** Indexes of the backends whose answers this one's URL or headers use (it starts after them). */
  readonly after: readonly number[];
}

export interface ResolvedAggregate {
  /** 'flag': answer with what arrived and `X-Isogate-Completed: false`; 'fail': a coded 502/504. */
  readonly partial: 'flag' | 'fail';
  /** The whole aggregation, sequential steps included, ms. */
  readonly deadline: number;
  readonly maxBackendBytes: number;
}

/**
 * The circuit breaker of an upstream origin (proxy/breaker/circuit-breaker.ts). One per origin,
 * shared by every route that uses it; routes that set it for the same origin must agree.
 */
export interface ResolvedCircuitBreaker {
  /** Failures in a row that open it; 0: not this rule. */
  readonly consecutiveFailures: number;
  /** Failed share of the calls in a sliding window that opens it (once `minRequests` calls were seen); null: not this rule. */
  readonly errorRate: { readonly percent: number; readonly minRequests: number; readonly window: number } | null;
  /** How long it stays open before half-open probes are let through, ms. */
  readonly cooldown: number;
  /** Calls let through while half-open; all must succeed to close it, one failure opens it again. */
  readonly halfOpenProbes: number;
  /** Upstream answers counted as failures (connect errors and timeouts always are; a client abort never is). */
  readonly failureStatuses: readonly number[];
}

/** Active health checks of the origins of an upstream set (proxy/health/health-checker.ts), once per origin. */
export interface ResolvedHealthCheck {
  /** Path (and query) asked for with GET; a 2xx or 3xx answer is healthy. */
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  /** Passed checks in a row that put an unhealthy upstream back into the rotation. */
  readonly healthyThreshold: number;
  /** Failed checks in a row that take an upstream out of the rotation. */
  readonly unhealthyThreshold: number;
}

export type RetryCondition = 'connect-failure' | 'reset' | 'timeout';

/** A route's retries (proxy/retry/retry-policy.ts). */
export interface ResolvedRetry {
  /** Attempts in all, the first one included. */
  readonly attempts: number;
  /** Failures retried (a connect failure also on methods that are not idempotent: the request never left). */
  readonly on: readonly RetryCondition[];
  /** Upstream answers retried (before any byte of them reached the client). */
  readonly statuses: readonly number[];
  /** Exponential backoff with full jitter: before retry n, a random wait below min(max, base·2^(n-1)), ms. */
  readonly backoff: { readonly base: number; readonly max: number };
  /** Retries allowed over a sliding window: `minRetries` plus `percent` % of the route's requests. */
  readonly budget: { readonly percent: number; readonly minRetries: number; readonly window: number };
}

/** A route after validation: defaults filled, upstreams always a list, frozen. */
export interface ResolvedRoute {
  readonly name: string;
  readonly path: string;
  /** null: every method. */
  readonly methods: readonly string[] | null;
  /** Empty on an aggregated route (`backends`). */
  readonly upstreams: readonly string[];
  /** Several backends merged into one JSON answer; null for a proxied route. */
  readonly backends: readonly ResolvedBackend[] | null;
  readonly aggregate: ResolvedAggregate;
  /** Shaping of a proxied route's JSON answer; null: the answer streams untouched. */
  readonly shape: ResolvedShape | null;
  readonly stripPrefix: string | null;
  readonly rewrite: string | null;
  readonly preserveHost: boolean;
  /** WebSocket upgrades are passed through (every other Upgrade is removed). */
  readonly websocket: boolean;
  /** Speak HTTP/2 to the upstream: h2c (prior knowledge) for http://, ALPN h2 for https:// (gRPC). */
  readonly http2: boolean;
  /** Bodies up to `server.limits.bufferBodyBytes` are read before the upstream is called. */
  readonly requestBuffering: boolean;
  /**
   * `total`: the whole upstream exchange up to the response headers, every retry and backoff
   * included (ms); null: not set (a route with retries is then bounded by `headers`).
   */
  readonly timeout: { readonly connect: number; readonly queue: number; readonly headers: number; readonly idle: number; readonly total: number | null };
  /** The breaker of this route's origins, as this route sets it (null: not set here; another route may set it for the origin). */
  readonly circuitBreaker: ResolvedCircuitBreaker | null;
  /** Active health checks of this route's origins, as this route sets them. */
  readonly healthCheck: ResolvedHealthCheck | null;
  readonly retry: ResolvedRetry | null;
  readonly middleware: readonly string[];
}

export type ResolvedPluginInstance =
  | {
      readonly kind: 'builtin';
      readonly use: string;
      /** Options after the plugin's own schema validated them. */
      readonly options: unknown;
    }
  | {
      readonly kind: 'user';
      /** Path (relative to the config file) or npm package name. */
      readonly use: string;
      /** Raw options: validated by the plugin's schema inside its isolate when it loads. */
      readonly options: unknown;
      readonly failurePolicy: 'fail-closed' | 'fail-open';
      /** 'shared': loaded with the config's other shared instances into one isolate (PluginHost.createGroup). */
      readonly isolation: 'own' | 'shared';
      readonly limits: { readonly memoryMb: number; readonly cpuMs: number; readonly wallMs: number };
      /** Origins `ctx.fetch` may reach; null: the plugin has no `ctx.fetch`. */
      readonly fetch: { readonly allow: readonly string[]; readonly timeoutMs: number; readonly maxResponseBytes: number } | null;
    };

/** What factories see: the frozen config after parse → validate → defaults. Times in ms, sizes in bytes. */
export interface ResolvedConfig {
  readonly server: Readonly<ParsedServer>;
  readonly plugins: Readonly<Record<string, ResolvedPluginInstance>>;
  readonly middleware: readonly string[];
  readonly routes: readonly ResolvedRoute[];
  /** Things worth a warning that do not stop the config (fields two backends may both answer). */
  readonly notes: readonly { readonly path: string; readonly message: string }[];
}
