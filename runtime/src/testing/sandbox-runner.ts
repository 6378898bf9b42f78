/**
 * `isogate/testing`: the isolate behind `@isogate/sdk/testing`'s `testPlugin`.
 *
 * Why it lives here and not in the SDK: running a plugin the way the gateway runs it needs the
 * gateway's own pieces (esbuild bundling, isolated-vm, the prelude with the sandbox globals, the
 * CPU watchdog, the wall deadline, the option and SDK-version checks), and those are the runtime's.
 * The SDK must not depend on the runtime (the runtime depends on the SDK; plugin authors install
 * only the SDK and, as a devDependency, `isogate`), so the SDK imports this module dynamically when
 * a test runs and says which package to install when it is missing. Nothing here re-implements the
 * gateway: it is the same sequence as `loadUserPlugins` (resolve, peer range, bundle, load, SDK
 * version) and the same `PluginHost` calls, with failures handed back as data the SDK turns into
 * its own error classes (so two copies of the SDK cannot break an `instanceof`).
 *
 * The SDK and this module speak {@link TEST_RUNNER_PROTOCOL}: the SDK encodes requests and
 * applies results (one implementation for both of its modes), this module only loads and calls.
 */
import path from 'node:path';
import { SDK_VERSION } from '@isogate/sdk';
import { silentLogger } from '../logging/logger.ts';
import { bundleLocation, bundlePlugin, isPathSpecifier, PluginBuildError, pluginLocation, resolvePluginSource, type PluginBundle } from '../isolate/bundle-plugin.ts';
import { DEFAULT_PLUGIN_LIMITS, PluginFailure, PluginHost, PluginOptionsError, type PluginLimitsResolved, type PluginManifest } from '../isolate/plugin-host.ts';
import { peerRangeProblem, sdkVersionCompatible } from '../isolate/sdk-compat.ts';

/** Bumped when the shape below changes; the SDK refuses a runner that speaks another one. */
export const TEST_RUNNER_PROTOCOL = 1;

/** What the SDK asks for: one plugin instance in its own isolate. */
export interface SandboxLoadRequest {
  /** An absolute path, a path relative to `baseDir`, or an installed package name (resolved from `baseDir`, as the gateway resolves it from the config's directory). */
  specifier: string;
  baseDir: string;
  options: unknown;
  limits?: Partial<PluginLimitsResolved>;
  /** Answers `ctx.fetch` in place of the network (JSON text in and out, as the gateway's host fetch); none: no `ctx.fetch`. */
  fetch?: ((url: string, init: string) => Promise<string>) | null;
}

/** Why a plugin could not be loaded, as the gateway would report it at start. */
export type SandboxLoadFailureKind = 'build' | 'options' | 'load' | 'sdk';

export class SandboxLoadError extends Error {
  readonly kind: SandboxLoadFailureKind;
  /** `file:line:column` in the plugin's source, when known. */
  readonly location: string | null;
  /** The option issues (`kind: 'options'`), paths as strings. */
  readonly issues: readonly { path: string[]; message: string }[];
  /** The plugin's name (its manifest's), when it got as far as registering. */
  readonly plugin: string | undefined;
  constructor(kind: SandboxLoadFailureKind, message: string, location: string | null = null, issues: { path: string[]; message: string }[] = [], plugin?: string) {
    super(message);
    this.name = 'SandboxLoadError';
    this.kind = kind;
    this.location = location;
    this.issues = issues;
    this.plugin = plugin;
  }
}

/** A hook call failed the way it fails in the gateway (its kind is the gateway's `PluginFailure` kind). */
export class SandboxHookError extends Error {
  readonly kind: PluginFailure['kind'];
  readonly location: string | null;
  constructor(failure: PluginFailure) {
    super(failure.message);
    this.name = 'SandboxHookError';
    this.kind = failure.kind;
    this.location = failure.location;
  }
}

/** One loaded plugin instance: the gateway's host, called the way the gateway calls it. */
export interface SandboxedPlugin {
  readonly protocol: typeof TEST_RUNNER_PROTOCOL;
  /** The file that was bundled. */
  readonly entry: string;
  readonly manifest: PluginManifest;
  readonly limits: PluginLimitsResolved;
  /** One hook call: the gateway's message in, the hook runtime's JSON answer out. Rejects with {@link SandboxHookError}. */
  call(hook: 'onRequest' | 'onResponse' | 'verifier', message: string, requestHeaders: string, responseHeaders?: string): Promise<string>;
  /** The plugin's own `file:line:column` for a `line:column` of its bundle (where a `console` line was written), as the gateway logs it. */
  source(where: string): string | null;
  /** Dispose the isolate (and stop watching it, which lets the process exit). */
  dispose(): Promise<void>;
}

/**
 * Resolve, bundle and load a plugin into an isolate with the gateway's limits, prelude and
 * globals, and validate its options there. Rejects with {@link SandboxLoadError}.
 */
export async function loadSandboxedPlugin(request: SandboxLoadRequest): Promise<SandboxedPlugin> {
  const limits: PluginLimitsResolved = { ...DEFAULT_PLUGIN_LIMITS };
  for (const key of ['memoryMb', 'cpuMs', 'wallMs'] as const) if (request.limits?.[key] !== undefined) limits[key] = request.limits[key];
  let entry: string;
  try {
    entry = resolvePluginSource(request.specifier, request.baseDir);
  } catch (err) {
    throw new SandboxLoadError('build', err instanceof Error ? err.message : String(err), request.specifier);
  }
  // As the gateway: an installed package says which SDK it was written for.
  const misfit = isPathSpecifier(request.specifier) ? null : peerRangeProblem(entry, request.specifier);
  if (misfit) throw new SandboxLoadError('sdk', misfit);
  let bundle: PluginBundle;
  try {
    bundle = await bundlePlugin(entry);
  } catch (err) {
    if (err instanceof PluginBuildError) throw new SandboxLoadError('build', `${err.message} (${err.location})`, err.location);
    throw err;
  }
  const logger = silentLogger();
  let host: PluginHost;
  try {
    host = await PluginHost.create(path.basename(entry), bundle, request.options ?? {}, limits, logger, request.fetch ?? null);
  } catch (err) {
    if (err instanceof PluginOptionsError) throw new SandboxLoadError('options', err.message, null, err.issues.map((i) => ({ path: [...i.path], message: i.message })), err.plugin);
    // Thrown by the plugin's top-level code (or its registration): where in its source.
    const location = pluginLocation(bundle, (err as { stack?: string } | null)?.stack);
    const message = err instanceof Error ? err.message : String(err);
    throw new SandboxLoadError('load', `the plugin failed to load: ${message}${location ? ` (at ${location})` : ''}`, location);
  }
  if (!sdkVersionCompatible(host.manifest.sdkVersion)) {
    host.dispose();
    throw new SandboxLoadError('sdk', `plugin "${host.manifest.name}" was built for @isogate/sdk ${String(host.manifest.sdkVersion)}, this gateway runs ${SDK_VERSION}`);
  }
  // Exiting right after an isolate died of its memory limit is where isolated-vm's teardown has
  // crashed (RESEARCH.md): dispose() then waits a moment.
  let memoryKill = false;
  let disposed: Promise<void> | null = null;
  return {
    protocol: TEST_RUNNER_PROTOCOL,
    entry,
    manifest: host.manifest,
    limits,
    async call(hook, message, requestHeaders, responseHeaders) {
      try {
        return await host.call(hook, message, requestHeaders, responseHeaders);
      } catch (err) {
        if (!(err instanceof PluginFailure)) throw err;
        if (err.kind === 'memory') memoryKill = true;
        throw new SandboxHookError(err);
      }
    },
    source(where) {
      const [line, column] = where.split(':').map(Number);
      return Number.isInteger(line) && Number.isInteger(column) ? (bundleLocation(bundle, line!, column!) ?? bundle.entry) : null;
    },
    dispose() {
      disposed ??= (async () => {
        host.dispose();
        if (memoryKill) await new Promise((resolve) => setTimeout(resolve, 200));
      })();
      return disposed;
    },
  };
}
