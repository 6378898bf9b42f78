import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import { redactedRedisUrl, SharedRedis, SharedRedisSlot, type RedisRole } from './redis-connection.ts';
import { REDIS_URL } from './redis-test-support.ts';

const ROLE: RedisRole = { connectionName: 'isogate-test', store: 'test store', whenDown: 'nothing' };

// The connection the rate limiter's and the cache's Redis stores share; their own suites test the
// stores through it against the real Redis.
describe('shared Redis connection', () => {
  it('the connection slot opens one connection for its users and closes it with the last', async () => {
    let opened = 0;
    const slot = new SharedRedisSlot(() => {
      opened++;
      return new SharedRedis(REDIS_URL, 200, silentLogger(), ROLE);
    });
    const a = slot.acquire();
    const b = slot.acquire();
    assert.equal(a, b);
    assert.equal(opened, 1);
    slot.release();
    assert.notEqual(a.client.status, 'end');
    slot.release();
    slot.release(); // one too many: ignored
    assert.equal(opened, 1);
    assert.equal(slot.current, null);
    // QUIT, or a disconnect if it was not connected yet: either way the client ends.
    if (a.client.status !== 'end') await new Promise((resolve) => a.client.once('end', resolve));
    assert.equal(a.client.status, 'end');
  });

  it('never logs a Redis password', () => {
    assert.equal(redactedRedisUrl('redis://user:s3cret@127.0.0.1:6379/2'), 'redis://user:***@127.0.0.1:6379/2');
  });
});
