import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { z } from 'zod';
import type { BuiltinPluginOptions, PluginInstanceConfig } from '../../sdk/src/config.ts';
import type { CachePluginOptions } from '../../sdk/src/builtins/cache.ts';
import type { cacheOptions } from './options.ts';

/**
 * The SDK's hand-written `CachePluginOptions` (what config authors see, with TSDoc) and the
 * schema's input type must accept the same options: these assignments stop compiling (`npm run
 * typecheck`) when one side gains a key or a type the other lacks.
 */
type Extends<A, B> = [A] extends [B] ? true : false;
type Input = z.input<typeof cacheOptions>;
// The schema takes any string for durations and sizes (checked by a regex), the SDK only shaped ones.
type Loose = 'ttl' | 'maxTtl' | 'staleWhileRevalidate' | 'coalesceTimeout' | 'redisTimeout' | 'maxEntryBytes' | 'maxBytes';
type Loosened = Omit<CachePluginOptions, Loose> & { [K in Loose]?: string | number };
const sdkFitsSchema: Extends<CachePluginOptions, Input> = true;
const schemaFitsSdk: Extends<Input, Loosened> = true;
type Keys<T> = { [K in keyof T]-?: true };
const sameKeys: Extends<Keys<Input>, Keys<CachePluginOptions>> & Extends<Keys<CachePluginOptions>, Keys<Input>> = true;
const sameKeyShapes: Extends<Keys<NonNullable<Input['key']>>, Keys<NonNullable<CachePluginOptions['key']>>> & Extends<Keys<NonNullable<CachePluginOptions['key']>>, Keys<NonNullable<Input['key']>>> = true;
// Listed where gateway.config.ts looks for built-in options.
const listed: Extends<BuiltinPluginOptions['cache'], CachePluginOptions> & Extends<CachePluginOptions, BuiltinPluginOptions['cache']> = true;

// What a config author gets wrong is a compile error where the instance is written.
export const typed: PluginInstanceConfig[] = [
  { use: 'cache', options: { ttl: '30s', key: { query: ['page'], headers: ['Accept-Language'] }, identity: 'subject', redis: 'redis://127.0.0.1:6379' } },
  // @ts-expect-error hours are not a duration unit ("60m")
  { use: 'cache', options: { ttl: '1h' } },
  // @ts-expect-error only GET and HEAD are cached
  { use: 'cache', options: { methods: ['POST'] } },
  // @ts-expect-error identity is 'subject' or 'shared'
  { use: 'cache', options: { identity: 'token' } },
  // @ts-expect-error a misspelt option
  { use: 'cache', options: { tll: '30s' } },
];

it('the SDK options type and the cache schema describe the same input', () => {
  assert.equal(sdkFitsSchema && schemaFitsSdk && sameKeys && sameKeyShapes && listed, true);
});
