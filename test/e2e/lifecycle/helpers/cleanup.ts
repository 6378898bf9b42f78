import type { TestContext } from 'node:test';

/**
 * One `t.after()` that runs the registered cleanups last-in first-out (stop the gateway before
 * removing its config dir), every one of them even if an earlier one throws.
 */
export function cleanupStack(t: TestContext): (fn: () => unknown) => void {
  const fns: (() => unknown)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    while (fns.length > 0) {
      const fn = fns.pop()!;
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  });
  return (fn) => {
    fns.push(fn);
  };
}
