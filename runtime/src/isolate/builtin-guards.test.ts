import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ivm from './isolated-vm.ts';
import { guardLimit, installBuiltinGuards } from './builtin-guards.ts';

/** A fresh isolate with the guards installed for `memoryMb`, as the plugin host does. */
function guarded(memoryMb: number): { run(code: string): unknown; dispose(): void } {
  const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
  const context = isolate.createContextSync();
  context.evalSync(`(${installBuiltinGuards.toString()})(${guardLimit(memoryMb)})`);
  return { run: (code) => context.evalSync(code, { timeout: 2_000 }), dispose: () => isolate.dispose() };
}

describe('builtin guards', () => {
  it('scale with the memory limit: an eighth of the heap at 8 bytes an element, within [64 Ki, 16 Mi]', () => {
    assert.equal(guardLimit(64), 1 << 20);
    assert.equal(guardLimit(16), 1 << 18);
    assert.equal(guardLimit(1), 1 << 16);
    assert.equal(guardLimit(100_000), 1 << 24);
  });

  it('refuse, as a catchable RangeError, builtins that would build more than that in one native call', () => {
    const g = guarded(16);
    try {
      const limit = guardLimit(16);
      assert.equal(g.run(`new Array(${limit}).fill(0).length`), limit);
      for (const code of [`new Array(${limit + 1}).fill(0)`, `Array.from({ length: ${limit + 1} })`, `new Array(${limit + 1}).join(',')`, `'ab'.repeat(${limit * 4 + 1})`, `''.padStart(${limit * 8 + 1})`, `''.padEnd(${limit * 8 + 1})`]) {
        assert.equal(g.run(`try { ${code}; 'allowed' } catch (e) { e instanceof RangeError ? 'refused' : String(e) }`), 'refused', code);
      }
      // The isolate is unharmed and the guarded builtins still work below the limit.
      assert.equal(g.run(`[1, 2, 3].fill(7).join('-') + 'x'.repeat(3) + '5'.padStart(3, '0')`), '7-7-7xxx005');
    } finally {
      g.dispose();
    }
  });
});
