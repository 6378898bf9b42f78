import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { z } from 'zod';
import type { RatelimitPluginOptions } from '../../sdk/src/builtins/ratelimit.ts';
import type { ratelimitOptions } from './options.ts';

/**
 * The SDK's hand-written `RatelimitPluginOptions` (what config authors see, with TSDoc) and the
 * schema's input type must accept the same options: these assignments stop compiling (`npm run
 * typecheck`) when one side gains a key or a type the other lacks.
 */
type Extends<A, B> = [A] extends [B] ? true : false;
type Input = z.input<typeof ratelimitOptions>;
// The schema takes any string for durations (checked by a regex), the SDK only duration-shaped ones.
type Loosened = Omit<RatelimitPluginOptions, 'duration' | 'burstDuration' | 'redisTimeout'> & { duration?: string | number; burstDuration?: string | number; redisTimeout?: string | number };
const sdkFitsSchema: Extends<RatelimitPluginOptions, Input> = true;
const schemaFitsSdk: Extends<Input, Loosened> = true;
type Keys<T> = { [K in keyof T]-?: true };
const sameKeys: Extends<Keys<Input>, Keys<RatelimitPluginOptions>> & Extends<Keys<RatelimitPluginOptions>, Keys<Input>> = true;
const sameKeyShapes: Extends<NonNullable<Input['key']>, NonNullable<RatelimitPluginOptions['key']>> & Extends<NonNullable<RatelimitPluginOptions['key']>, NonNullable<Input['key']>> = true;

it('the SDK options type and the ratelimit schema describe the same input', () => {
  assert.equal(sdkFitsSchema && schemaFitsSdk && sameKeys && sameKeyShapes, true);
});
