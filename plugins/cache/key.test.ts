import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import { BYPASS_AUTHORIZATION, BYPASS_NO_SUBJECT, compileKey, variantKey } from './key.ts';
import { cacheOptions } from './options.ts';

const route = { name: 'users' };
const keyOf = (options: unknown = {}, authenticated = false) => compileKey(cacheOptions.parse(options), route, authenticated);

describe('cache key', () => {
  it('depends on the route, the host, the path and every query parameter, in any order', () => {
    const key = keyOf();
    const a = key(testRequest({ path: '/u', query: 'b=2&a=1' }));
    assert.equal(a, key(testRequest({ path: '/u', query: 'a=1&b=2' })), 'order does not matter');
    assert.notEqual(a, key(testRequest({ path: '/u', query: 'a=1&b=3' })));
    assert.notEqual(a, key(testRequest({ path: '/v', query: 'a=1&b=2' })));
    assert.notEqual(a, key(testRequest({ path: '/u', query: 'a=1&b=2', headers: { host: 'other.test' } })));
    assert.equal(a, key(testRequest({ path: '/u', query: 'a=1&b=2', headers: { host: 'GATEWAY.test' } })), 'host in any case');
    assert.notEqual(a, compileKey(cacheOptions.parse({}), { name: 'other' }, false)(testRequest({ path: '/u', query: 'a=1&b=2' })));
    assert.notEqual(key(testRequest({ query: 'a=1&a=2' })), key(testRequest({ query: 'a=2&a=1' })), 'a repeated name keeps its values in order');
  });

  it('keeps only the chosen query parameters, or none, and may leave the host out', () => {
    const paged = keyOf({ key: { query: ['page'] } });
    assert.equal(paged(testRequest({ query: 'page=2&utm_source=x' })), paged(testRequest({ query: 'utm_source=y&page=2' })));
    assert.notEqual(paged(testRequest({ query: 'page=2' })), paged(testRequest({ query: 'page=3' })));
    assert.notEqual(paged(testRequest({ query: 'pag%65=2' })), paged(testRequest({ query: '' })), 'names are chosen decoded: pag%65 is page');
    const none = keyOf({ key: { query: 'none' } });
    assert.equal(none(testRequest({ query: 'a=1' })), none(testRequest({ query: 'b=2' })));
    const anyHost = keyOf({ key: { host: false } });
    assert.equal(anyHost(testRequest({ headers: { host: 'a' } })), anyHost(testRequest({ headers: { host: 'b' } })));
  });

  it('holds the chosen headers (absent is not empty), whitespace-normalised', () => {
    const key = keyOf({ key: { headers: ['X-Api-Key'] } });
    const with1 = key(testRequest({ headers: { host: 'h', 'x-api-key': ' k1 ' } }));
    assert.equal(with1, key(testRequest({ headers: { host: 'h', 'x-api-key': 'k1' } })));
    assert.notEqual(with1, key(testRequest({ headers: { host: 'h', 'x-api-key': 'k2' } })));
    assert.notEqual(key(testRequest({ headers: { host: 'h' } })), key(testRequest({ headers: { host: 'h', 'x-api-key': '' } })));
  });

  it('after auth, holds the verified issuer and subject: two callers never share a key', () => {
    const key = keyOf({}, true);
    const alice = key(testRequest({ claims: { iss: 'https://idp/', sub: 'alice' } }));
    const bob = key(testRequest({ claims: { iss: 'https://idp/', sub: 'bob' } }));
    const otherIdp = key(testRequest({ claims: { iss: 'https://other/', sub: 'alice' } }));
    assert.equal(new Set([alice, bob, otherIdp]).size, 3);
    assert.equal(alice, key(testRequest({ claims: { iss: 'https://idp/', sub: 'alice', jti: 'another token' } })), 'a new token of the same subject shares its entries');
    assert.equal(key(testRequest({ claims: { iss: 'https://idp/' } })), BYPASS_NO_SUBJECT);
    assert.equal(typeof key(testRequest({ claims: null })), 'string', 'anonymous (optional auth): the anonymous entries');
    assert.notEqual(key(testRequest({ claims: null })), alice);
    const shared = keyOf({ identity: 'shared' }, true);
    assert.equal(shared(testRequest({ claims: { sub: 'alice' } })), shared(testRequest({ claims: { sub: 'bob' } })));
  });

  it('without auth before it, a request with Authorization bypasses the cache, unless the key holds it', () => {
    assert.equal(keyOf()(testRequest({ headers: { host: 'h', authorization: 'Bearer a' } })), BYPASS_AUTHORIZATION);
    const byToken = keyOf({ key: { headers: ['authorization'] } });
    assert.notEqual(byToken(testRequest({ headers: { host: 'h', authorization: 'Bearer a' } })), byToken(testRequest({ headers: { host: 'h', authorization: 'Bearer b' } })));
    assert.equal(typeof keyOf({}, true)(testRequest({ headers: { host: 'h', authorization: 'Bearer a' }, claims: { sub: 'a' } })), 'string');
  });

  it('names a variant by the generation and the values of the Vary headers', () => {
    const v = (headers: Record<string, string>, generation = 'g1') => variantKey('k', generation, ['accept-encoding', 'accept-language'], headers);
    assert.equal(v({ 'accept-encoding': 'gzip', 'accept-language': 'fr' }), v({ 'accept-language': 'fr', 'accept-encoding': ' gzip' }));
    assert.notEqual(v({ 'accept-encoding': 'gzip', 'accept-language': 'fr' }), v({ 'accept-encoding': 'gzip', 'accept-language': 'de' }));
    assert.notEqual(v({ 'accept-encoding': 'gzip' }), v({ 'accept-encoding': 'gzip', 'accept-language': '' }));
    assert.notEqual(v({}, 'g1'), v({}, 'g2'));
  });
});
