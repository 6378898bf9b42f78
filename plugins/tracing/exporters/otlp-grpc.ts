import { Metadata } from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { TracingSettings } from '../settings.ts';

/** OTLP over gRPC; `http://` endpoints use a plaintext channel, `https://` TLS. Headers travel as metadata. */
export function createExporter(otlp: TracingSettings['otlp']): SpanExporter {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(otlp.headers)) metadata.set(name.toLowerCase(), value);
  return new OTLPTraceExporter({ url: otlp.endpoint, metadata, compression: otlp.compression as CompressionAlgorithm | undefined, timeoutMillis: otlp.timeoutMs });
}
