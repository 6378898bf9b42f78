import net from 'node:net';
import { z } from 'zod';
import { duration } from '../../runtime/src/config/units.ts';

/** An endpoint path the gateway can match exactly: plain segments, no `.`/`..`, no query. */
const endpointPath = z
  .string()
  .regex(/^(\/[A-Za-z0-9._~-]+)+$/, 'expected a plain path like "/metrics" (letters, digits, "._~-" segments)')
  .refine((p) => !p.split('/').some((s) => s === '.' || s === '..'), 'path segments cannot be "." or ".."');

const addressOrCidr = z.string().refine((s) => {
  const [address, bits, extra] = s.split('/');
  if (extra !== undefined || !address || net.isIP(address) === 0) return false;
  if (bits === undefined) return true;
  return /^\d+$/.test(bits) && Number(bits) <= (net.isIPv4(address) ? 32 : 128);
}, 'expected an IP address or CIDR range like "10.0.0.0/8"');

/** Histogram upper bounds in seconds: finite, positive, strictly increasing (`+Inf` is implicit). */
const buckets = z
  .array(z.number().positive('bucket bounds are positive seconds').finite())
  .min(1, 'at least one bucket bound')
  .max(64, 'at most 64 bucket bounds (each one is a time series per label set)')
  .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), 'bucket bounds must be strictly increasing');

/** Prometheus' classic request buckets (5 ms … 10 s), as prom-client and most exporters use. */
export const DEFAULT_REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** User-plugin hooks run in well under a millisecond when healthy: 100 µs … 1 s. */
export const DEFAULT_HOOK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] as const;

export const metricsOptions = z.strictObject({
  path: endpointPath.default('/metrics'),
  allow: z.array(addressOrCidr).min(1, 'list at least one address, or leave `allow` out to let anyone scrape').optional(),
  buckets: z
    .strictObject({
      request: buckets.default([...DEFAULT_REQUEST_BUCKETS]),
      upstream: buckets.default([...DEFAULT_REQUEST_BUCKETS]),
      hook: buckets.default([...DEFAULT_HOOK_BUCKETS]),
    })
    .prefault({}),
  processMetrics: z.boolean().default(true),
  // Stricter than Prometheus' name syntax: promtool rejects names with ':' (reserved for
  // recording rules) or in camelCase, and the prefix is part of every process metric's name.
  processMetricsPrefix: z
    .string()
    .regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, 'expected a metric name prefix of letters, digits and "_" like "isogate_"')
    .refine((p) => !/[a-z][A-Z]/.test(p), 'expected snake_case like "my_app_", not camelCase (Prometheus naming)')
    .default(''),
  clusterTimeout: duration.refine((ms) => ms >= 10 && ms <= 60_000, 'expected between 10 ms and 60 s').default(3_000),
  /** How long a rendered scrape is served again before collecting anew (0: every scrape collects). */
  cacheFor: duration.refine((ms) => ms <= 60_000, 'expected at most 60 s (0 to collect on every scrape)').default(1_000),
});

export type MetricsOptions = z.output<typeof metricsOptions>;
export type MetricsOptionsInput = z.input<typeof metricsOptions>;
