import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import { closedPort } from '../../test/helpers/upstream.ts';
import { MemoryStore } from './memory-store.ts';
import { GuardedStore } from './outage-policy.ts';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../shared/redis-test-support.ts';
import { SharedRedis } from '../shared/redis-connection.ts';
import { RATE_LIMIT_REDIS, RedisStore } from './redis-store.ts';
import { storeContract } from './store-contract.ts';

const connection = new SharedRedis(REDIS_URL, 500, silentLogger(), RATE_LIMIT_REDIS);
const prefixes: string[] = [];

before(async () => {
  await requireRedis();
  if (connection.client.status !== 'ready') await once(connection.client, 'ready');
});

after(async () => {
  for (const p of prefixes) await deleteKeys(connection.client, p);
  connection.close();
});

storeContract('redis', (limits) => {
  const prefix = uniquePrefix('contract');
  prefixes.push(prefix);
  return new RedisStore(connection.client, limits, prefix);
});

const limits = { points: 2, durationMs: 10_000, burst: 0, burstDurationMs: 100_000 };

describe('redis store', () => {
  it('keeps its counters in Redis under the prefix, expiring with the window', async () => {
    const prefix = uniquePrefix('keys');
    prefixes.push(prefix);
    const store = new RedisStore(connection.client, limits, prefix);
    await store.consume('client-1');
    assert.equal(await connection.client.get(`${prefix}:client-1`), '1');
    const ttl = await connection.client.pttl(`${prefix}:client-1`);
    assert.ok(ttl > 9_000 && ttl <= 10_000, `ttl ${ttl}`);
  });

  it('two stores with the same prefix (two gateway processes) share one count', async () => {
    const prefix = uniquePrefix('shared');
    prefixes.push(prefix);
    const a = new RedisStore(connection.client, limits, prefix);
    const b = new RedisStore(connection.client, limits, prefix);
    assert.equal((await a.consume('k')).allowed, true);
    assert.equal((await b.consume('k')).allowed, true);
    assert.equal((await a.consume('k')).allowed, false);
    assert.equal((await b.consume('k')).allowed, false);
  });

  it('rejects with the Redis error (not a decision) when Redis is unreachable, without waiting', async () => {
    const down = new SharedRedis(`redis://127.0.0.1:${await closedPort()}`, 200, silentLogger(), RATE_LIMIT_REDIS);
    try {
      const store = new RedisStore(down.client, limits, uniquePrefix('down'));
      const started = Date.now();
      await assert.rejects(Promise.resolve(store.consume('k')), (err: unknown) => err instanceof Error);
      assert.ok(Date.now() - started < 200, 'no offline queue: fails at once');
    } finally {
      down.close();
    }
  });

  it('the insurance policy answers from memory while Redis is unreachable', async () => {
    const down = new SharedRedis(`redis://127.0.0.1:${await closedPort()}`, 200, silentLogger(), RATE_LIMIT_REDIS);
    try {
      const insurance = new MemoryStore(limits, 100);
      const store = new GuardedStore(new RedisStore(down.client, limits, uniquePrefix('down')), { policy: 'insurance', insurance, logger: silentLogger(), cooldownMs: 1_000, slowFailureMs: 100 });
      const decisions = [await store.consume('k'), await store.consume('k'), await store.consume('k')];
      assert.deepEqual(decisions.map((d) => d.allowed), [true, true, false]);
      assert.equal(store.outage, true);
    } finally {
      down.close();
    }
  });
});
