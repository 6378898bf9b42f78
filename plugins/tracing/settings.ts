import type { TracingOptions } from './options.ts';

/**
 * The tracing plugin's options merged with the standard OTEL_* environment variables.
 *
 * Precedence, per setting: the config file, then the environment variable, then the built-in
 * default — the order OpenTelemetry's own SDKs use for programmatic configuration. A deployment
 * can therefore point a config without an `otlp.endpoint` at its collector through
 * OTEL_EXPORTER_OTLP_ENDPOINT, while a value written in the config is never silently overridden.
 *
 * Pure (the environment is a parameter) and light: nothing of OpenTelemetry is loaded here.
 */

export type ExporterKind = 'otlp-http' | 'otlp-grpc' | 'console' | 'none';

export interface TracingSettings {
  /** False when OTEL_SDK_DISABLED=true: the plugin passes requests through untouched. */
  readonly enabled: boolean;
  readonly serviceName: string;
  /** Resource attributes: OTEL_RESOURCE_ATTRIBUTES, then the config's, then `service.name`. */
  readonly resource: Readonly<Record<string, string | number | boolean>>;
  readonly exporter: ExporterKind;
  readonly otlp: {
    /** Full URL the spans are sent to (`…/v1/traces` for HTTP, `http(s)://host:4317` for gRPC). */
    readonly endpoint: string;
    /** Headers from the config; the exporter adds OTEL_EXPORTER_OTLP(_TRACES)_HEADERS under them. */
    readonly headers: Readonly<Record<string, string>>;
    readonly encoding: 'protobuf' | 'json';
    /** Undefined: the exporter reads OTEL_EXPORTER_OTLP(_TRACES)_COMPRESSION, else none. */
    readonly compression: 'gzip' | 'none' | undefined;
    /** Undefined: the exporter reads OTEL_EXPORTER_OTLP(_TRACES)_TIMEOUT, else 10 s. */
    readonly timeoutMs: number | undefined;
  };
  readonly sampling: {
    /** Probability that a trace starting at the gateway is recorded. */
    readonly ratio: number;
    /** Follow the sampled flag of a continued incoming context instead of the ratio. */
    readonly parentBased: boolean;
    /**
     * Whose sampled flag is followed when `parentBased`: a client's flag otherwise carries no
     * weight and the ratio decides (`"never"` whenever `parentBased` is false).
     */
    readonly honourIncomingSampled: 'always' | 'trusted-proxies' | 'never';
  };
  readonly batch: {
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly scheduledDelayMs: number;
    readonly exportTimeoutMs: number;
  };
  readonly continueIncoming: TracingOptions['continueIncoming'];
  /** Span attribute strings (and each string of an array) are cut to this many characters. */
  readonly attributeValueLengthLimit: number;
  /** How long closing the gateway waits for the last spans to be exported before dropping them. */
  readonly shutdownTimeoutMs: number;
  readonly captureHeaders: { readonly request: readonly string[]; readonly response: readonly string[] };
  /** Environment values that were malformed and ignored (logged once by the caller). */
  readonly warnings: readonly string[];
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_SERVICE_NAME = 'isogate';
const DEFAULT_HTTP_ENDPOINT = 'http://localhost:4318/v1/traces';
const DEFAULT_GRPC_ENDPOINT = 'http://localhost:4317';
const TRACES_PATH = 'v1/traces';
// OpenTelemetry's own default is no limit; a gateway records client-chosen strings (user agent,
// path, captured headers), and the batch queue holds up to maxQueueSize spans of them.
const DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT = 1024;

function envString(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function validUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values percent-encoded. */
export function parseResourceAttributes(raw: string | undefined, warnings: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const pair of raw.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq === -1 ? '' : pair.slice(0, eq).trim();
    if (key === '') {
      warnings.push(`OTEL_RESOURCE_ATTRIBUTES: ignored "${pair.trim()}" (expected key=value)`);
      continue;
    }
    try {
      out[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      warnings.push(`OTEL_RESOURCE_ATTRIBUTES: ignored the value of "${key}" (bad percent-encoding)`);
    }
  }
  return out;
}

interface EnvSampler {
  ratio?: number;
  parentBased?: boolean;
}

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, mapped onto our two knobs. */
function samplerFromEnv(env: Env, warnings: string[]): EnvSampler {
  const name = envString(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase();
  if (name === undefined) return {};
  const argRatio = (): number => {
    const raw = envString(env, 'OTEL_TRACES_SAMPLER_ARG');
    const n = raw === undefined ? NaN : Number(raw);
    if (Number.isFinite(n) && n >= 0 && n <= 1) return n;
    warnings.push(`OTEL_TRACES_SAMPLER_ARG=${raw ?? ''} is not a ratio between 0 and 1: using 1`);
    return 1;
  };
  switch (name) {
    case 'always_on':
      return { ratio: 1, parentBased: false };
    case 'always_off':
      return { ratio: 0, parentBased: false };
    case 'traceidratio':
      return { ratio: argRatio(), parentBased: false };
    case 'parentbased_always_on':
      return { ratio: 1, parentBased: true };
    case 'parentbased_always_off':
      return { ratio: 0, parentBased: true };
    case 'parentbased_traceidratio':
      return { ratio: argRatio(), parentBased: true };
    default:
      warnings.push(`OTEL_TRACES_SAMPLER=${name} is not supported here (always_on, always_off, traceidratio and their parentbased_ forms are): ignored`);
      return {};
  }
}

/** OTEL_TRACES_EXPORTER plus the OTLP protocol variables. */
function exporterFromEnv(env: Env, warnings: string[]): { kind?: ExporterKind; encoding?: 'protobuf' | 'json' } {
  const protocol = envString(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? envString(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');
  let otlp: { kind: ExporterKind; encoding?: 'protobuf' | 'json' } = { kind: 'otlp-http' };
  if (protocol === 'grpc') otlp = { kind: 'otlp-grpc' };
  else if (protocol === 'http/json') otlp = { kind: 'otlp-http', encoding: 'json' };
  else if (protocol === 'http/protobuf') otlp = { kind: 'otlp-http', encoding: 'protobuf' };
  else if (protocol !== undefined) warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not one of grpc, http/protobuf, http/json: ignored`);

  const names = (envString(env, 'OTEL_TRACES_EXPORTER') ?? '')
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== '');
  if (names.length === 0) return protocol === undefined ? {} : otlp;
  if (names.includes('none')) return { kind: 'none' };
  // One exporter per instance: the first one we know wins.
  for (const name of names) {
    if (name === 'otlp') return otlp;
    if (name === 'console') return { kind: 'console' };
  }
  warnings.push(`OTEL_TRACES_EXPORTER=${names.join(',')}: only otlp, console and none are supported: using otlp`);
  return otlp;
}

function endpointFromEnv(env: Env, kind: ExporterKind, warnings: string[]): string | undefined {
  const specific = envString(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (specific !== undefined) {
    if (validUrl(specific)) return specific;
    warnings.push(`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${specific} is not an http(s) URL: ignored`);
  }
  const base = envString(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base !== undefined) {
    if (!validUrl(base)) warnings.push(`OTEL_EXPORTER_OTLP_ENDPOINT=${base} is not an http(s) URL: ignored`);
    // The spec: the generic endpoint is a base to which HTTP exporters append the signal's path.
    else return kind === 'otlp-grpc' ? base : `${base.endsWith('/') ? base : `${base}/`}${TRACES_PATH}`;
  }
  return undefined;
}

/** A configured HTTP endpoint with no path (`http://collector:4318`) gets the standard `/v1/traces`. */
function configEndpoint(endpoint: string, kind: ExporterKind): string {
  if (kind === 'otlp-grpc') return endpoint;
  const url = new URL(endpoint);
  if (url.pathname === '/' && url.search === '') return `${url.origin}/${TRACES_PATH}`;
  return endpoint;
}

function envNonNegative(env: Env, name: string, warnings: string[]): number | undefined {
  const raw = envString(env, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (Number.isFinite(n) && n >= 0) return n;
  warnings.push(`${name}=${raw} is not a non-negative number: ignored`);
  return undefined;
}

/** OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, else the general OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT (the spec's precedence). */
function attributeLimitFromEnv(env: Env, warnings: string[]): number | undefined {
  for (const name of ['OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT']) {
    const raw = envString(env, name);
    if (raw === undefined) continue;
    const n = Number(raw);
    if (Number.isInteger(n) && n > 0) return n;
    warnings.push(`${name}=${raw} is not a positive integer: ignored`);
  }
  return undefined;
}

export function resolveSettings(options: TracingOptions, env: Env): TracingSettings {
  const warnings: string[] = [];
  const enabled = envString(env, 'OTEL_SDK_DISABLED')?.toLowerCase() !== 'true';

  const fromEnvAttributes = parseResourceAttributes(envString(env, 'OTEL_RESOURCE_ATTRIBUTES'), warnings);
  const serviceName = options.serviceName ?? envString(env, 'OTEL_SERVICE_NAME') ?? fromEnvAttributes['service.name'] ?? DEFAULT_SERVICE_NAME;
  const resource = { ...fromEnvAttributes, ...options.resourceAttributes, 'service.name': serviceName };

  const envExporter = exporterFromEnv(env, warnings);
  const exporter = options.exporter ?? envExporter.kind ?? 'otlp-http';
  const endpoint =
    options.otlp.endpoint !== undefined
      ? configEndpoint(options.otlp.endpoint, exporter)
      : (endpointFromEnv(env, exporter, warnings) ?? (exporter === 'otlp-grpc' ? DEFAULT_GRPC_ENDPOINT : DEFAULT_HTTP_ENDPOINT));

  const envSampling = samplerFromEnv(env, warnings);
  const parentBased = options.sampling.parentBased ?? envSampling.parentBased ?? true;
  const batchDefaults = { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMs: 5000, exportTimeoutMs: 30_000 };
  const maxQueueSize = options.batch.maxQueueSize ?? envNonNegative(env, 'OTEL_BSP_MAX_QUEUE_SIZE', warnings) ?? batchDefaults.maxQueueSize;
  let maxExportBatchSize = options.batch.maxExportBatchSize ?? envNonNegative(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', warnings) ?? batchDefaults.maxExportBatchSize;
  if (maxExportBatchSize > maxQueueSize) {
    warnings.push(`the export batch size (${maxExportBatchSize}) is larger than the queue (${maxQueueSize}): using ${maxQueueSize}`);
    maxExportBatchSize = maxQueueSize;
  }

  return {
    enabled,
    serviceName,
    resource,
    exporter,
    otlp: {
      endpoint,
      headers: options.otlp.headers,
      encoding: options.otlp.encoding ?? envExporter.encoding ?? 'protobuf',
      compression: options.otlp.compression,
      timeoutMs: options.otlp.timeout,
    },
    sampling: {
      ratio: options.sampling.ratio ?? envSampling.ratio ?? 1,
      parentBased,
      honourIncomingSampled: parentBased ? (options.sampling.honourIncomingSampled ?? 'trusted-proxies') : 'never',
    },
    batch: {
      maxQueueSize,
      maxExportBatchSize,
      scheduledDelayMs: options.batch.scheduledDelay ?? envNonNegative(env, 'OTEL_BSP_SCHEDULE_DELAY', warnings) ?? batchDefaults.scheduledDelayMs,
      exportTimeoutMs: options.batch.exportTimeout ?? envNonNegative(env, 'OTEL_BSP_EXPORT_TIMEOUT', warnings) ?? batchDefaults.exportTimeoutMs,
    },
    continueIncoming: options.continueIncoming,
    attributeValueLengthLimit: options.attributeValueLengthLimit ?? attributeLimitFromEnv(env, warnings) ?? DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    shutdownTimeoutMs: options.shutdownTimeout,
    captureHeaders: {
      request: options.captureHeaders.request.map((h) => h.toLowerCase()),
      response: options.captureHeaders.response.map((h) => h.toLowerCase()),
    },
    warnings,
  };
}

/** Identity of the pipeline a setting set needs: instances with equal keys share one provider. */
export function providerKey(s: TracingSettings): string {
  // Not shutdownTimeoutMs: the provider takes the latest value on each acquire (provider.ts).
  // Nor honourIncomingSampled: the middleware applies it per request (the sampler is the same).
  return JSON.stringify([s.serviceName, s.resource, s.exporter, s.otlp, s.sampling.ratio, s.sampling.parentBased, s.batch, s.attributeValueLengthLimit]);
}
