import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import { closedPort } from '../../test/helpers/upstream.ts';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../shared/redis-test-support.ts';
import { GuardedStore } from './guarded-store.ts';
import { SharedRedis } from '../shared/redis-connection.ts';
import { CACHE_REDIS, RedisStore } from './redis-store.ts';
import { decodeRecord } from './serialize.ts';
import { response, storeContract } from './store-contract.ts';

// Against the real Redis at 127.0.0.1:6379 (or REDIS_URL): these tests fail, saying how to start
// one, when it is not reachable; they never skip and never use a mock.
const connection = new SharedRedis(REDIS_URL, 1_000, silentLogger(), CACHE_REDIS);
const prefixes: string[] = [];

before(async () => {
  await requireRedis();
  if (connection.client.status !== 'ready') await once(connection.client, 'ready');
});

after(async () => {
  for (const p of prefixes) await deleteKeys(connection.client, p);
  connection.close();
});

function prefixed(label: string): string {
  const prefix = uniquePrefix(`cache-${label}`);
  prefixes.push(prefix);
  return prefix;
}

storeContract('redis', () => new RedisStore(connection.client, prefixed('contract')));

describe('redis cache store', () => {
  it('keeps one string per entry under <prefix>:<sha256 of the key>, expiring with the keep time', async () => {
    const prefix = prefixed('layout');
    const store = new RedisStore(connection.client, prefix);
    const key = 'route\u0000host\u0000/users/1\u0000\u0000["https://idp/","alice"]';
    await store.set(key, response('hello'), 10_000);
    const redisKey = store.redisKey(key);
    assert.match(redisKey, new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:[A-Za-z0-9_-]{43}$`));
    assert.ok(!redisKey.includes('alice') && !redisKey.includes('/users/'), 'no path or identity in the key listing');
    const ttl = await connection.client.pttl(redisKey);
    assert.ok(ttl > 9_000 && ttl <= 10_000, `ttl ${ttl}`);
    const raw = await connection.client.getBuffer(redisKey);
    assert.ok(raw !== null);
    const decoded = decodeRecord(raw);
    assert.equal(decoded?.kind === 'response' && decoded.body.toString(), 'hello');
    assert.ok(raw.includes(Buffer.from('hello')), 'the body is stored as its bytes (no base64)');
  });

  it('two stores with the same prefix (two gateway processes) share entries', async () => {
    const prefix = prefixed('shared');
    const a = new RedisStore(connection.client, prefix);
    const b = new RedisStore(connection.client, prefix);
    await a.set('k', response('from a'), 10_000);
    const seen = await b.get('k');
    assert.equal(seen?.kind === 'response' && seen.body.toString(), 'from a');
  });

  it('a value that is not an entry (another program, another version) is a miss', async () => {
    const prefix = prefixed('foreign');
    const store = new RedisStore(connection.client, prefix);
    await connection.client.set(store.redisKey('k'), 'not an entry', 'PX', 10_000);
    assert.equal(await store.get('k'), undefined);
  });

  it('rejects at once when Redis is unreachable (no offline queue); guarded, that is a miss and a dropped write', async () => {
    const down = new SharedRedis(`redis://127.0.0.1:${await closedPort()}`, 200, silentLogger(), CACHE_REDIS);
    try {
      const store = new RedisStore(down.client, prefixed('down'));
      let started = Date.now();
      await assert.rejects(store.get('k'));
      assert.ok(Date.now() - started < 200, 'failed without waiting');
      let errors = 0;
      const guarded = new GuardedStore(store, { logger: silentLogger(), cooldownMs: 1_000, slowFailureMs: 100, onError: () => errors++ });
      started = Date.now();
      assert.equal(await guarded.get('k'), undefined);
      await guarded.set('k', response('x'), 1_000);
      await guarded.delete('k');
      assert.ok(Date.now() - started < 200);
      assert.equal(guarded.outage, true);
      assert.equal(errors, 3);
    } finally {
      down.close();
    }
  });
});
