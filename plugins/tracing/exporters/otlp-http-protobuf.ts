import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { TracingSettings } from '../settings.ts';

// One module per exporter package, loaded only when chosen: each costs 50–90 ms and several MB to load.

/** OTLP over HTTP with protobuf bodies (`application/x-protobuf`), OTLP's default. */
export function createExporter(otlp: TracingSettings['otlp']): SpanExporter {
  return new OTLPTraceExporter({ url: otlp.endpoint, headers: { ...otlp.headers }, compression: otlp.compression as CompressionAlgorithm | undefined, timeoutMillis: otlp.timeoutMs });
}
