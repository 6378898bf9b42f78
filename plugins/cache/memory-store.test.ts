import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore, MemoryStoreSlot, recordBytes } from './memory-store.ts';
import { response, storeContract } from './store-contract.ts';

storeContract('memory', () => new MemoryStore(16 * 1024 * 1024, 1024 * 1024));

describe('memory store bound', () => {
  it('holds at most maxBytes, forgetting the least recently used entry first', () => {
    const entry = (tag: string) => response(Buffer.alloc(10_000, tag));
    const one = recordBytes('a', entry('a'));
    const store = new MemoryStore(one * 3, 20_000);
    for (const k of ['a', 'b', 'c']) store.set(k, entry(k), 60_000);
    assert.equal(store.size, 3);
    store.get('a'); // 'a' is now the most recently used
    store.set('d', entry('d'), 60_000); // evicts 'b'
    assert.equal(store.size, 3);
    assert.notEqual(store.get('a'), undefined);
    assert.equal(store.get('b'), undefined);
    assert.ok(store.storedBytes <= one * 3, `${store.storedBytes} ≤ ${one * 3}`);
  });

  it('counts bodies, headers and keys in storedBytes, and stays bounded whatever is stored', () => {
    const store = new MemoryStore(1024 * 1024, 64 * 1024);
    assert.equal(store.storedBytes, 0);
    store.set('k', response(Buffer.alloc(1000)), 60_000);
    const bytes = store.storedBytes;
    assert.ok(bytes > 1000 && bytes < 2000, `${bytes}`);
    for (let i = 0; i < 5_000; i++) store.set(`key-${i}`, response(Buffer.alloc(1000)), 60_000);
    assert.ok(store.storedBytes <= 1024 * 1024, `${store.storedBytes}`);
  });

  it('does not keep a record larger than its entry bound', () => {
    const store = new MemoryStore(10 * 1024 * 1024, 1000);
    store.set('big', response(Buffer.alloc(200_000)), 60_000);
    assert.equal(store.get('big'), undefined);
    assert.equal(store.storedBytes, 0);
  });

  it('storedBytes leaves out entries past their keep time', async () => {
    const store = new MemoryStore(1024 * 1024, 64 * 1024);
    store.set('short', response(Buffer.alloc(1000)), 20);
    assert.ok(store.storedBytes > 1000);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(store.storedBytes, 0);
  });
});

describe('memory store slot (entries across reloads)', () => {
  it('keeps the entries for a reload with the same bounds, starts empty when they change, drops them when unused', () => {
    const slot = new MemoryStoreSlot();
    const first = slot.acquire(1024 * 1024, 1024);
    first.set('x', response('x'), 60_000);
    const reloaded = slot.acquire(1024 * 1024, 1024);
    slot.release(first);
    assert.equal(reloaded, first, 'same bounds: same entries');
    assert.notEqual(reloaded.get('x'), undefined);
    assert.ok(slot.storedBytes > 0);

    const changed = slot.acquire(2 * 1024 * 1024, 1024);
    slot.release(reloaded);
    assert.notEqual(changed, reloaded);
    assert.equal(changed.get('x'), undefined);
    assert.equal(reloaded.size, 0, 'the old store is emptied once its table retires');

    slot.release(changed);
    assert.equal(changed.size, 0, 'no table uses the instance: entries dropped');
    assert.equal(slot.storedBytes, 0);
  });
});
