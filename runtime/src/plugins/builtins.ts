import { headersPlugin } from '../../../plugins/headers/index.ts';
import { definePluginRegistry, type BuiltinPlugin } from './builtin-plugin.ts';

/** Every built-in plugin, by the name used in `plugins.<instance>.use`. */
export const builtinPlugins = definePluginRegistry([headersPlugin as BuiltinPlugin<never>]);
