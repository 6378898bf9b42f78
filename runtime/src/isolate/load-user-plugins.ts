import path from 'node:path';
import type { Logger } from 'pino';
import { SDK_VERSION } from '@isogate/sdk';
import { ConfigError, formatPath, type ConfigIssue } from '../config/config-error.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { bundlePlugin, isPathSpecifier, PluginBuildError, pluginLocation, resolvePluginSource, type PluginBundle } from './bundle-plugin.ts';
import { hostIdentity, PluginHost, PluginOptionsError } from './plugin-host.ts';
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
        // A reload that leaves this instance's plugin as it was keeps its isolate (and the state in
        // it); only the plugins whose code, options or limits changed get a new one.
        const current = previous?.get(name);
        if (current && current.identity === hostIdentity(bundle, JSON.stringify(instance.options ?? {}), instance.limits, instance.fetch)) {
          hosts.set(name, current.retain());
          return;
        }
        const host = await PluginHost.create(name, bundle, instance.options, instance.limits, logger, instance.fetch);
        if (!sdkVersionCompatible(host.manifest.sdkVersion)) {
          host.dispose();
          issues.push({ path: formatPath(['plugins', name, 'use']), message: `plugin "${host.manifest.name}" was built for @isogate/sdk ${String(host.manifest.sdkVersion)}, this gateway runs ${SDK_VERSION}` });
          return;
        }
        hosts.set(name, host);
      } catch (err) {
        if (err instanceof PluginOptionsError) {
          // Paths cross the isolate as strings: an all-digit segment is an array index (`rules[1]`).
          const segments = (p: readonly string[]) => p.map((seg) => (/^(0|[1-9]\d{0,8})$/.test(seg) ? Number(seg) : seg));
          for (const issue of err.issues) issues.push({ path: formatPath(['plugins', name, 'options', ...segments(issue.path)]), message: issue.message });
        } else if (err instanceof PluginBuildError) {
          issues.push({ path: formatPath(['plugins', name, 'use']), message: `${path.relative(process.cwd(), err.location) || err.location}: ${err.message}` });
        } else {
          // Thrown by the plugin's own top-level code: point at its source line, like a hook failure.
          const where = bundle ? pluginLocation(bundle, (err as { stack?: string } | null)?.stack) : null;
          const at = where ? ` (at ${path.relative(process.cwd(), where) || where})` : '';
          issues.push({ path: formatPath(['plugins', name, 'use']), message: `the plugin failed to load: ${err instanceof Error ? err.message : String(err)}${at}` });
        }
      }
    }),
  );
  if (issues.length > 0) {
    for (const host of hosts.values()) host.dispose();
    throw new ConfigError(issues);
  }
  return { hosts, files: [...files] };
}
