import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { explainUnresolved } from './node-builtins.ts';
import { SourceMapLookup, type SourceMapFields } from './source-map-position.ts';

export interface PluginBundle {
  readonly code: string;
  /**
   * esbuild's source map of `code` (JSON text, without the sources' text), read only when a
   * plugin error needs a location: bundles are rebuilt on every reload.
   */
  readonly sourceMap: string | null;
  /** Absolute paths of the plugin's own source files (what a watcher watches). */
  readonly files: readonly string[];
  readonly entry: string;
}

export class PluginBuildError extends Error {
  readonly location: string;
  constructor(message: string, location: string) {
    super(message);
    this.name = 'PluginBuildError';
    this.location = location;
  }
}

/** Whether a plugin reference is a file path (relative or absolute) rather than a package name. */
export function isPathSpecifier(use: string): boolean {
  return use.startsWith('./') || use.startsWith('../') || path.isAbsolute(use);
}

/**
 * Resolve a plugin reference: a path relative to the config's directory, or an npm package
 * resolved from there (the project's node_modules).
 */
export function resolvePluginSource(use: string, baseDir: string): string {
  if (isPathSpecifier(use)) return path.resolve(baseDir, use);
  try {
    return createRequire(path.join(baseDir, 'noop.js')).resolve(use);
  } catch {
    throw new PluginBuildError(`cannot resolve plugin "${use}": not a built-in, not a relative path, not an installed package`, use);
  }
}

/**
 * Bundle a plugin and everything it imports into one script for an isolate. platform 'neutral':
 * there is no Node in an isolate, so importing `fs` or `node:crypto` fails here, at build time,
 * with the importing file and line and what to use instead (node-builtins.ts).
 */
export async function bundlePlugin(entry: string): Promise<PluginBundle> {
  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      format: 'iife',
      globalName: '__isogatePlugin',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      conditions: ['import', 'default'],
      target: 'es2024',
      logLevel: 'silent',
      legalComments: 'none',
      sourcemap: 'external',
      // Only positions are looked up: the sources' text would more than double the map (zod's).
      sourcesContent: false,
      // Never written (write: false); names the source map output.
      outfile: `${entry}.isogate-bundle.js`,
    });
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    if (!Array.isArray(failure.errors)) throw err;
    const first = failure.errors[0]!;
    const where = first.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}` : entry;
    throw new PluginBuildError(explainUnresolved(first.text) ?? first.text, where);
  }
  const files = Object.keys(result.metafile.inputs)
    .filter((f) => !f.includes('node_modules') && !f.startsWith('<'))
    .map((f) => path.resolve(f));
  // `;void 0`: the script's completion value must not be a function (it would pin the context).
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'))!;
  const map = result.outputFiles.find((f) => f.path.endsWith('.map'));
  return { code: `${js.text}\n;void 0`, sourceMap: map ? map.text : null, files, entry };
}

const lookups = new WeakMap<PluginBundle, SourceMapLookup>();

/**
 * The plugin's own `file:line:column` for the first bundle frame of an isolate stack, or null.
 * Frames look like `at fn (isogate-plugin:/abs/entry.ts:12:7)`: positions in the bundle.
 */
export function pluginLocation(bundle: PluginBundle, stack: string | undefined): string | null {
  if (!stack || !bundle.sourceMap) return null;
  const prefix = `isogate-plugin:${bundle.entry}:`;
  for (const line of stack.split('\n')) {
    const at = line.indexOf(prefix);
    if (at === -1) continue;
    const match = /^(\d+):(\d+)/.exec(line.slice(at + prefix.length));
    if (!match) continue;
    const source = bundleLocation(bundle, Number(match[1]), Number(match[2]));
    if (source) return source;
  }
  return null;
}

/**
 * The plugin's own `file:line:column` for a 1-based `line:column` of its bundle (what a console
 * line carries), or null when the source map does not cover it.
 */
export function bundleLocation(bundle: PluginBundle, line: number, column: number): string | null {
  if (!bundle.sourceMap) return null;
  let lookup = lookups.get(bundle);
  if (!lookup) {
    const { mappings, sources } = JSON.parse(bundle.sourceMap) as SourceMapFields;
    lookups.set(bundle, (lookup = new SourceMapLookup({ mappings, sources })));
  }
  const found = lookup.find(line - 1, column - 1);
  if (!found) return null;
  const source = found.source.startsWith('file://') ? fileURLToPath(found.source) : path.resolve(path.dirname(bundle.entry), found.source);
  return `${source}:${found.line + 1}:${found.column + 1}`;
}
