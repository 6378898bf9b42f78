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
      maxConnections: z.number().int().positive().default(10_000),
    })
    .prefault({}),
  timeouts: z
    .strictObject({
      headers: duration.default(15_000),
      request: duration.default(60_000),
      keepAlive: duration.default(5_000),
      shutdown: duration.default(30_000),
    })
    .prefault({}),
  underscoreHeaders: z.enum(['drop', 'reject']).default('drop'),
  health: z
    .strictObject({
      liveness: healthPath.default('/healthz'),
      readiness: healthPath.default('/readyz'),
    })
    .prefault({}),
});

export const routeSchema = z.strictObject({
  name: z.string().min(1).optional(),
  path: pathPattern,
  methods: z.array(z.enum(METHODS)).min(1).optional(),
  upstream: z.union([httpUrl, z.array(httpUrl).min(1, 'expected at least one upstream URL')], {
    error: 'expected an http(s) URL or a list of them',
  }),
  stripPrefix: pathTemplate.optional(),
  rewrite: pathTemplate.optional(),
  preserveHost: z.boolean().default(false),
  timeout: z
    .strictObject({
      connect: duration.default(5_000),
      headers: duration.default(30_000),
      idle: duration.default(60_000),
    })
    .prefault({}),
  middleware: z.array(instanceName).default([]),
});

export const pluginInstanceSchema = z.strictObject({
  use: z.string().min(1),
  options: z.unknown().optional(),
  // User plugins only (built-ins run natively and have no isolate):
  failurePolicy: z.enum(['fail-closed', 'fail-open']).optional(),
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
