import { createRequire } from 'node:module';
import type { BuiltinPlugin } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { Middleware } from '../../runtime/src/chain/types.ts';
import { tracingOptions, type TracingOptions } from './options.ts';
import type { InjectedPipeline } from './provider.ts';
import { resolveSettings } from './settings.ts';

export type { InjectedPipeline } from './provider.ts';

// Only zod and our own option code load with this module (the registry imports every built-in).
// OpenTelemetry's SDK (~100 ms and ~20 MB with an exporter) is loaded by `create`, the first time
// a config uses the plugin; `create` is synchronous, hence require() of the ES module.
const require = createRequire(import.meta.url);

const passThrough: Middleware = (next) => next;

/**
 * Build the `tracing` built-in. `tracingPlugin` (below) is the production one; tests and embedders
 * may inject where spans go: `createTracingPlugin({ exporter: new InMemorySpanExporter() })`. An
 * injected exporter or processor replaces the configured exporter and is never shut down by us.
 */
export function createTracingPlugin(injected: InjectedPipeline = {}): BuiltinPlugin<TracingOptions> {
  const pipeline = injected.exporter || injected.spanProcessor ? injected : null;
  return {
    name: 'tracing',
    options: tracingOptions,
    create(options, ctx) {
      const settings = resolveSettings(options, process.env);
      if (!settings.enabled) {
        ctx.logger.info('OTEL_SDK_DISABLED=true: tracing is off');
        return passThrough;
      }
      const { setupTracing } = require('./setup.ts') as typeof import('./setup.ts');
      return setupTracing(settings, ctx, pipeline);
    },
  };
}

/** Built-in `tracing`: OpenTelemetry spans per request, W3C trace context in and out, OTLP export. */
export const tracingPlugin: BuiltinPlugin<TracingOptions> = createTracingPlugin();
