import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Middleware } from '../chain/types.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';

/** What a plugin factory is given when a routing table is built. */
export interface PluginFactoryContext {
  /** The instance name from `plugins.<name>` in the config. */
  readonly instanceName: string;
  readonly logger: Logger;
  readonly config: ResolvedConfig;
}

/**
 * A built-in plugin: trusted code running in the host process. Its options are validated by its
 * own schema at config resolution (errors name `plugins.<instance>.options.<key>`), and `create`
 * runs once per routing table, never per request.
 */
export interface BuiltinPlugin<Options = unknown> {
  readonly name: string;
  readonly options: z.ZodType<Options>;
  create(options: Options, context: PluginFactoryContext): Middleware;
  /** Called when the routing table that created the instance is retired. */
  dispose?(): void | Promise<void>;
}

export type BuiltinPluginRegistry = ReadonlyMap<string, BuiltinPlugin<never>>;

export function definePluginRegistry(plugins: readonly BuiltinPlugin<never>[]): BuiltinPluginRegistry {
  return new Map(plugins.map((p) => [p.name, p]));
}
