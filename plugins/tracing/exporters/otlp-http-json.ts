import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { TracingSettings } from '../settings.ts';

/** OTLP over HTTP with JSON bodies (`application/json`), for collectors or proxies that want text. */
export function createExporter(otlp: TracingSettings['otlp']): SpanExporter {
  return new OTLPTraceExporter({ url: otlp.endpoint, headers: { ...otlp.headers }, compression: otlp.compression as CompressionAlgorithm | undefined, timeoutMillis: otlp.timeoutMs });
}
