/**
 * Guards for builtins that ignore both isolate limits. `new Array(60e6).fill(0)` runs as one
 * native call: isolated-vm's CPU timeout cannot interrupt it and the memory limit is only checked
 * after it, so it blocked the whole gateway process for 11-13 s at 1.1 GB in our measurements
 * (RESEARCH.md). Even 16 Mi elements (this guard's old fixed bound) ran for 96 ms and left a
 * 64 MB array in a 16 MB isolate, so the bound now follows the memory limit (`guardLimit`).
 * Evaluated by its source text inside each plugin isolate before the plugin's code
 * (self-contained: no outside references); never run in the host process.
 */
export function installBuiltinGuards(maxElements: number): void {
  // Far above any legitimate use in a request hook, far below what stalls the process: scaled to
  // the isolate's memory limit by guardLimit().
  const MAX_ELEMENTS = maxElements;
  const guard = (proto: object, name: string, tooBig: (self: unknown, args: unknown[]) => boolean) => {
    const original = (proto as Record<string, (...args: unknown[]) => unknown>)[name]!;
    const guarded = {
      [name](this: unknown, ...args: unknown[]) {
        if (tooBig(this, args)) throw new RangeError(`${name}: more than ${MAX_ELEMENTS} elements is not allowed in a plugin`);
        return original.apply(this, args);
      },
    }[name]!;
    Object.defineProperty(proto, name, { value: guarded, writable: false, configurable: false, enumerable: false });
  };
  const longerThanMax = (self: unknown) => typeof (self as { length?: unknown })?.length === 'number' && (self as { length: number }).length > MAX_ELEMENTS;
  guard(Array.prototype, 'fill', longerThanMax);
  guard(Array.prototype, 'join', longerThanMax);
  guard(Array, 'from', (_self, args) => {
    const source = args[0] as { length?: unknown } | null | undefined;
    return typeof source?.length === 'number' && source.length > MAX_ELEMENTS;
  });
  guard(String.prototype, 'repeat', (self, args) => String(self).length * Number(args[0]) > MAX_ELEMENTS * 8);
  guard(String.prototype, 'padStart', (_self, args) => Number(args[0]) > MAX_ELEMENTS * 8);
  guard(String.prototype, 'padEnd', (_self, args) => Number(args[0]) > MAX_ELEMENTS * 8);
}

/**
 * The largest array (elements) or, times 8, string (characters) one guarded builtin call may
 * produce in an isolate of `memoryMb`: an eighth of the heap at 8 bytes per element, so a single
 * call can never take the whole limit in one native step, bounded to [64 Ki, 16 Mi] elements.
 */
export function guardLimit(memoryMb: number): number {
  return Math.min(1 << 24, Math.max(1 << 16, Math.floor((memoryMb * 1024 * 1024) / 64)));
}
