import path from 'node:path';
import * as esbuild from 'esbuild';
import ivm from '../isolated-vm.ts';
import { createSandboxHost } from './host-crypto.ts';

/** Stack frames of the sandbox's own code say this, never `isogate-plugin:` (console skips them). */
const FILENAME = 'isogate-sandbox:globals.js';
const ENTRY = path.join(import.meta.dirname, 'sandbox-entry.ts');

export interface SandboxScript {
  readonly code: string;
  /** V8's code cache for `code`, made in this process (null if V8 made none). */
  readonly cachedData: ivm.ExternalCopy<ArrayBuffer> | null;
}

let ready: Promise<SandboxScript> | null = null;

/**
 * What installSandbox does, for bench/hook-crossing.ts only: it turns the code cache, or the
 * whole sandbox, off in its own process to measure what each costs against what ships.
 */
export const sandboxBenchSettings = { install: true, codeCache: true };

/**
 * The sandbox script, bundled once per process (~50 ms of esbuild), with a code cache so that each
 * isolate deserialises compiled code instead of parsing ~100 KB of polyfills.
 */
export function sandboxScript(): Promise<SandboxScript> {
  ready ??= build().catch((err: unknown) => {
    ready = null;
    throw err;
  });
  return ready;
}

async function build(): Promise<SandboxScript> {
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2024',
    minify: true,
    // CryptoKey and the console's methods keep their names in messages and stack traces.
    keepNames: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  // `;void 0`: the script's completion value must not be a function (it would pin the context).
  const code = `${result.outputFiles[0]!.text}\n;void 0`;
  return { code, cachedData: await makeCodeCache(code) };
}

/**
 * A code cache made after running the script once, in a throwaway isolate: V8 caches the functions
 * compiled by then, not only the top level (a cache made at compile time holds little more than
 * the top level, and isolates would still compile the rest). Compiling the same source again in
 * that isolate finds the compiled script in V8's per-isolate compilation cache, and the cache is
 * made from it. The lazy globals are not read here: their modules stay out of the cache, so an
 * isolate whose plugin never uses them does not deserialise them either.
 */
async function makeCodeCache(code: string): Promise<ivm.ExternalCopy<ArrayBuffer> | null> {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  try {
    const context = await isolate.createContext();
    await context.eval(`globalThis.__isogateHost = { log() {} }; globalThis.__isogateSandboxHost = () => 'NotSupportedError: warm-up';`);
    const first = await isolate.compileScript(code, { filename: FILENAME });
    await first.run(context, { timeout: 5_000 });
    const again = await isolate.compileScript(code, { filename: FILENAME, produceCachedData: true });
    return (again as { cachedData?: ivm.ExternalCopy<ArrayBuffer> }).cachedData ?? null;
  } finally {
    isolate.dispose();
  }
}

/**
 * Install the sandbox's globals in a plugin context, after the prelude and before the plugin's
 * bundle. The host functions cross as one synchronous Callback, which the script takes off the
 * global object before any plugin code runs.
 */
export async function installSandbox(isolate: ivm.Isolate, context: ivm.Context): Promise<void> {
  if (!sandboxBenchSettings.install) return;
  const built = await sandboxScript();
  const code = built.code;
  const cachedData = sandboxBenchSettings.codeCache ? built.cachedData : null;
  await context.global.set('__isogateSandboxHost', new ivm.Callback(createSandboxHost(), { sync: true }));
  const script = await isolate.compileScript(code, cachedData ? { filename: FILENAME, cachedData } : { filename: FILENAME });
  try {
    await script.run(context, { timeout: 1_000 });
  } finally {
    script.release();
  }
}
