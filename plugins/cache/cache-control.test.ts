import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lifetimeOf, parseCacheControl, varyNames } from './cache-control.ts';
import { decideStore } from './store-decision.ts';
import { DEFAULT_STATUSES } from './options.ts';

const NOW = Date.parse('2025-01-01T00:00:00Z');
const settings = { ttlMs: 60_000, maxTtlMs: 86_400_000, staleWhileRevalidateMs: 0 };

describe('Cache-Control parsing', () => {
  it('reads the directives a shared cache needs, case-insensitively, quoted or not', () => {
    const cc = parseCacheControl('Public, MAX-AGE=60, s-maxage="120", stale-while-revalidate=30, must-revalidate');
    assert.deepEqual(cc, { noStore: false, noCache: false, private: false, public: true, mustRevalidate: true, maxAge: 60, sMaxAge: 120, staleWhileRevalidate: 30 });
  });

  it('takes qualified private and no-cache as the unqualified ones, and commas inside quotes as part of them', () => {
    const cc = parseCacheControl('private="set-cookie, x-user", no-cache="x-a", max-age=5');
    assert.equal(cc.private, true);
    assert.equal(cc.noCache, true);
    assert.equal(cc.maxAge, 5);
  });

  it('joins repeated fields, keeps a repeated directive\'s first value, and takes an invalid age as 0 (stale)', () => {
    assert.equal(parseCacheControl(['max-age=10', 'max-age=99']).maxAge, 10);
    assert.equal(parseCacheControl('max-age=-1').maxAge, 0);
    assert.equal(parseCacheControl('max-age=1.5').maxAge, 0);
    assert.equal(parseCacheControl('max-age=99999999999').maxAge, 2 ** 31);
    assert.deepEqual(parseCacheControl(''), parseCacheControl(undefined));
  });

  it('lists Vary names lower-cased and sorted, and * alone', () => {
    assert.deepEqual(varyNames('Accept-Encoding, accept-language'), ['accept-encoding', 'accept-language']);
    assert.deepEqual(varyNames(['Accept', 'accept']), ['accept']);
    assert.deepEqual(varyNames('Accept, *'), ['*']);
    assert.deepEqual(varyNames(undefined), []);
  });
});

describe('freshness', () => {
  const life = (headers: Record<string, string>, s = settings) => lifetimeOf(headers, parseCacheControl(headers['cache-control']), NOW, s);

  it('s-maxage over max-age over Expires over the instance ttl', () => {
    assert.equal((life({ 'cache-control': 'max-age=10, s-maxage=20' }) as { freshUntil: number }).freshUntil, NOW + 20_000);
    assert.equal((life({ 'cache-control': 'max-age=10', expires: 'Wed, 01 Jan 2025 01:00:00 GMT' }) as { freshUntil: number }).freshUntil, NOW + 10_000);
    assert.equal((life({ date: 'Wed, 01 Jan 2025 00:00:00 GMT', expires: 'Wed, 01 Jan 2025 00:05:00 GMT' }) as { freshUntil: number }).freshUntil, NOW + 300_000);
    assert.equal((life({}) as { freshUntil: number }).freshUntil, NOW + 60_000);
  });

  it('counts the upstream\'s Age as time already spent', () => {
    const l = life({ 'cache-control': 'max-age=100', age: '30' }) as { storedAt: number; freshUntil: number };
    assert.equal(l.storedAt, NOW - 30_000);
    assert.equal(l.freshUntil, NOW + 70_000);
  });

  it('caps freshness at maxTtl and adds the stale-while-revalidate window', () => {
    const l = life({ 'cache-control': 'max-age=31536000, stale-while-revalidate=60' }, { ...settings, maxTtlMs: 3_600_000 }) as { freshUntil: number; staleUntil: number };
    assert.equal(l.freshUntil, NOW + 3_600_000);
    assert.equal(l.staleUntil, NOW + 3_660_000);
    const byOption = life({ 'cache-control': 'max-age=10' }, { ...settings, staleWhileRevalidateMs: 5_000 }) as { staleUntil: number };
    assert.equal(byOption.staleUntil, NOW + 15_000);
  });

  it('must-revalidate and no-cache serve nothing stale', () => {
    const l = life({ 'cache-control': 'max-age=10, stale-while-revalidate=60, must-revalidate' }) as { freshUntil: number; staleUntil: number };
    assert.equal(l.staleUntil, l.freshUntil);
  });

  it('keeps an entry with a validator past its windows, so it can be revalidated', () => {
    const l = life({ 'cache-control': 'max-age=10', etag: '"x"' }) as { staleUntil: number; keepUntil: number };
    assert.equal(l.keepUntil, l.staleUntil + 60_000);
    const noCache = life({ 'cache-control': 'no-cache', etag: '"x"' }) as { freshUntil: number; keepUntil: number };
    assert.equal(noCache.freshUntil, NOW, 'no-cache: stale at once');
    assert.equal(noCache.keepUntil, NOW + 60_000);
  });

  it('no-store, private, no-cache without a validator, an invalid Expires and ttl 0 without freshness are not stored', () => {
    assert.equal(life({ 'cache-control': 'no-store, max-age=60' }), 'no-store');
    assert.equal(life({ 'cache-control': 'private, max-age=60' }), 'private');
    assert.equal(life({ 'cache-control': 'no-cache' }), 'no-cache');
    assert.equal(life({ expires: '0' }), 'stale');
    assert.equal(life({ 'cache-control': 'max-age=0' }), 'stale');
    assert.equal(life({}, { ...settings, ttlMs: 0 }), 'stale');
    assert.equal(typeof life({ 'cache-control': 'max-age=5' }, { ...settings, ttlMs: 0 }), 'object');
  });
});

describe('store decision', () => {
  const storeSettings = { ...settings, statuses: new Set(DEFAULT_STATUSES), maxEntryBytes: 1000 };
  const decide = (status: number, headers: Record<string, string | string[]>) => decideStore({ status, headers, body: null }, NOW, storeSettings);

  it('stores 2xx and 3xx by default, with the response\'s Vary names', () => {
    assert.equal(decide(200, {}).store, true);
    assert.equal(decide(301, {}).store, true);
    assert.deepEqual(decide(200, { vary: 'Accept-Language' }), { store: true, lifetime: { storedAt: NOW, freshUntil: NOW + 60_000, staleUntil: NOW + 60_000, keepUntil: NOW + 60_000 }, vary: ['accept-language'] });
  });

  it('never stores other statuses, 206, 304, Set-Cookie, Vary: * or a declared body over the bound', () => {
    for (const status of [206, 304, 404, 500, 503]) assert.deepEqual(decide(status, {}), { store: false, reason: 'status' }, String(status));
    assert.deepEqual(decide(200, { 'set-cookie': ['a=1'] }), { store: false, reason: 'set-cookie' });
    assert.deepEqual(decide(200, { vary: '*' }), { store: false, reason: 'vary' });
    assert.deepEqual(decide(200, { 'content-length': '1001' }), { store: false, reason: 'too-large' });
    assert.equal(decide(200, { 'content-length': '1000' }).store, true);
  });

  it('stores a configured error status', () => {
    assert.equal(decideStore({ status: 404, headers: {}, body: null }, NOW, { ...storeSettings, statuses: new Set([200, 404]) }).store, true);
  });
});
