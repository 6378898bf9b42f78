import assert from 'node:assert/strict';
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import { JwksCache, JwksUnavailableError, type JwksFetcher, type JwksSettings } from './jwks-cache.ts';

function jwk(kid: string): JsonWebKey {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

const settings: JwksSettings = { url: 'http://idp.test/jwks', timeoutMs: 1000, maxAgeMs: 60_000, cooldownMs: 30_000, staleIfErrorMs: 300_000, algorithms: undefined };

/** A JWKS endpoint under test control: what it serves, whether it fails, how many times it was asked. */
interface FakeIdp {
  keys: JsonWebKey[];
  down: boolean;
  fetches: number;
  gate: Promise<void> | null;
  fetch: JwksFetcher;
}

function fakeIdp(keys: JsonWebKey[]): FakeIdp {
  const idp: FakeIdp = {
    keys,
    down: false,
    fetches: 0,
    gate: null,
    fetch: async () => {
      idp.fetches++;
      if (idp.gate) await idp.gate;
      if (idp.down) throw new TypeError('fetch failed');
      return { keys: idp.keys };
    },
  };
  return idp;
}

function clock() {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
}

describe('JwksCache', () => {
  it('fetches once for concurrent first requests and serves from memory after', async () => {
    const idp = fakeIdp([jwk('k1')]);
    const c = clock();
    let open!: () => void;
    idp.gate = new Promise<void>((r) => (open = r));
    const cache = new JwksCache(settings, silentLogger(), { fetch: idp.fetch, now: c.now });
    const pending = Array.from({ length: 20 }, () => cache.keysFor('k1', 'ES256'));
    open();
    for (const keys of await Promise.all(pending)) assert.equal(keys.length, 1);
    await cache.keysFor('k1', 'ES256');
    assert.equal(idp.fetches, 1);
  });

  it('refetches for an unknown kid at most once per cooldown, then finds a rotated key', async () => {
    const idp = fakeIdp([jwk('k1')]);
    const c = clock();
    const cache = new JwksCache(settings, silentLogger(), { fetch: idp.fetch, now: c.now });
    await cache.keysFor('k1', 'ES256');
    assert.equal(idp.fetches, 1);
    c.t += settings.cooldownMs; // the first fetch started a cooldown too
    for (let i = 0; i < 50; i++) assert.deepEqual(await cache.keysFor(`forged-${i}`, 'ES256'), []);
    assert.equal(idp.fetches, 2, 'fifty unknown kids, one refetch');

    idp.keys = [jwk('k1'), jwk('k2')];
    assert.deepEqual(await cache.keysFor('k2', 'ES256'), [], 'within the cooldown: not fetched again');
    assert.equal(idp.fetches, 2);
    c.t += settings.cooldownMs;
    assert.equal((await cache.keysFor('k2', 'ES256')).length, 1, 'after the cooldown the rotated key is found');
    assert.equal(idp.fetches, 3);
  });

  it('does not refetch for a known kid asked with another algorithm', async () => {
    const idp = fakeIdp([jwk('k1')]);
    const c = clock();
    const cache = new JwksCache(settings, silentLogger(), { fetch: idp.fetch, now: c.now });
    await cache.keysFor('k1', 'ES256');
    c.t += settings.cooldownMs + 1;
    assert.deepEqual(await cache.keysFor('k1', 'RS256'), []);
    assert.equal(idp.fetches, 1);
  });

  it('serves a stale set while refreshing in the background, and through failures within staleIfError', async () => {
    const idp = fakeIdp([jwk('k1')]);
    const c = clock();
    const cache = new JwksCache(settings, silentLogger(), { fetch: idp.fetch, now: c.now });
    await cache.keysFor('k1', 'ES256');
    idp.down = true;
    c.t += settings.maxAgeMs + 1;
    assert.equal((await cache.keysFor('k1', 'ES256')).length, 1, 'stale, endpoint down: still served');
    await new Promise((r) => setImmediate(r));
    assert.equal(idp.fetches, 2, 'one background refresh was tried');
    // Failing retries are spaced, not one per request.
    for (let i = 0; i < 10; i++) await cache.keysFor('k1', 'ES256');
    assert.equal(idp.fetches, 2);
    c.t += settings.staleIfErrorMs - 2;
    assert.equal((await cache.keysFor('k1', 'ES256')).length, 1, 'end of the stale window: still served');
    c.t += 2;
    await assert.rejects(cache.keysFor('k1', 'ES256'), JwksUnavailableError);
    idp.down = false;
    c.t += 1000;
    assert.equal((await cache.keysFor('k1', 'ES256')).length, 1, 'the endpoint is back: a fresh set');
  });

  it('with nothing cached and the endpoint down: unavailable, and retries spaced', async () => {
    const idp = fakeIdp([jwk('k1')]);
    idp.down = true;
    const c = clock();
    const cache = new JwksCache(settings, silentLogger(), { fetch: idp.fetch, now: c.now });
    await assert.rejects(cache.keysFor('k1', 'ES256'), JwksUnavailableError);
    await assert.rejects(cache.keysFor('k1', 'ES256'), JwksUnavailableError);
    assert.equal(idp.fetches, 1, 'the second request did not wait for another failing fetch');
    c.t += 1000;
    idp.down = false;
    assert.equal((await cache.keysFor('k1', 'ES256')).length, 1);
  });

  it('refuses a set without usable signing keys, and skips oct, encryption and malformed keys', async () => {
    const c = clock();
    const good = jwk('good');
    const idp = fakeIdp([{ kty: 'oct', k: 'c2VjcmV0', kid: 'sym' }, { ...jwk('enc'), use: 'enc' }, { kty: 'RSA', kid: 'broken', n: 'AQAB', e: 'AQAB' }]);
    const cache = new JwksCache(settings, silentLogger(), { fetch: idp.fetch, now: c.now });
    await assert.rejects(cache.keysFor('sym', 'HS256'), JwksUnavailableError);
    idp.keys.push(good);
    c.t += 1000;
    assert.deepEqual(await cache.keysFor('sym', 'HS256'), []);
    assert.deepEqual(await cache.keysFor('enc', 'ES256'), []);
    assert.equal((await cache.keysFor('good', 'ES256')).length, 1);
  });

  it('honours a key\'s own alg and the configured algorithm restriction', async () => {
    const c = clock();
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsa = { ...publicKey.export({ format: 'jwk' }), kid: 'r', alg: 'PS256' };
    const idp = fakeIdp([rsa, jwk('e')]);
    const cache = new JwksCache({ ...settings, algorithms: ['PS256', 'RS256'] }, silentLogger(), { fetch: idp.fetch, now: c.now });
    assert.equal((await cache.keysFor('r', 'PS256')).length, 1);
    assert.deepEqual(await cache.keysFor('r', 'RS256'), [], 'the JWK says PS256 only');
    assert.deepEqual(await cache.keysFor('e', 'ES256'), [], 'ES256 is not among the configured algorithms');
    assert.equal((await cache.keysFor(undefined, 'PS256')).length, 1, 'no kid: every key allowing the alg');
  });
});
