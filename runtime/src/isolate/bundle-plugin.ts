import { createRequire } from 'node:module';
import path from 'node:path';
import * as esbuild from 'esbuild';

export interface PluginBundle {
  readonly code: string;
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

/**
 * Resolve a plugin reference: a path relative to the config's directory, or an npm package
 * resolved from there (the project's node_modules).
 */
export function resolvePluginSource(use: string, baseDir: string): string {
  if (use.startsWith('./') || use.startsWith('../') || path.isAbsolute(use)) return path.resolve(baseDir, use);
  try {
    return createRequire(path.join(baseDir, 'noop.js')).resolve(use);
  } catch {
    throw new PluginBuildError(`cannot resolve plugin "${use}": not a built-in, not a relative path, not an installed package`, use);
  }
}

/**
 * Bundle a plugin and everything it imports into one script for an isolate. platform 'neutral':
 * there is no Node in an isolate, so importing `fs` or `process` fails here, at build time, with
 * the importing file and line.
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
    });
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    if (!Array.isArray(failure.errors)) throw err;
    const first = failure.errors[0]!;
    const where = first.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}` : entry;
    throw new PluginBuildError(first.text, where);
  }
  const files = Object.keys(result.metafile.inputs)
    .filter((f) => !f.includes('node_modules') && !f.startsWith('<'))
    .map((f) => path.resolve(f));
  // `;void 0`: the script's completion value must not be a function (it would pin the context).
  return { code: `${result.outputFiles[0]!.text}\n;void 0`, files, entry };
}
