import type { Closable } from '../../runtime/src/plugins/builtin-plugin.ts';
import { MemoryStore } from './memory-store.ts';
import { sameLimits, type WindowLimits } from './store.ts';

/**
 * The memory counters of one instance name, kept across routing tables. A reload builds the new
 * table (acquire) before the old one is retired (release), so counters carry over when the limits
 * and the cap are unchanged; changed limits start from zero. When no table uses the instance any
 * more, the counters are dropped, so a removed or renamed instance does not hold memory.
 */
export class MemoryStoreSlot implements Closable {
  #store: MemoryStore | null = null;
  #limits: WindowLimits | null = null;
  #maxKeys = 0;
  #users = 0;

  acquire(limits: WindowLimits, maxKeys: number): MemoryStore {
    this.#users++;
    if (this.#store === null || this.#maxKeys !== maxKeys || !sameLimits(this.#limits!, limits)) {
      this.#store = new MemoryStore(limits, maxKeys);
      this.#limits = limits;
      this.#maxKeys = maxKeys;
    }
    return this.#store;
  }

  release(store: MemoryStore): void {
    this.#users--;
    if (this.#users === 0 && this.#store === store) {
      this.#store.clear();
      this.#store = null;
      this.#limits = null;
    }
  }

  close(): void {
    this.#store?.clear();
    this.#store = null;
  }
}
