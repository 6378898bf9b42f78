import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../runtime/src/config/config-error.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';
import { builtinPlugins } from '../../runtime/src/plugins/builtins.ts';
import { cacheOptions, DEFAULT_STATUSES } from './options.ts';

function issues(options: unknown): string[] {
  try {
    resolveConfig({ plugins: { cache: { use: 'cache', options } }, routes: [{ path: '/*', upstream: 'http://127.0.0.1:1', middleware: ['cache'] }] } as never, builtinPlugins);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('cache options', () => {
  it('fills the defaults', () => {
    assert.deepEqual(cacheOptions.parse({}), {
      ttl: 60_000,
      maxTtl: 86_400_000,
      staleWhileRevalidate: 0,
      methods: ['GET', 'HEAD'],
      key: { query: 'all', headers: [], host: true },
      identity: 'subject',
      statuses: DEFAULT_STATUSES,
      maxEntryBytes: 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
      coalesce: true,
      coalesceTimeout: 5_000,
      redisTimeout: 200,
    });
    assert.ok(DEFAULT_STATUSES.includes(200) && DEFAULT_STATUSES.includes(399) && !DEFAULT_STATUSES.includes(206) && !DEFAULT_STATUSES.includes(304) && !DEFAULT_STATUSES.includes(404));
  });

  it('takes durations and sizes as strings, header names in lower case', () => {
    const o = cacheOptions.parse({ ttl: '5m', staleWhileRevalidate: '30s', maxEntryBytes: '256kb', key: { headers: ['Accept-Language'], query: ['page'] }, redis: 'redis://127.0.0.1:6379', redisTimeout: '50ms' });
    assert.equal(o.ttl, 300_000);
    assert.equal(o.staleWhileRevalidate, 30_000);
    assert.equal(o.maxEntryBytes, 256 * 1024);
    assert.deepEqual(o.key, { headers: ['accept-language'], query: ['page'], host: true });
    assert.equal(o.redisTimeout, 50);
  });

  it('reports mistakes with their key paths', () => {
    assert.deepEqual(issues({ ttl: 'soon' }), ['plugins.cache.options.ttl: expected a duration like 500, "500ms", "5s" or "1m"']);
    assert.deepEqual(issues({ key: { headers: ['bad header'] } }), ['plugins.cache.options.key.headers[0]: expected an HTTP header name']);
    assert.deepEqual(issues({ key: { querry: 'all' } }), ['plugins.cache.options.key.querry: unknown key']);
    assert.deepEqual(issues({ methods: ['POST'] }), ['plugins.cache.options.methods[0]: expected "GET" or "HEAD": other methods are never cached']);
    assert.deepEqual(issues({ statuses: [200, 206] }), ['plugins.cache.options.statuses[1]: 206 (a partial body) and 304 (an answer to a condition) are never stored']);
    assert.deepEqual(issues({ statuses: [100] }), ['plugins.cache.options.statuses[0]: expected a final status (200–599)']);
    assert.deepEqual(issues({ ttl: '2m', maxTtl: '1m' }), ['plugins.cache.options.ttl: ttl is longer than maxTtl (60s)']);
    assert.deepEqual(issues({ identity: 'token' }), ['plugins.cache.options.identity: Invalid option: expected one of "subject"|"shared"']);
  });

  it('refuses Redis settings without Redis, and a memory bound with it', () => {
    assert.deepEqual(issues({ prefix: 'x' }), ['plugins.cache.options.prefix: prefix applies to the Redis store only (set redis)']);
    assert.deepEqual(issues({ redisTimeout: '1s' }), ['plugins.cache.options.redisTimeout: redisTimeout applies to the Redis store only (set redis)']);
    assert.deepEqual(issues({ redis: 'http://127.0.0.1' }), ['plugins.cache.options.redis: expected a redis:// or rediss:// URL']);
    assert.deepEqual(issues({ redis: 'redis://127.0.0.1:6379', maxBytes: '1mb' }), ['plugins.cache.options.maxBytes: maxBytes bounds the memory store; with redis, bound Redis itself (maxmemory with an LRU policy)']);
    assert.deepEqual(issues({ maxBytes: '1mb', maxEntryBytes: '2mb' }), ['plugins.cache.options.maxEntryBytes: maxEntryBytes is larger than maxBytes (1048576 bytes): nothing that size could be kept']);
  });
});
