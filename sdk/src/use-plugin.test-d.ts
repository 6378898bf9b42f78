/**
 * Type tests for `usePlugin`, checked by `tsc` as part of `npm test`: each `@ts-expect-error` line
 * must be a type error, or the compiler reports the directive as unused and the check fails.
 */
import { defineConfig, usePlugin, type UserPluginInstance, type UsePluginOptions } from './index.ts';

// The plugin named once: its options type comes from the module the function imports.
export const once: UserPluginInstance = usePlugin(() => import('../../examples/plugins/add-header.ts'), { name: 'x-a', value: '1' });
usePlugin(() => import('../../examples/plugins/maintenance.ts'), { enabled: true }, { failurePolicy: 'fail-open', limits: { wallMs: 200 } });
// A package, by name.
usePlugin(() => import('isogate-plugin-request-id'), { echo: false });
// `kind: 'user'`: loaded as the path or package, even when it is named like a built-in.
export const kind: 'user' = once.kind;

// @ts-expect-error `name` must be a string (the add-header schema)
usePlugin(() => import('../../examples/plugins/add-header.ts'), { name: 1, value: '1' });
// @ts-expect-error `enabled` is required by the maintenance plugin's schema
usePlugin(() => import('../../examples/plugins/maintenance.ts'), {});
// @ts-expect-error a typo is an unknown option (excess property), as it is at load time
usePlugin(() => import('isogate-plugin-request-id'), { ehco: true });
// @ts-expect-error not a plugin module: its default export is not definePlugin(...)
usePlugin(() => import('./env.ts'), {});
// @ts-expect-error the settings are checked too
usePlugin(() => import('../../examples/plugins/add-header.ts'), { name: 'x', value: '1' }, { failurePolicy: 'fail-sometimes' });

// The older form, the module named as a type and as a path, still works.
usePlugin<typeof import('../../examples/plugins/add-header.ts')>('../../examples/plugins/add-header.ts', { name: 'x-a', value: '1' });
// @ts-expect-error a path without the type argument cannot be checked: the error says how to name the plugin
usePlugin('../../examples/plugins/add-header.ts', { name: 'x-a', value: '1' });

// What the compiler prints instead of today's `parameter of type 'never'`.
type Missing = UsePluginOptions<unknown>;
export const missing: Missing = "usePlugin cannot see the plugin's types: write usePlugin(() => import('./plugins/x.ts'), options), or name the module twice: usePlugin<typeof import('./plugins/x.ts')>('./plugins/x.ts', options)";
type NotAPlugin = UsePluginOptions<typeof import('./env.ts')>;
export const notAPlugin: NotAPlugin = 'usePlugin: this module is not a plugin (it needs `export default definePlugin({...})`)';

// In a config: a user plugin instance must come from usePlugin (its options are typed).
defineConfig({
  plugins: { tag: usePlugin(() => import('../../examples/plugins/add-header.ts'), { name: 'x-tag', value: 'v' }) },
  middleware: ['tag'],
  routes: [],
});
defineConfig({
  // @ts-expect-error `kind: 'user'` alone does not make options typed: go through usePlugin
  plugins: { raw: { kind: 'user', use: './plugins/x.ts', options: {} } },
  routes: [],
});
