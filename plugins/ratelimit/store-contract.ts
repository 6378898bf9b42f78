import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { Decision, LimitStore, WindowLimits } from './store.ts';

/** Builds a fresh store with these limits; every store it returns must count from zero (unique key prefix). */
export type StoreFactory = (limits: WindowLimits) => LimitStore | Promise<LimitStore>;

const limits = (points: number, durationMs = 10_000, burst = 0, burstDurationMs = durationMs * 10): WindowLimits => ({ points, durationMs, burst, burstDurationMs });

async function consumeMany(store: LimitStore, key: string, n: number): Promise<Decision[]> {
  const out: Decision[] = [];
  for (let i = 0; i < n; i++) out.push(await store.consume(key));
  return out;
}

/**
 * What every rate limit store must do, run against each implementation (memory and Redis), like
 * a router contract suite run against every router. Windows are whole seconds (the options schema
 * guarantees it), so the timing cases use 1 s windows and sleep just past them.
 */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`rate limit store contract: ${name}`, () => {
    it('allows `points` requests per window, counting `remaining` down, then refuses', async () => {
      const store = await factory(limits(3));
      const d = await consumeMany(store, 'a', 5);
      assert.deepEqual(
        d.map((x) => [x.allowed, x.remaining]),
        [
          [true, 2],
          [true, 1],
          [true, 0],
          [false, 0],
          [false, 0],
        ],
      );
      for (const x of d) assert.ok(x.resetMs > 9_000 && x.resetMs <= 10_000, `resetMs ${x.resetMs} is the time left in the 10 s window`);
    });

    it('counts keys independently', async () => {
      const store = await factory(limits(1));
      assert.equal((await store.consume('a')).allowed, true);
      assert.equal((await store.consume('a')).allowed, false);
      assert.equal((await store.consume('b')).allowed, true);
      assert.equal((await store.consume('a:b')).allowed, true);
    });

    it('opens a fresh window once the current one has ended', async () => {
      const store = await factory(limits(2, 1_000));
      await consumeMany(store, 'k', 3);
      assert.equal((await store.consume('k')).allowed, false);
      await sleep(1_100);
      const again = await consumeMany(store, 'k', 3);
      assert.deepEqual(again.map((x) => x.allowed), [true, true, false]);
      assert.equal(again[0]!.remaining, 1);
    });

    it('spends the burst allowance once the window is used up, with remaining 0', async () => {
      const store = await factory(limits(2, 10_000, 2, 100_000));
      const d = await consumeMany(store, 'b', 6);
      assert.deepEqual(
        d.map((x) => [x.allowed, x.remaining]),
        [
          [true, 1],
          [true, 0],
          [true, 0],
          [true, 0],
          [false, 0],
          [false, 0],
        ],
      );
      // A refused client may retry when the window resets (the nearer of window and burst refill).
      assert.ok(d[4]!.resetMs > 9_000 && d[4]!.resetMs <= 10_000, `resetMs ${d[4]!.resetMs}`);
    });

    it('does not refill the burst allowance with each window', async () => {
      const store = await factory(limits(1, 1_000, 1, 60_000));
      assert.deepEqual((await consumeMany(store, 'c', 3)).map((x) => x.allowed), [true, true, false]);
      await sleep(1_100);
      // New window: its point is back, the burst point is not (it refills after 60 s).
      assert.deepEqual((await consumeMany(store, 'c', 2)).map((x) => x.allowed), [true, false]);
    });

    it('reports the burst refill as the reset time when it comes before the window end', async () => {
      const store = await factory(limits(1, 60_000, 1, 1_000));
      assert.deepEqual((await consumeMany(store, 'r', 3)).map((x) => x.allowed), [true, true, false]);
      const refused = await store.consume('r');
      assert.ok(refused.resetMs <= 1_000, `resetMs ${refused.resetMs} is the burst refill, not the 60 s window`);
      await sleep(1_100);
      assert.equal((await store.consume('r')).allowed, true, 'the burst refilled');
    });

    it('is exact under concurrency: 60 simultaneous requests against 25 points allow exactly 25', async () => {
      const store = await factory(limits(25));
      const all = await Promise.all(Array.from({ length: 60 }, () => store.consume('concurrent')));
      assert.equal(all.filter((d) => d.allowed).length, 25);
      const remaining = all.filter((d) => d.allowed).map((d) => d.remaining).sort((a, b) => a - b);
      assert.deepEqual(remaining, Array.from({ length: 25 }, (_, i) => i), 'each allowed request saw a distinct count');
    });
  });
}
