import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../runtime/src/config/config-error.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';
import { builtinPlugins } from '../../runtime/src/plugins/builtins.ts';
import { ratelimitOptions } from './options.ts';

function issues(options: unknown): string[] {
  try {
    resolveConfig({ plugins: { rl: { use: 'ratelimit', options } }, routes: [{ path: '/*', upstream: 'http://127.0.0.1:1', middleware: ['rl'] }] }, builtinPlugins);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('ratelimit options', () => {
  it('fills the defaults', () => {
    assert.deepEqual(ratelimitOptions.parse({ points: 10 }), {
      points: 10,
      duration: 1000,
      burst: 0,
      burstDuration: 10_000,
      key: 'ip',
      ipv6Prefix: 64,
      scope: 'instance',
      headers: true,
      maxKeys: 100_000,
      redisTimeout: 200,
      onStoreError: 'insurance',
    });
  });

  it('takes durations as strings, a burst refill of ten windows by default, header names in lower case', () => {
    const o = ratelimitOptions.parse({ points: 100, duration: '1m', burst: 20, key: { header: 'X-Api-Key' }, redis: 'redis://127.0.0.1:6379', redisTimeout: '50ms' });
    assert.equal(o.duration, 60_000);
    assert.equal(o.burstDuration, 600_000);
    assert.deepEqual(o.key, { header: 'x-api-key' });
    assert.equal(o.redisTimeout, 50);
    assert.equal(ratelimitOptions.parse({ points: 1, burst: 1, burstDuration: '30s' }).burstDuration, 30_000);
  });

  it('is valid as written in the README examples', () => {
    assert.deepEqual(issues({ points: 100, duration: '1m', key: { claim: 'org.id' }, scope: 'route' }), []);
    assert.deepEqual(issues({ points: 1000, duration: '1s', key: 'global', redis: 'rediss://:pw@redis.internal:6380/1', onStoreError: 'deny' }), []);
  });

  it('names each bad option by its key path', () => {
    assert.deepEqual(issues({}), ['plugins.rl.options.points: Invalid input: expected number, received undefined']);
    assert.deepEqual(issues({ points: 1.5 }), ['plugins.rl.options.points: Invalid input: expected int, received number']);
    assert.deepEqual(issues({ points: 5, duration: '500ms' }), ['plugins.rl.options.duration: expected whole seconds like "1s", "10s" or "1m" (at least 1s)']);
    // A bare number is milliseconds, as everywhere in the config: 60 is refused rather than read as a minute.
    assert.deepEqual(issues({ points: 5, duration: 60 }), ['plugins.rl.options.duration: expected whole seconds like "1s", "10s" or "1m" (at least 1s)']);
    assert.deepEqual(issues({ points: 5, burstDuration: '1m' }), ['plugins.rl.options.burstDuration: burstDuration needs burst > 0']);
    assert.deepEqual(issues({ points: 5, prefix: 'x' }), ['plugins.rl.options.prefix: prefix applies to the Redis store only (set redis)']);
    assert.deepEqual(issues({ points: 5, onStoreError: 'deny', redisTimeout: '1s' }), [
      'plugins.rl.options.redisTimeout: redisTimeout applies to the Redis store only (set redis)',
      'plugins.rl.options.onStoreError: onStoreError applies to the Redis store only (set redis)',
    ]);
    assert.deepEqual(issues({ points: 5, key: 'cookie' }), ['plugins.rl.options.key: expected "ip", "global", { header: "<name>" } or { claim: "<path>" }']);
    assert.deepEqual(issues({ points: 5, key: { header: 'bad header' } }), ['plugins.rl.options.key.header: expected an HTTP header name']);
    assert.deepEqual(issues({ points: 5, redis: 'http://127.0.0.1:6379' }), ['plugins.rl.options.redis: expected a redis:// or rediss:// URL']);
    assert.deepEqual(issues({ points: 5, redis: 'redis://127.0.0.1:6379', onStoreError: 'retry' }), ['plugins.rl.options.onStoreError: Invalid option: expected one of "insurance"|"allow"|"deny"']);
    assert.deepEqual(issues({ points: 5, limit: 3 }), ['plugins.rl.options.limit: unknown key']);
  });
});
