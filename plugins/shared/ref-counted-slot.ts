import type { Closable } from '../../runtime/src/plugins/builtin-plugin.ts';

/**
 * A value shared by the instances that use the same settings (a Redis connection, a JWKS cache),
 * counted by its users and kept in the gateway's `ctx.shared` across config reloads. A reload
 * builds the new routing table (acquire) before it retires the old one (release), so unchanged
 * settings keep the value; when the last user releases it (its settings changed, the instance
 * went), it is closed instead of living on for nobody. The gateway's close closes it whoever still
 * holds it, and a later acquire opens a fresh one that the count then governs again.
 */
export class RefCountedSlot<T extends { close(): void | Promise<void> }> implements Closable {
  readonly #open: () => T;
  #value: T | null = null;
  #users = 0;

  constructor(open: () => T) {
    this.#open = open;
  }

  /** The value while some user holds it. */
  get current(): T | null {
    return this.#value;
  }

  get users(): number {
    return this.#users;
  }

  acquire(): T {
    this.#users++;
    this.#value ??= this.#open();
    return this.#value;
  }

  /** One user is done with it; the last one closes it. A release too many is ignored. */
  release(): void {
    if (this.#users === 0) return;
    if (--this.#users > 0) return;
    void this.close();
  }

  /** Close it now, whoever holds it (the gateway is closing). */
  async close(): Promise<void> {
    const value = this.#value;
    this.#value = null;
    this.#users = 0;
    await value?.close();
  }
}
