import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer } from './coalescer.ts';

describe('coalescer', () => {
  it('makes the first request for a key the leader, and hands its value to every follower', async () => {
    const c = new Coalescer<string>(5_000);
    const leader = c.join('k');
    assert.equal(leader.leader, true);
    const followers = Array.from({ length: 99 }, () => c.join('k'));
    assert.ok(followers.every((f) => !f.leader));
    assert.equal(c.waiting, 99);
    const other = c.join('other');
    assert.equal(other.leader, true, 'another key has its own leader');
    if (leader.leader) leader.settle('value');
    const values = await Promise.all(followers.map((f) => (f.leader ? null : f.outcome)));
    assert.ok(values.every((v) => v === 'value'));
    assert.equal(c.waiting, 0);
    assert.equal(c.join('k').leader, true, 'settled: the next request leads again');
  });

  it('releases followers at once with null when the leader could not store anything', async () => {
    const c = new Coalescer<string>(60_000);
    const leader = c.join('k');
    const follower = c.join('k');
    if (leader.leader) leader.settle(null);
    assert.equal(follower.leader ? 'leader' : await follower.outcome, null);
  });

  it('lets a follower stop waiting after the timeout, with null', async () => {
    const c = new Coalescer<string>(30);
    const leader = c.join('k');
    const follower = c.join('k');
    assert.equal(follower.leader ? 'leader' : await follower.outcome, null);
    assert.equal(c.waiting, 0);
    if (leader.leader) {
      leader.settle('late');
      leader.settle('twice'); // ignored
    }
  });
});
