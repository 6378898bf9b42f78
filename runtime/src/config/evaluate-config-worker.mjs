// The worker thread that runs a bundled config (see evaluate-config.ts): it runs the CommonJS
// bundle once, checks that the default export is plain data, posts one ConfigEvaluationReport and
// waits to be terminated, so that anything the config left running (timers, sockets) ends with
// the thread.
//
// Plain JavaScript on purpose: a thread that loads a TypeScript file starts Node's type stripper
// again, which doubled the cost of every config load (about 100 ms instead of 45 ms here).
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';

/** @param {{ code: string, file: string }} job */
function evaluateBundledConfig({ code, file }) {
  const module = { exports: /** @type {Record<string, unknown>} */ ({}) };
  try {
    const run = vm.compileFunction(code, ['module', 'exports', 'require', '__filename', '__dirname'], { filename: file });
    run(module, module.exports, createRequire(file), file, path.dirname(file));
  } catch (err) {
    return threw(err);
  }
  try {
    const exported = module.exports['default'];
    if (exported === undefined) return { kind: 'no-default-export' };
    const nonPlain = findNonPlainData(exported, [], new Set());
    if (nonPlain) return { kind: 'not-plain-data', ...nonPlain };
    return { kind: 'exported', value: exported };
  } catch (err) {
    // A getter in the exported object threw while it was read.
    return threw(err);
  }
}

/** @param {unknown} err */
function threw(err) {
  const e = /** @type {{ code?: unknown, message?: unknown }} */ (typeof err === 'object' && err !== null ? err : {});
  return {
    kind: 'threw',
    message: typeof e.message === 'string' ? e.message : String(err),
    code: typeof e.code === 'string' ? e.code : undefined,
  };
}

/**
 * A config is plain data: strings, numbers, booleans, null, undefined, arrays and plain objects.
 * Nothing the SDK builds (`defineConfig`, `usePlugin`, `env`) nor any built-in's options is
 * anything else, and the config leaves this thread by structured clone: a function or a symbol
 * cannot be cloned, and a class instance (a Date, a Map, a URL) would arrive as something else.
 * Returns the key path and kind of the first such value, or null.
 * @param {unknown} value
 * @param {(string | number)[]} path
 * @param {Set<object>} seen
 * @returns {{ path: (string | number)[], found: string } | null}
 */
function findNonPlainData(value, path, seen) {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return null;
    case 'function':
      return { path, found: value.name ? `a function (${value.name})` : 'a function' };
    case 'symbol':
      return { path, found: 'a symbol' };
    case 'bigint':
      return { path, found: 'a bigint' };
  }
  const prototype = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) {
    const name = prototype.constructor?.name;
    return { path, found: typeof name === 'string' && name !== '' ? `a ${name} object` : 'an object with a custom prototype' };
  }
  // Shared objects and cycles clone fine; each object is checked once.
  if (seen.has(value)) return null;
  seen.add(value);
  for (const key of Object.keys(value)) {
    const found = findNonPlainData(value[key], [...path, Array.isArray(value) ? Number(key) : key], seen);
    if (found) return found;
  }
  return null;
}

const report = evaluateBundledConfig(workerData);
try {
  parentPort.postMessage(report);
} catch (err) {
  // Cloning reads every property again; a getter that throws (or answers differently) lands here.
  parentPort.postMessage(threw(err));
}
