import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from './memory-store.ts';
import { storeContract } from './store-contract.ts';
import { MemoryStoreSlot } from './store-slot.ts';

storeContract('memory', (limits) => new MemoryStore(limits, 10_000));

const limits = { points: 1, durationMs: 60_000, burst: 0, burstDurationMs: 600_000 };

describe('memory store key cap', () => {
  it('holds at most maxKeys keys, forgetting the least recently seen one', () => {
    const store = new MemoryStore(limits, 3);
    for (const k of ['a', 'b', 'c']) assert.equal(store.consume(k).allowed, true);
    assert.equal(store.consume('a').allowed, false); // 'a' is now the most recently seen
    assert.equal(store.consume('d').allowed, true); // evicts 'b'
    assert.equal(store.size, 3);
    assert.equal(store.consume('a').allowed, false, 'a was kept: still limited');
    assert.equal(store.consume('b').allowed, true, 'b was forgotten: a fresh window');
  });

  it('stays bounded whatever the number of distinct keys', () => {
    const store = new MemoryStore(limits, 1_000);
    for (let i = 0; i < 50_000; i++) store.consume(`k${i}`);
    assert.equal(store.size, 1_000);
  });
});

describe('memory store slot (counters across reloads)', () => {
  it('keeps the counters for a reload with the same limits, starts afresh when they change, drops them when unused', () => {
    const slot = new MemoryStoreSlot();
    const first = slot.acquire(limits, 100);
    first.consume('x');
    const reloaded = slot.acquire({ ...limits }, 100);
    slot.release(first);
    assert.equal(reloaded, first, 'same limits: same counters');
    assert.equal(reloaded.consume('x').allowed, false);

    const changed = slot.acquire({ ...limits, points: 2 }, 100);
    slot.release(reloaded);
    assert.notEqual(changed, reloaded);
    assert.equal(changed.consume('x').allowed, true);

    slot.release(changed);
    assert.equal(changed.size, 0, 'no table uses the instance: counters dropped');
    const fresh = slot.acquire(limits, 100);
    assert.notEqual(fresh, changed);
  });
});
