import { authPlugin } from '../../../plugins/auth/index.ts';
import { cachePlugin } from '../../../plugins/cache/index.ts';
import { headersPlugin } from '../../../plugins/headers/index.ts';
import { loggingPlugin } from '../../../plugins/logging/index.ts';
import { metricsPlugin } from '../../../plugins/metrics/index.ts';
import { ratelimitPlugin } from '../../../plugins/ratelimit/index.ts';
import { tracingPlugin } from '../../../plugins/tracing/index.ts';
import { definePluginRegistry, type BuiltinPlugin } from './builtin-plugin.ts';

/** Every built-in plugin, by the name used in `plugins.<instance>.use`. */
export const builtinPlugins = definePluginRegistry([
  headersPlugin as BuiltinPlugin<never>,
  authPlugin as BuiltinPlugin<never>,
  ratelimitPlugin as BuiltinPlugin<never>,
  loggingPlugin as BuiltinPlugin<never>,
  metricsPlugin as BuiltinPlugin<never>,
  tracingPlugin as BuiltinPlugin<never>,
  cachePlugin as BuiltinPlugin<never>,
]);
