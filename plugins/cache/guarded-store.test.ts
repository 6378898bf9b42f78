import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import pino from 'pino';
import { GuardedStore } from './guarded-store.ts';
import type { CacheRecord, CacheStore } from './store.ts';
import { response } from './store-contract.ts';

/** A store whose every call can be made to fail, fast or after a delay. */
class FlakyStore implements CacheStore {
  mode: 'up' | 'fast-fail' | 'slow-fail' = 'up';
  calls = 0;
  readonly #records = new Map<string, CacheRecord>();
  async #run<T>(ok: () => T): Promise<T> {
    this.calls++;
    if (this.mode === 'slow-fail') await sleep(60);
    if (this.mode !== 'up') throw new Error(`store ${this.mode}`);
    return ok();
  }
  get(key: string) {
    return this.#run(() => this.#records.get(key));
  }
  set(key: string, record: CacheRecord) {
    return this.#run(() => void this.#records.set(key, record));
  }
  delete(key: string) {
    return this.#run(() => void this.#records.delete(key));
  }
}

function recordingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line).msg) });
  return { logger, lines };
}

describe('guarded cache store', () => {
  it('a failing store is an empty one: misses, dropped writes, one warning and one recovery line', async () => {
    const inner = new FlakyStore();
    const { logger, lines } = recordingLogger();
    let errors = 0;
    const store = new GuardedStore(inner, { logger, cooldownMs: 10_000, slowFailureMs: 50, onError: () => errors++ });
    await store.set('k', response('x'), 1_000);
    assert.notEqual(await store.get('k'), undefined);
    inner.mode = 'fast-fail';
    assert.equal(await store.get('k'), undefined);
    assert.equal(await store.get('k'), undefined);
    await store.set('k', response('y'), 1_000);
    assert.equal(errors, 3);
    assert.equal(store.outage, true);
    inner.mode = 'up';
    assert.notEqual(await store.get('k'), undefined, 'a fast failure does not rest the store: the next call tries again');
    assert.equal(store.outage, false);
    assert.deepEqual(lines, ['cache store failed; lookups are misses until it is back', 'cache store is back']);
  });

  it('after a slow failure (a stalled store timing out) it is left alone for the cooldown', async () => {
    const inner = new FlakyStore();
    const store = new GuardedStore(inner, { logger: pino({ level: 'silent' }), cooldownMs: 300, slowFailureMs: 50 });
    inner.mode = 'slow-fail';
    assert.equal(await store.get('k'), undefined);
    const callsAfterFailure = inner.calls;
    const started = Date.now();
    for (let i = 0; i < 20; i++) assert.equal(await store.get('k'), undefined);
    assert.equal(inner.calls, callsAfterFailure, 'not asked during the cooldown');
    assert.ok(Date.now() - started < 50, 'answered without waiting');
    inner.mode = 'up';
    while (inner.calls === callsAfterFailure) {
      await store.get('k');
      await sleep(20);
    }
    assert.equal(store.outage, false, 'asked again after the cooldown, and back');
  });
});
