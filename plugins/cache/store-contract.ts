import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { CachedResponse, CacheRecord, CacheStore } from './store.ts';

/** Builds a fresh, empty store (a unique key prefix for Redis). */
export type StoreFactory = () => CacheStore | Promise<CacheStore>;

export function response(body: string | Buffer, overrides: Partial<CachedResponse> = {}): CachedResponse {
  const now = Date.now();
  return {
    kind: 'response',
    status: 200,
    headers: { 'content-type': 'text/plain', etag: '"1"' },
    body: typeof body === 'string' ? Buffer.from(body) : body,
    storedAt: now,
    freshUntil: now + 60_000,
    staleUntil: now + 90_000,
    ...overrides,
  };
}

async function read(store: CacheStore, key: string): Promise<CacheRecord | undefined> {
  return store.get(key);
}

/**
 * What every cache store must do, run against each implementation (memory and Redis), like the
 * rate-limit store contract: records come back exactly as stored (binary bodies, repeated
 * headers, times), keys are independent, a record is gone after its keep time, a newer record
 * replaces an older one, a deleted one is gone.
 */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`cache store contract: ${name}`, () => {
    it('returns nothing for a key never stored', async () => {
      const store = await factory();
      assert.equal(await read(store, 'nothing here'), undefined);
    });

    it('returns a response exactly as stored: status, headers (repeated ones as lists), binary body, times', async () => {
      const store = await factory();
      const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const stored = response(body, { status: 203, headers: { 'content-type': 'application/octet-stream', link: ['</a>; rel=preload', '</b>; rel=preload'], 'x-unicode': 'é☃' } });
      await store.set('k', stored, 10_000);
      const back = await read(store, 'k');
      assert.ok(back !== undefined && back.kind === 'response');
      assert.equal(back.status, 203);
      assert.deepEqual(back.headers, stored.headers);
      assert.ok(Buffer.compare(back.body, body) === 0, 'the body bytes are the same');
      assert.deepEqual([back.storedAt, back.freshUntil, back.staleUntil], [stored.storedAt, stored.freshUntil, stored.staleUntil]);
    });

    it('stores an empty body and a large one', async () => {
      const store = await factory();
      await store.set('empty', response(''), 10_000);
      const large = Buffer.alloc(512 * 1024, 7);
      await store.set('large', response(large), 10_000);
      const empty = await read(store, 'empty');
      assert.equal(empty?.kind === 'response' && empty.body.byteLength, 0);
      const back = await read(store, 'large');
      assert.ok(back?.kind === 'response' && back.body.equals(large));
    });

    it('returns a vary record as stored', async () => {
      const store = await factory();
      await store.set('v', { kind: 'vary', names: ['accept-encoding', 'accept-language'], generation: 'g1' }, 10_000);
      assert.deepEqual(await read(store, 'v'), { kind: 'vary', names: ['accept-encoding', 'accept-language'], generation: 'g1' });
    });

    it('keeps keys apart, however alike', async () => {
      const store = await factory();
      await store.set('route\u0000/a', response('a'), 10_000);
      await store.set('route\u0000/a\u0000x', response('ax'), 10_000);
      const a = await read(store, 'route\u0000/a');
      const ax = await read(store, 'route\u0000/a\u0000x');
      assert.equal(a?.kind === 'response' && a.body.toString(), 'a');
      assert.equal(ax?.kind === 'response' && ax.body.toString(), 'ax');
      assert.equal(await read(store, 'route\u0000/b'), undefined);
    });

    it('replaces a record with a newer one, and forgets a deleted one', async () => {
      const store = await factory();
      await store.set('k', response('old'), 10_000);
      await store.set('k', response('new'), 10_000);
      const back = await read(store, 'k');
      assert.equal(back?.kind === 'response' && back.body.toString(), 'new');
      await store.delete('k');
      assert.equal(await read(store, 'k'), undefined);
      await store.delete('never stored');
    });

    it('drops a record once its keep time has passed', async () => {
      const store = await factory();
      await store.set('short', response('short'), 150);
      await store.set('long', response('long'), 10_000);
      assert.notEqual(await read(store, 'short'), undefined);
      for (let i = 0; i < 100 && (await read(store, 'short')) !== undefined; i++) await sleep(50);
      assert.equal(await read(store, 'short'), undefined, 'gone after 150 ms');
      assert.notEqual(await read(store, 'long'), undefined, 'the other one stays');
    });
  });
}
