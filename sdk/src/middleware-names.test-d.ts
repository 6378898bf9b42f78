/**
 * Type tests for middleware names, checked by `tsc` as part of `npm test`: each `@ts-expect-error`
 * line must be a type error, or the compiler reports the directive as unused and the check fails.
 * `defineConfig` infers the plugin instance names from `plugins`; `middleware` lists (global and
 * per route) may name only those.
 */
import { defineConfig, usePlugin, type GatewayConfig, type RouteConfig } from './index.ts';

export const good = defineConfig({
  plugins: {
    'access-log': { use: 'logging' },
    h: { use: 'headers', options: { response: { remove: ['server'] } } },
    tag: usePlugin(() => import('../../examples/plugins/add-header.ts'), { name: 'x-tag', value: 'v' }),
  },
  middleware: ['access-log'],
  routes: [{ path: '/a', upstream: 'http://a:1', middleware: ['h', 'tag'] }, { path: '/b', upstream: 'http://a:1' }],
});

defineConfig({
  plugins: { 'access-log': { use: 'logging' } },
  // @ts-expect-error a misspelt global middleware name
  middleware: ['acess-log'],
  routes: [],
});

defineConfig({
  plugins: { h: { use: 'headers' } },
  // @ts-expect-error a misspelt route middleware name
  routes: [{ path: '/a', upstream: 'http://a:1', middleware: ['hh'] }],
});

defineConfig({
  // @ts-expect-error no plugins declared: no name can be listed
  middleware: ['h'],
  routes: [],
});

defineConfig({
  plugins: { h: { use: 'headers' } },
  // @ts-expect-error a name in a later route does not declare an instance either (the list never widens the names)
  routes: [{ path: '/a', upstream: 'http://a:1', middleware: ['h'] }, { path: '/b', upstream: 'http://a:1', middleware: ['h', 'x'] }],
});

// Instances from a shared object spread into `plugins` count.
const common = { 'access-log': { use: 'logging' } } as const;
defineConfig({ plugins: { ...common, h: { use: 'headers' } }, middleware: ['access-log', 'h'], routes: [] });

// Routes written apart keep their names checked when typed with the instance names.
const routes: RouteConfig<'h'>[] = [{ path: '/a', upstream: 'http://a:1', middleware: ['h'] }];
defineConfig({ plugins: { h: { use: 'headers' } }, routes });
// @ts-expect-error a route naming an instance this config does not declare
const stray: RouteConfig<'h'> = { path: '/a', upstream: 'http://a:1', middleware: ['x'] };
void stray;

// A config typed as the plain `GatewayConfig` (names are any string) still goes through, as before.
const loose: GatewayConfig = { plugins: { h: { use: 'headers' } }, middleware: ['whatever'], routes: [] };
defineConfig(loose);
