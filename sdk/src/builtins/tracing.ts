import type { Duration } from '../config.ts';

/**
 * Options of the built-in `tracing` plugin: OpenTelemetry traces of the gateway. Each request it
 * sees gets a SERVER span named `<METHOD> <route template>`, with a child span per user-plugin
 * hook (`plugin <name> <hook>`) and a CLIENT span per upstream attempt; auth failures, rate-limit
 * rejections and plugin errors become span events. An incoming W3C `traceparent`/`tracestate` is
 * continued, and the upstream receives a `traceparent` whose parent is the CLIENT span, so traces
 * stitch across services. List it first in the global `middleware` to cover every request.
 *
 * Every setting left out falls back to the standard `OTEL_*` environment variable, then to the
 * default: the config wins over the environment. `OTEL_SDK_DISABLED=true` turns the plugin into
 * a no-op. Kept in step with the plugin's zod schema (`plugins/tracing/options.ts`) by a type
 * test there.
 * @example
 * const options: TracingPluginOptions = {
 *   serviceName: 'edge-gateway',
 *   otlp: { endpoint: 'http://otel-collector:4318/v1/traces', headers: { 'x-api-key': env('OTLP_KEY') } },
 *   sampling: { ratio: 0.1 },
 * };
 */
export interface TracingPluginOptions {
  /** `service.name` of the spans. Default: `OTEL_SERVICE_NAME`, then `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, then `"isogate"`. */
  serviceName?: string;
  /**
   * More resource attributes (`deployment.environment.name`, `service.version`…), merged over
   * `OTEL_RESOURCE_ATTRIBUTES` (default none).
   * @example { 'deployment.environment.name': 'production' }
   */
  resourceAttributes?: Record<string, string | number | boolean>;
  /**
   * Where spans go. Default: from `OTEL_TRACES_EXPORTER` (`otlp`, `console`, `none`) and
   * `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`/`OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`,
   * `http/json`, `grpc`), else `"otlp-http"`. `"console"` prints each span (debugging);
   * `"none"` records and propagates but exports nothing.
   */
  exporter?: 'otlp-http' | 'otlp-grpc' | 'console' | 'none';
  /** The OTLP exporter. */
  otlp?: {
    /**
     * The collector URL. For HTTP the full URL (`http://collector:4318/v1/traces`; a URL with no
     * path gets `/v1/traces`); for gRPC `http://collector:4317` (`https://` for TLS). Default:
     * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, then `OTEL_EXPORTER_OTLP_ENDPOINT` (plus `/v1/traces`
     * for HTTP), then `http://localhost:4318/v1/traces` (gRPC: `http://localhost:4317`).
     */
    endpoint?: string;
    /**
     * Headers sent with every export (gRPC: metadata), e.g. an API key. Added over
     * `OTEL_EXPORTER_OTLP_HEADERS`/`OTEL_EXPORTER_OTLP_TRACES_HEADERS`; the config wins per header.
     */
    headers?: Record<string, string>;
    /** HTTP body encoding (default: from the protocol variables, else `"protobuf"`). Not for gRPC. */
    encoding?: 'protobuf' | 'json';
    /** Default: `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`/`OTEL_EXPORTER_OTLP_COMPRESSION`, else `"none"`. */
    compression?: 'gzip' | 'none';
    /** Time allowed per export request (default: `OTEL_EXPORTER_OTLP_TIMEOUT`, else 10 s). */
    timeout?: Duration;
  };
  /** Head sampling: which traces are recorded. */
  sampling?: {
    /**
     * Share of the traces that start at the gateway that are recorded, 0–1. Default: from
     * `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG`, else 1. Unrecorded requests cost almost
     * nothing and still propagate an unsampled `traceparent`.
     */
    ratio?: number;
    /**
     * Follow the sampled flag of a continued incoming context (default true, like
     * `parentbased_traceidratio`: the caller decides, within `honourIncomingSampled`). `false`:
     * the ratio decides every trace, even one a caller marked sampled.
     */
    parentBased?: boolean;
    /**
     * Whose sampled flag decides, when `parentBased`: `"trusted-proxies"` (default: only peers in
     * `server.trustedProxies`), `"always"` (any client) or `"never"`. A flag that is not honoured
     * carries no weight and the ratio decides — by a random draw when the trace id is the
     * client's — so a client cannot have every one of its requests recorded and flood the
     * collector. The context is still continued (same trace, the caller's span as parent) per
     * `continueIncoming`. Must be left out or `"never"` when `parentBased` is false.
     */
    honourIncomingSampled?: 'always' | 'trusted-proxies' | 'never';
  };
  /**
   * Whose incoming `traceparent` is continued: `"always"` (default, like Envoy and most
   * gateways), `"trusted-proxies"` (only from peers in `server.trustedProxies`), or `"never"`
   * (every request starts a trace). A context that is not continued is replaced upstream, never
   * forwarded. With `"always"` a client can choose its trace id; whether its sampled flag counts
   * is `sampling.honourIncomingSampled`.
   */
  continueIncoming?: 'always' | 'trusted-proxies' | 'never';
  /** The batch span processor (defaults from `OTEL_BSP_*`, else the SDK's). */
  batch?: {
    /** Spans kept waiting for export; beyond it, new spans are dropped (default 2048). */
    maxQueueSize?: number;
    /** Spans per export request, at most `maxQueueSize` (default 512). */
    maxExportBatchSize?: number;
    /** Delay between two exports (default 5 s). */
    scheduledDelay?: Duration;
    /** Time allowed for one export, including retries (default 30 s). */
    exportTimeout?: Duration;
  };
  /**
   * Headers recorded as span attributes `http.request.header.<name>` / `http.response.header.<name>`
   * (default none). `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie` and
   * `X-Api-Key` are recorded as `[REDACTED]`.
   * @example { request: ['x-tenant'], response: ['x-cache'] }
   */
  captureHeaders?: { request?: string[]; response?: string[] };
  /**
   * Longest span attribute value kept, in characters: longer strings (user agent, path, captured
   * headers) are cut. Default: `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, then
   * `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else 1024 (OpenTelemetry's own default is no limit).
   * @example 4096
   */
  attributeValueLengthLimit?: number;
  /**
   * How long closing the gateway waits for the last spans to reach the collector (default 2 s);
   * then they are dropped, with one log line counting them, so a hung collector does not hold
   * every graceful shutdown for the export timeout.
   * @example '5s'
   */
  shutdownTimeout?: Duration;
}
