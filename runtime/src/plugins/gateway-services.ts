import type { Closable, GatewayEvent } from './builtin-plugin.ts';

/**
 * What built-in plugins share with the gateway across routing tables: values that must survive a
 * config reload (a metrics registry, a Redis connection) and the gateway-wide event stream.
 * Owned by the Gateway; closed when it closes.
 */
export class GatewayServices {
  readonly #shared = new Map<string, Closable>();
  readonly #listeners = new Set<(event: GatewayEvent) => void>();
  /** The present circuit state of each origin that has left `closed` at some point, for late listeners. */
  readonly #circuits = new Map<string, Extract<GatewayEvent, { type: 'upstream-circuit' }>['state']>();
  #closed = false;

  shared<T extends Closable>(key: string, create: () => T): T {
    let value = this.#shared.get(key);
    if (value === undefined) {
      if (this.#closed) throw new Error('the gateway is closed');
      value = create();
      this.#shared.set(key, value);
    }
    return value as T;
  }

  /** Subscribe; a new listener first hears the present state of every origin's circuit that is not plainly closed. */
  onEvent(listener: (event: GatewayEvent) => void): () => void {
    this.#listeners.add(listener);
    for (const [upstream, state] of this.#circuits) listener({ type: 'upstream-circuit', upstream, state, previous: null });
    return () => this.#listeners.delete(listener);
  }

  emit(event: GatewayEvent): void {
    if (event.type === 'upstream-circuit') this.#circuits.set(event.upstream, event.state);
    for (const listener of this.#listeners) listener(event);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const values = [...this.#shared.values()];
    this.#shared.clear();
    this.#listeners.clear();
    await Promise.allSettled(values.map((v) => v.close?.()));
  }
}
