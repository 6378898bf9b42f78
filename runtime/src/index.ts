/** The Isogate runtime, for embedding and tests. The CLI (`isogate`) is built on these. */
export { Gateway, type GatewayOptions, type IncomingRequest } from './gateway.ts';
export { GatewayServer } from './server/http-server.ts';
export { startGateway, type RunningGateway, type StartOptions } from './start-gateway.ts';
export { loadConfigFile, type LoadedConfig } from './config/load-config.ts';
export { resolveConfig } from './config/validate-config.ts';
export { ConfigError, type ConfigIssue } from './config/config-error.ts';
export type { ResolvedConfig, ResolvedRoute } from './config/resolved-config.ts';
export type { GatewayRequest, GatewayResponse, Handler, HeaderMap, Middleware } from './chain/types.ts';
export { GatewayError, ERRORS } from './errors.ts';
export { builtinPlugins } from './plugins/builtins.ts';
export type { BuiltinPlugin, PluginFactoryContext } from './plugins/builtin-plugin.ts';
export { createLogger, silentLogger } from './logging/logger.ts';
