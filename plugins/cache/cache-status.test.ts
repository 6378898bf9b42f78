import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appendCacheStatus, cacheName, hitStatus } from './cache-status.ts';

describe('Cache-Status', () => {
  it('names the cache with a token when the instance name is one, a quoted string otherwise', () => {
    assert.equal(cacheName('edge-cache'), 'edge-cache');
    assert.equal(cacheName('my cache'), '"my cache"');
    assert.equal(cacheName('1st'), '"1st"');
  });

  it('appends its member after the upstream\'s', () => {
    const headers: Record<string, string | string[]> = {};
    appendCacheStatus(headers, 'a; hit');
    assert.equal(headers['cache-status'], 'a; hit');
    appendCacheStatus(headers, 'b; fwd=uri-miss');
    assert.equal(headers['cache-status'], 'a; hit, b; fwd=uri-miss');
  });

  it('gives the freshness left in whole seconds, negative once stale', () => {
    assert.equal(hitStatus('c', 60_500, 0), 'c; hit; ttl=60');
    assert.equal(hitStatus('c', 1_000, 4_000), 'c; hit; ttl=-3');
  });
});
