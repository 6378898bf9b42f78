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
  RouteTimeouts,
  ServerConfig,
  ServerLimits,
  ServerTimeouts,
} from './config.ts';
export { env, MissingEnvError } from './env.ts';
