import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { MemoryStore } from './memory-store.ts';
import { GuardedStore, type OutagePolicy } from './outage-policy.ts';
import type { Decision, LimitStore } from './store.ts';

const limits = { points: 2, durationMs: 60_000, burst: 0, burstDurationMs: 600_000 };

/** A primary store that fails while `down` is true, counting its calls. */
class FlakyStore implements LimitStore {
  down = true;
  calls = 0;
  failAfterMs = 20;
  readonly #inner = new MemoryStore(limits, 100);
  consume(key: string): Promise<Decision> {
    this.calls++;
    if (!this.down) return Promise.resolve(this.#inner.consume(key));
    // Slow failures (a stalled store timing out) start the cooldown; fast ones do not.
    return new Promise((_, reject) => setTimeout(() => reject(new Error('Command timed out')), this.failAfterMs));
  }
}

function guarded(policy: OutagePolicy, cooldownMs = 60_000, failAfterMs = 20) {
  const primary = new FlakyStore();
  primary.failAfterMs = failAfterMs;
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const store = new GuardedStore(primary, { policy, insurance: policy === 'insurance' ? new MemoryStore(limits, 100) : null, logger, cooldownMs, slowFailureMs: 10 });
  return { primary, store, lines };
}

describe('store outage policy', () => {
  it('insurance: a memory limiter with the same limits answers while the store fails', async () => {
    const { store } = guarded('insurance');
    const d = [await store.consume('k'), await store.consume('k'), await store.consume('k')];
    assert.deepEqual(d.map((x) => [x.allowed, x.remaining]), [[true, 1], [true, 0], [false, 0]]);
  });

  it('allow: every request passes, with no count to report', async () => {
    const { store } = guarded('allow');
    for (let i = 0; i < 5; i++) assert.deepEqual(await store.consume('k'), { allowed: true, remaining: -1, resetMs: 0 });
  });

  it('deny: every request is refused, retry after the cooldown (at least 1 s)', async () => {
    const { store } = guarded('deny', 5_000);
    assert.deepEqual(await store.consume('k'), { allowed: false, remaining: 0, resetMs: 5_000 });
    assert.deepEqual(await guarded('deny', 200).store.consume('k'), { allowed: false, remaining: 0, resetMs: 1_000 });
  });

  it('leaves the failed store alone during the cooldown, then tries it again; logs the outage and the recovery once', async () => {
    const { primary, store, lines } = guarded('insurance', 100);
    await store.consume('a');
    await store.consume('b');
    await store.consume('c');
    assert.equal(primary.calls, 1, 'one failure, then the cooldown');
    assert.equal(store.outage, true);
    await new Promise((r) => setTimeout(r, 120));
    await store.consume('d');
    assert.equal(primary.calls, 2, 'tried again after the cooldown');
    primary.down = false;
    await new Promise((r) => setTimeout(r, 120));
    const back = await store.consume('e');
    assert.equal(primary.calls, 3);
    assert.equal(store.outage, false);
    assert.deepEqual(back, { allowed: true, remaining: 1, resetMs: back.resetMs });
    await store.consume('f');
    assert.equal(primary.calls, 4, 'no cooldown once recovered');
    const messages = lines.map((l) => l['msg']);
    assert.deepEqual(messages.slice(0, 2), ['rate limit store failed; answering with the insurance policy until it is back', 'rate limit store is back; limits are shared again']);
    assert.equal(lines[0]!['policy'], 'insurance');
  });

  it('retries at once after a fast failure (disconnected, not yet connected): no cooldown to wait out', async () => {
    const { primary, store } = guarded('insurance', 60_000, 0);
    await store.consume('a');
    await store.consume('b');
    assert.equal(primary.calls, 2);
    primary.down = false;
    const back = await store.consume('c');
    assert.deepEqual([back.allowed, back.remaining], [true, 1], 'answered by the primary again');
    assert.equal(store.outage, false);
  });
});
