import path from 'node:path';
import type { Logger } from 'pino';
import { SDK_VERSION } from '@isogate/sdk';
import { ConfigError, formatPath, type ConfigIssue } from '../config/config-error.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { bundlePlugin, isPathSpecifier, PluginBuildError, pluginLocation, resolvePluginSource, type PluginBundle } from './bundle-plugin.ts';
import { groupIdentityOf, hostIdentity, PluginHost, PluginMemberLoadError, PluginOptionsError, type PluginMemberSpec } from './plugin-host.ts';
import { peerRangeProblem, sdkVersionCompatible } from './sdk-compat.ts';

export interface UserPlugins {
  /** One loaded isolate per user plugin instance, by instance name. */
  readonly hosts: ReadonlyMap<string, PluginHost>;
  /** Every plugin source file (for the watcher). */
  readonly files: readonly string[];
}

/**
 * Resolve, bundle and load every user plugin of a config into its own isolate, validating its
 * options there. With `previous` (the hosts serving now, on a reload), an instance whose bundle,
 * options and limits are unchanged keeps its host (retained: each user disposes it once). All problems are reported at once as a ConfigError naming the instance; on any
 * problem, the isolates created so far are disposed.
 */
export async function loadUserPlugins(config: ResolvedConfig, baseDir: string, logger: Logger, previous?: ReadonlyMap<string, PluginHost>): Promise<UserPlugins> {
  const hosts = new Map<string, PluginHost>();
  const files = new Set<string>();
  const issues: ConfigIssue[] = [];
  /** The bundles of the `isolation: 'shared'` instances, loaded together once all are bundled. */
  const shared: PluginMemberSpec[] = [];
  await Promise.all(
    Object.entries(config.plugins).map(async ([name, instance]) => {
      if (instance.kind !== 'user') return;
      let bundle: PluginBundle | undefined;
      try {
        const entry = resolvePluginSource(instance.use, baseDir);
        // An installed package says which SDK it was written for: refuse it before building it.
        const misfit = isPathSpecifier(instance.use) ? null : peerRangeProblem(entry, instance.use);
        if (misfit) {
          issues.push({ path: formatPath(['plugins', name, 'use']), message: misfit });
          return;
        }
        bundle = await bundlePlugin(entry);
        for (const f of bundle.files) files.add(f);
        if (instance.isolation === 'shared') {
          shared.push({ instanceName: name, bundle, options: instance.options, limits: instance.limits, fetch: instance.fetch });
          return;
        }
        // A reload that leaves this instance's plugin as it was keeps its isolate (and the state in
        // it); only the plugins whose code, options or limits changed get a new one.
        const current = previous?.get(name);
        if (current && !current.shared && current.identity === hostIdentity(bundle, JSON.stringify(instance.options ?? {}), instance.limits, instance.fetch)) {
          hosts.set(name, current.retain());
          return;
        }
        const host = await PluginHost.create(name, bundle, instance.options, instance.limits, logger, instance.fetch);
        const misbuilt = sdkProblem(host, name);
        if (misbuilt) {
          host.dispose();
          issues.push(misbuilt);
          return;
        }
        hosts.set(name, host);
      } catch (err) {
        issues.push(...loadIssues(name, bundle, err));
      }
    }),
  );
  // In config order (bundles finish in any order): the order is part of the group's identity.
  const names = Object.keys(config.plugins);
  shared.sort((a, b) => names.indexOf(a.instanceName) - names.indexOf(b.instanceName));
  if (shared.length > 0 && issues.length === 0) await loadSharedGroup(shared, hosts, issues, logger, previous);
  if (issues.length > 0) {
    // A shared group is in the map once per member, and holds one use per member.
    for (const host of hosts.values()) host.dispose();
    throw new ConfigError(issues);
  }
  return { hosts, files: [...files] };
}

/**
 * The config's `isolation: 'shared'` instances, in config order, in one isolate: the group serving
 * now is kept when its members are the same (same names, order, code, options, limits and fetch).
 */
async function loadSharedGroup(specs: readonly PluginMemberSpec[], hosts: Map<string, PluginHost>, issues: ConfigIssue[], logger: Logger, previous?: ReadonlyMap<string, PluginHost>): Promise<void> {
  const current = previous?.get(specs[0]!.instanceName);
  let host: PluginHost;
  try {
    if (current?.shared && current.identity === groupIdentityOf(specs)) {
      for (const spec of specs) hosts.set(spec.instanceName, current.retain());
      return;
    }
    host = await PluginHost.createGroup(specs, logger);
  } catch (err) {
    const name = err instanceof PluginMemberLoadError ? err.instanceName : specs[0]!.instanceName;
    const bundle = specs.find((s) => s.instanceName === name)?.bundle;
    issues.push(...loadIssues(name, bundle, err instanceof PluginMemberLoadError ? err.cause : err));
    return;
  }
  for (const member of host.members) {
    const misbuilt = sdkProblem(host, member.instanceName);
    if (misbuilt) issues.push(misbuilt);
  }
  for (const spec of specs) hosts.set(spec.instanceName, host);
}

/** An instance whose plugin was built for an SDK this gateway does not run. */
function sdkProblem(host: PluginHost, name: string): ConfigIssue | null {
  const { manifest } = host.member(name);
  if (sdkVersionCompatible(manifest.sdkVersion)) return null;
  return { path: formatPath(['plugins', name, 'use']), message: `plugin "${manifest.name}" was built for @isogate/sdk ${String(manifest.sdkVersion)}, this gateway runs ${SDK_VERSION}` };
}

/** What a failed load of an instance is, as config issues naming it. */
function loadIssues(name: string, bundle: PluginBundle | undefined, err: unknown): ConfigIssue[] {
  if (err instanceof PluginOptionsError) {
    // Paths cross the isolate as strings: an all-digit segment is an array index (`rules[1]`).
    const segments = (p: readonly string[]) => p.map((seg) => (/^(0|[1-9]\d{0,8})$/.test(seg) ? Number(seg) : seg));
    return err.issues.map((issue) => ({ path: formatPath(['plugins', name, 'options', ...segments(issue.path)]), message: issue.message }));
  }
  if (err instanceof PluginBuildError) {
    return [{ path: formatPath(['plugins', name, 'use']), message: `${path.relative(process.cwd(), err.location) || err.location}: ${err.message}` }];
  }
  // Thrown by the plugin's own top-level code: point at its source line, like a hook failure.
  const where = bundle ? pluginLocation(bundle, (err as { stack?: string } | null)?.stack) : null;
  const at = where ? ` (at ${path.relative(process.cwd(), where) || where})` : '';
  return [{ path: formatPath(['plugins', name, 'use']), message: `the plugin failed to load: ${err instanceof Error ? err.message : String(err)}${at}` }];
}
