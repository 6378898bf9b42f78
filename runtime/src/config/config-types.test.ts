import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { GatewayConfig, RouteFields, UserPluginInstance } from '@isogate/sdk';
import type { z } from 'zod';
import type { ConfigInput, pluginInstanceSchema } from './schema.ts';

/**
 * The SDK's hand-written `GatewayConfig` (what authors see, with TSDoc) and the runtime schema's
 * input type must accept the same configs. These assignments fail to compile (`npm run
 * typecheck`) the moment one side gains a key or a type the other lacks.
 */
type Extends<A, B> = [A] extends [B] ? true : false;
const sdkFitsSchema: Extends<GatewayConfig, ConfigInput> = true;
// What usePlugin returns (`kind: 'user'` included) is a plugin instance the schema accepts; and a
// config whose middleware names are checked against its plugins (defineConfig's inferred names).
const userPluginFits: Extends<UserPluginInstance, z.input<typeof pluginInstanceSchema>> = true;
const namedFits: Extends<GatewayConfig<'a' | 'b'>, ConfigInput> = true;

// The schema is looser on purpose where the SDK uses literal types (durations like `"5s"` are
// `string` there, checked by a regex) and for plugin options (checked by each plugin's schema).
// So the other direction compares the shape: the same keys at every depth (every key made
// required, so a key present on one side only breaks assignability both ways).
type Shape<T> = T extends readonly (infer U)[] ? Shape<U>[] : T extends object ? { [K in keyof T]-?: Shape<NonNullable<T[K]>> } : 'leaf';
// Routes are compared through RouteFields: RouteConfig adds "exactly one of upstream and
// backends" as a union, which the schema checks at resolution instead.
type WithoutPlugins<T> = Omit<T, 'plugins' | 'routes'>;
type SchemaRoute = ConfigInput['routes'][number];
const schemaFitsSdk: Extends<Shape<WithoutPlugins<ConfigInput>>, Shape<WithoutPlugins<GatewayConfig>>> = true;
const sameShape: Extends<Shape<WithoutPlugins<GatewayConfig>>, Shape<WithoutPlugins<ConfigInput>>> = true;
const routeShapes: Extends<Shape<SchemaRoute>, Shape<RouteFields>> & Extends<Shape<RouteFields>, Shape<SchemaRoute>> = true;

it('the SDK config type and the validation schema describe the same input', () => {
  assert.equal(sdkFitsSchema && schemaFitsSdk && sameShape && routeShapes && userPluginFits && namedFits, true);
});
