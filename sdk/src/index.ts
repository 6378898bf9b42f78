/**
 * `@isogate/sdk`: what gateway configs and plugins import.
 * @packageDocumentation
 */
export { defineConfig } from './config.ts';
export type {
  BuiltinPluginOptions,
  ByteSize,
  Duration,
  GatewayConfig,
  HeadersPluginOptions,
  HealthPaths,
  HttpMethod,
  PluginInstanceConfig,
  RouteConfig,
  RouteFields,
  BackendConfig,
  AggregateConfig,
  ShapeConfig,
  TlsConfig,
  RouteTimeouts,
  CircuitBreakerConfig,
  RetryConfig,
  HealthCheckConfig,
  ServerConfig,
  ServerLimits,
  ServerTimeouts,
} from './config.ts';
export type { AuthPluginOptions } from './builtins/auth.ts';
export type { RatelimitPluginOptions } from './builtins/ratelimit.ts';
export type { LoggingPluginOptions } from './builtins/logging.ts';
export type { MetricsPluginOptions } from './builtins/metrics.ts';
export type { TracingPluginOptions } from './builtins/tracing.ts';
export type { CacheKeyOptions, CachePluginOptions } from './builtins/cache.ts';
export { env, MissingEnvError } from './env.ts';
export { definePlugin, unavailable, usePlugin, SDK_VERSION } from './plugin.ts';
export type {
  BodyKind,
  DirectResponse,
  FailurePolicy,
  OptionsInputOf,
  OptionsOf,
  Plugin,
  PluginContext,
  PluginDefinition,
  PluginFetch,
  PluginFetchInit,
  PluginFetchResponse,
  PluginFetchSettings,
  PluginHeaders,
  PluginIsolation,
  PluginLimits,
  PluginLogger,
  PluginRequest,
  PluginResponse,
  UsePluginOptions,
  UserPluginInstance,
  UserPluginSettings,
} from './plugin.ts';
export type { SchemaInput, SchemaOutput, StandardIssue, StandardResult, StandardSchemaV1 } from './standard-schema.ts';
