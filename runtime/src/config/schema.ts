import net from 'node:net';
import { z } from 'zod';
import { checkPattern } from '../router/router.ts';
import { byteSize, duration } from './units.ts';

/**
 * The validation schema of `gateway.config.ts`. Every object is strict (unknown keys are errors)
 * and every default lives here, so the parsed output *is* the resolved config.
 * The hand-written SDK types in `@isogate/sdk` describe the input; `config-types.test.ts` keeps
 * the two from drifting apart.
 */

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const httpUrl = z.string({ error: 'expected an http(s) URL' }).refine((s) => {
  if (!URL.canParse(s)) return false;
  const u = new URL(s);
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.search === '' && u.hash === '';
}, 'expected an http(s) URL without credentials, query or fragment');

const pathPattern = z.string().superRefine((s, ctx) => {
  const problem = checkPattern(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const pathTemplate = z.string().regex(/^\/[^?#]*$/, 'expected a path starting with "/", without query or fragment');

const addressOrCidr = z.string().refine((s) => {
  const [address, bits, extra] = s.split('/');
  if (extra !== undefined || !address || net.isIP(address) === 0) return false;
  if (bits === undefined) return true;
  const max = net.isIPv4(address) ? 32 : 128;
  return /^\d+$/.test(bits) && Number(bits) <= max;
}, 'expected an IP address or CIDR range like "10.0.0.0/8"');

const healthPath = z.string().regex(/^\/[A-Za-z0-9._~\-/]*$/, 'expected a plain path like "/healthz"');

const pemOrFile = z.string().min(1, 'expected a PEM file path or PEM text');

const instanceName = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'expected a name of letters, digits, ".", "_" or "-"');

export const serverSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  trustedProxies: z.array(addressOrCidr).default([]),
  limits: z
    .strictObject({
      maxHeaderBytes: byteSize.default(16 * 1024),
      maxHeaderCount: z.number().int().positive().max(2000).default(100),
      maxUrlLength: byteSize.default(8 * 1024),
      maxBodyBytes: byteSize.default(1024 * 1024),
      // Bodies up to this size are read completely before the upstream is called (0: always stream).
      bufferBodyBytes: byteSize.or(z.literal(0)).default(1024 * 1024),
      maxConnections: z.number().int().positive().default(10_000),
      // Requests (and WebSockets) in flight per client address (0: no limit).
      maxInFlightPerClient: z.number().int().nonnegative().default(64),
      // Pooled keep-alive connections per upstream origin.
      upstreamConnections: z.number().int().positive().max(65_535).default(256),
    })
    .prefault({}),
  timeouts: z
    .strictObject({
      headers: duration.default(15_000),
      request: duration.default(60_000),
      keepAlive: duration.default(5_000),
      send: duration.default(30_000),
      shutdown: duration.default(30_000),
    })
    .prefault({}),
  underscoreHeaders: z.enum(['drop', 'reject']).default('drop'),
  health: z
    .strictObject({
      liveness: healthPath.default('/healthz'),
      readiness: healthPath.default('/readyz'),
      // Readiness also needs every route to have an upstream in the rotation (circuit not open).
      requireUpstreams: z.boolean().default(false),
    })
    .prefault({}),
  tls: z
    .strictObject({
      // A file path (relative to the config file) or the PEM text itself (from env()).
      cert: pemOrFile,
      key: pemOrFile,
      minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
      // A plain-HTTP listener on this port that redirects every request to HTTPS.
      redirectHttpPort: z.number().int().min(0).max(65535).optional(),
    })
    .optional(),
});

const fieldName = z.string().regex(/^[^.]+$/, 'expected a field name (no dots)');
const fieldPath = z.string().regex(/^[^.]+(\.[^.]+)*$/, 'expected a field or a dotted path like "a.b"');

/** KrakenD-style shaping of a JSON answer (proxy/shape/json-shape.ts). */
const shapeFields = {
  target: fieldPath.optional(),
  allow: z.array(fieldPath).min(1).optional(),
  deny: z.array(fieldPath).min(1).optional(),
  mapping: z.record(fieldName, fieldName).optional(),
  group: fieldName.optional(),
  collection: fieldName.optional(),
};

const headerName = z.string().regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'expected an HTTP header name');

/** A backend URL: http(s), with `{placeholders}` in its path and query values (checked when the route resolves). */
const backendUrl = z.string().refine((s) => {
  const filled = s.replace(/\{[^}]*\}/g, 'x');
  if (!URL.canParse(filled)) return false;
  const u = new URL(filled);
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.hash === '';
}, 'expected an http(s) URL without credentials or fragment (placeholders like {id} or {query.q} allowed)');

export const backendSchema = z.strictObject({
  url: backendUrl,
  method: z.enum(METHODS).default('GET'),
  /** Request headers set on this backend's call; values are templates. */
  headers: z.record(headerName, z.string().regex(/^[^\r\n\0]*$/, 'header values cannot contain CR, LF or NUL')).default({}),
  timeout: duration.optional(),
  ...shapeFields,
});

const upstreamStatus = z.number().int().min(400, 'expected an HTTP status from 400 to 599').max(599, 'expected an HTTP status from 400 to 599');
const positiveDuration = duration.refine((ms) => ms > 0, 'expected a duration above 0');

/** Per upstream origin (shared by the routes that use it): proxy/breaker/circuit-breaker.ts. */
const circuitBreakerSchema = z.strictObject({
  consecutiveFailures: z.number().int().min(0).max(10_000).default(5),
  errorRate: z
    .strictObject({
      percent: z.number().gt(0).max(100),
      minRequests: z.number().int().min(1).max(1_000_000).default(20),
      window: positiveDuration.default(10_000),
    })
    .optional(),
  cooldown: positiveDuration.default(10_000),
  halfOpenProbes: z.number().int().min(1).max(1000).default(1),
  failureStatuses: z.array(upstreamStatus).default([500, 502, 503, 504]),
});

/** Per route: proxy/retry/retry-policy.ts. */
const retrySchema = z.strictObject({
  attempts: z.number().int().min(1).max(10).default(3),
  on: z.array(z.enum(['connect-failure', 'reset', 'timeout'])).default(['connect-failure', 'reset', 'timeout']),
  statuses: z.array(upstreamStatus).default([502, 503, 504]),
  backoff: z
    .strictObject({
      base: positiveDuration.default(25),
      max: positiveDuration.default(1_000),
    })
    .prefault({}),
  budget: z
    .strictObject({
      percent: z.number().min(0).max(100).default(20),
      minRetries: z.number().int().min(0).max(1_000_000).default(10),
      window: positiveDuration.default(10_000),
    })
    .prefault({}),
});

/** Per upstream set, run once per origin: proxy/health/health-checker.ts. */
const healthCheckSchema = z.strictObject({
  path: z.string().regex(/^\/[^#\s]*$/, 'expected a path like "/healthz" (a query is allowed)').default('/'),
  interval: positiveDuration.default(10_000),
  timeout: positiveDuration.default(2_000),
  healthyThreshold: z.number().int().min(1).max(100).default(2),
  unhealthyThreshold: z.number().int().min(1).max(100).default(3),
});

export const routeSchema = z.strictObject({
  name: z.string().min(1).optional(),
  path: pathPattern,
  methods: z.array(z.enum(METHODS)).min(1).optional(),
  upstream: z
    .union([httpUrl, z.array(httpUrl).min(1, 'expected at least one upstream URL')], {
      error: 'expected an http(s) URL or a list of them',
    })
    .optional(),
  backends: z.array(backendSchema).min(1, 'expected at least one backend').max(32, 'at most 32 backends').optional(),
  aggregate: z
    .strictObject({
      partial: z.enum(['flag', 'fail']).default('flag'),
      deadline: duration.default(10_000),
      maxBackendBytes: byteSize.default(1024 * 1024),
    })
    .prefault({}),
  shape: z.strictObject(shapeFields).optional(),
  stripPrefix: pathTemplate.optional(),
  rewrite: pathTemplate.optional(),
  preserveHost: z.boolean().default(false),
  websocket: z.boolean().default(false),
  http2: z.boolean().default(false),
  requestBuffering: z.boolean().default(true),
  timeout: z
    .strictObject({
      connect: duration.default(5_000),
      queue: duration.default(5_000),
      headers: duration.default(30_000),
      idle: duration.default(60_000),
      total: positiveDuration.optional(),
    })
    .prefault({}),
  circuitBreaker: circuitBreakerSchema.optional(),
  healthCheck: healthCheckSchema.optional(),
  retry: retrySchema.optional(),
  middleware: z.array(instanceName).default([]),
});

export const pluginInstanceSchema = z.strictObject({
  // 'user' (what usePlugin writes): `use` is a path or package, even one named like a built-in.
  kind: z.literal('user', { error: 'expected "user" (leave it out for a built-in)' }).optional(),
  use: z.string().min(1),
  options: z.unknown().optional(),
  // User plugins only (built-ins run natively and have no isolate):
  failurePolicy: z.enum(['fail-closed', 'fail-open']).optional(),
  isolation: z.enum(['own', 'shared']).optional(),
  fetch: z
    .strictObject({
      allow: z.array(httpUrl.refine((u) => URL.canParse(u) && new URL(u).origin === u.replace(/\/$/, ''), 'expected an origin like "https://idp.example.com" (no path)')).min(1),
      timeoutMs: z.number().int().min(1).max(60_000).optional(),
      maxResponseBytes: z.number().int().min(1).max(64 * 1024 * 1024).optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      memoryMb: z.number().int().min(8).max(4096).optional(),
      cpuMs: z.number().int().min(1).max(60_000).optional(),
      wallMs: z.number().int().min(1).max(600_000).optional(),
    })
    .optional(),
});

export const configSchema = z.strictObject({
  server: serverSchema.prefault({}),
  plugins: z.record(instanceName, pluginInstanceSchema).default({}),
  middleware: z.array(instanceName).default([]),
  routes: z.array(routeSchema),
});

/** The config after parsing: defaults filled, units converted. Frozen before use. */
export type ParsedConfig = z.output<typeof configSchema>;
export type ParsedRoute = z.output<typeof routeSchema>;
export type ParsedServer = z.output<typeof serverSchema>;
export type ConfigInput = z.input<typeof configSchema>;
