/**
 * Globals that load their module on first read, inside the plugin isolate (bundled into the
 * sandbox script; never run in the host). Web IDL globals are writable, configurable and not
 * enumerable, and so are these, before and after loading.
 *
 * core-js looks for native implementations on the global object when a module loads (DOMException,
 * URL…), and must find none, as in a plain isolate: a getter read from inside a load would load a
 * module in the middle of loading it and hand back half of it. So every pending getter is off the
 * global object while any of these modules loads (`quietly`).
 */

const g = globalThis as unknown as Record<string, unknown>;

/** Globals whose module has not been loaded yet, and how to load each. */
const pending = new Map<string, () => unknown>();

export function define(name: string, value: unknown): void {
  Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
}

function getter(name: string): void {
  Object.defineProperty(g, name, {
    configurable: true,
    enumerable: false,
    get: () => load(name),
    set(value: unknown) {
      pending.delete(name);
      define(name, value);
    },
  });
}

/** Run `fn` (which loads polyfill modules) with no pending getter on the global object. */
export function quietly<T>(fn: () => T): T {
  const hidden = [...pending.keys()];
  for (const name of hidden) delete g[name];
  try {
    return fn();
  } finally {
    for (const name of hidden) if (pending.has(name)) getter(name);
  }
}

function load(name: string): unknown {
  const loader = pending.get(name);
  // A getter kept from before the first read (getOwnPropertyDescriptor) and called again.
  if (!loader) return g[name];
  const value = quietly(() => {
    pending.delete(name);
    try {
      return loader();
    } catch (err) {
      pending.set(name, loader);
      throw err;
    }
  });
  define(name, value);
  return value;
}

/** `name` is a global whose value `loader` makes on first read. */
export function lazy(name: string, loader: () => unknown): void {
  pending.set(name, loader);
  getter(name);
}

/** A DOMException (core-js's, the same class as the global) made without loading it through the global. */
export function domException(message: string, name: string): Error {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see sandbox-entry.ts)
  const DOMException = quietly(() => require('core-js-pure/stable/dom-exception/index.js')) as new (m: string, n: string) => Error;
  return new DOMException(message, name);
}
