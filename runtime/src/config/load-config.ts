import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { Logger } from 'pino';
import { loadUserPlugins } from '../isolate/load-user-plugins.ts';
import type { PluginHost } from '../isolate/plugin-host.ts';
import { silentLogger } from '../logging/logger.ts';
import type { BuiltinPluginRegistry } from '../plugins/builtin-plugin.ts';
import { ConfigError } from './config-error.ts';
import { evaluateConfig } from './evaluate-config.ts';
import type { ResolvedConfig } from './resolved-config.ts';
import { resolveConfig } from './validate-config.ts';

export interface LoadedConfig {
  readonly config: ResolvedConfig;
  /** User plugin isolates, loaded and options-validated; hand them to the Gateway (which owns them). */
  readonly userPlugins: ReadonlyMap<string, PluginHost>;
  /** Absolute paths of the config file and every local file it imports (what a watcher watches). */
  readonly files: readonly string[];
}

/**
 * Load `gateway.config.ts` without a build step: esbuild bundles it (and the local files it
 * imports) into one CommonJS script, which is evaluated in a worker thread under a deadline
 * (evaluate-config.ts). Bundling each time, rather than `import()`, means a reload never hits
 * Node's module cache and never leaks modules. Packages other than `@isogate/sdk` stay external
 * and load from the project's node_modules.
 */
export async function loadConfigFile(
  file: string,
  plugins: BuiltinPluginRegistry,
  logger: Logger = silentLogger(),
  /** On a reload: the user plugin hosts serving now; unchanged plugins keep theirs. */
  previousPlugins?: ReadonlyMap<string, PluginHost>,
  /** Abandons the evaluation (a shutdown must not wait for a config that does not finish). */
  signal?: AbortSignal,
): Promise<LoadedConfig> {
  const absolute = path.resolve(file);
  const { code, files } = await bundleConfig(absolute);
  const exported = await evaluateConfig(code, absolute, { signal });
  const config = resolveConfig(exported, plugins, absolute);
  let user;
  try {
    user = await loadUserPlugins(config, path.dirname(absolute), logger, previousPlugins);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError([...err.issues], absolute);
    throw err;
  }
  return { config, userPlugins: user.hosts, files: [...files, ...user.files.filter((f) => !files.includes(f) && !f.startsWith(SDK_DIR))] };
}

async function bundleConfig(file: string): Promise<{ code: string; files: string[] }> {
  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [file],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'cjs',
      target: 'node24',
      sourcemap: 'inline',
      logLevel: 'silent',
      plugins: [externalPackagesExceptSdk, pluginReferences],
    });
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    if (!Array.isArray(failure.errors)) throw err;
    throw new ConfigError(
      failure.errors.map((e) => ({
        path: e.location ? `${path.relative(process.cwd(), e.location.file) || e.location.file}:${e.location.line}:${e.location.column + 1}` : path.basename(file),
        message: e.text,
      })),
      file,
    );
  }
  const cwd = process.cwd();
  const files = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes('node_modules') && !input.startsWith('<'))
    .map((input) => path.resolve(cwd, input))
    .filter((input) => !input.startsWith(SDK_DIR));
  return { code: result.outputFiles[0]!.text, files };
}

// In a workspace checkout the SDK is a symlink, so esbuild reports its real path; it is not user code to watch.
const SDK_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.resolve('@isogate/sdk')))) + path.sep;

/** Bare imports load from node_modules at run time, except the SDK, which is bundled (it is TS). */
const externalPackagesExceptSdk: esbuild.Plugin = {
  name: 'isogate-config-externals',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path === '@isogate/sdk' || args.path.startsWith('@isogate/sdk/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

/**
 * `usePlugin(() => import('./plugins/x.ts'), …)` names a plugin by a dynamic import that is never
 * called: the plugin is bundled for its own isolate and must not run here. The import stays in the
 * bundle as written but with an absolute path, which usePlugin reads from the function's text, so
 * the path is relative to the file that wrote it, as it is for TypeScript. (A config that imports
 * a local module dynamically for itself gets it unbundled, from Node, which the config never needs.)
 */
const pluginReferences: esbuild.Plugin = {
  name: 'isogate-plugin-references',
  setup(build) {
    build.onResolve({ filter: /^(\.{1,2}\/|\/)/ }, (args) => (args.kind === 'dynamic-import' ? { path: path.resolve(args.resolveDir, args.path), external: true } : undefined));
  },
};

export { ConfigError };
