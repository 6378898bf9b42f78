import type { BuiltinInstance, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { createTracingMiddleware, createUnroutedTracer } from './instrument.ts';
import { TracerProviders, type InjectedPipeline } from './provider.ts';
import { providerKey, type TracingSettings } from './settings.ts';

/**
 * The part of the plugin that needs OpenTelemetry's SDK. index.ts loads this module the first
 * time a tracing instance is created, so a gateway without one never loads the SDK at all.
 */
export function setupTracing(settings: TracingSettings, ctx: PluginFactoryContext, injected: InjectedPipeline | null): BuiltinInstance {
  const providers = ctx.shared('tracing:providers', () => new TracerProviders(ctx.logger));
  const key = (injected ? 'injected:' : '') + providerKey(settings);
  const lease = providers.acquire(key, settings, injected);
  return {
    middleware: createTracingMiddleware(lease.tracer, settings),
    // Given by the core only when this instance is in the global middleware.
    unrouted: createUnroutedTracer(lease.tracer, settings, {
      maxUrlLength: ctx.config.server.limits.maxUrlLength,
    }),
    dispose: () => lease.release(),
  };
}
