import path from 'node:path';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { SourceChange } from './config-watcher.ts';

/**
 * Server settings that a reload applies: read from the serving table on each request (or at
 * shutdown). Every other server setting is read once when the listener and the upstream pools are
 * created, and applies at the next start. A setting missing here is reported as needing a
 * restart, which is the safe mistake.
 */
const APPLIED_ON_RELOAD = [
  'trustedProxies',
  'underscoreHeaders',
  'health.liveness',
  'health.readiness',
  'health.requireUpstreams',
  'limits.maxUrlLength',
  'limits.maxBodyBytes',
  'limits.bufferBodyBytes',
  'timeouts.shutdown',
];

/** What one reload changed, for its log line. Names only: never option values or secrets. */
export interface ReloadSummary {
  /** The files whose change triggered it, relative to the working directory. */
  readonly files: readonly string[];
  /** Those of `files` that are gone. */
  readonly deleted: readonly string[];
  readonly routes: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] };
  readonly globalMiddlewareChanged: boolean;
  /** Plugin instances: `rebuilt` got a new instance (a user plugin: a new isolate), `kept` did not change. */
  readonly plugins: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly rebuilt: readonly string[]; readonly kept: readonly string[] };
  /** `server.*` settings that changed and apply now. */
  readonly serverApplied: readonly string[];
  /** `server.*` settings that changed and apply only at the next start. */
  readonly restartNeeded: readonly string[];
}

/** Leaves of a plain-data object as dotted keys (arrays are one leaf). */
function leaves(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) leaves(inner, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out.set(prefix, JSON.stringify(value));
  }
  return out;
}

/** Routes by name; a name used twice (the same path for other methods) gets `#2`, `#3`… */
function routesByName(config: ResolvedConfig): Map<string, string> {
  const byName = new Map<string, string>();
  for (const route of config.routes) {
    let key = route.name;
    for (let n = 2; byName.has(key); n++) key = `${route.name}#${n}`;
    byName.set(key, JSON.stringify(route));
  }
  return byName;
}

function relative(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

/**
 * Compare the config serving before a reload with the one that replaced it. `reused` names the
 * user plugin instances that kept their isolate (same code, options and limits).
 */
export function summarizeReload(previous: ResolvedConfig, next: ResolvedConfig, reused: ReadonlySet<string>, changes: readonly SourceChange[]): ReloadSummary {
  const before = routesByName(previous);
  const after = routesByName(next);
  const routes = {
    added: [...after.keys()].filter((name) => !before.has(name)),
    removed: [...before.keys()].filter((name) => !after.has(name)),
    changed: [...after.keys()].filter((name) => before.has(name) && before.get(name) !== after.get(name)),
  };

  const plugins = { added: [] as string[], removed: [] as string[], rebuilt: [] as string[], kept: [] as string[] };
  for (const name of Object.keys(previous.plugins)) if (!(name in next.plugins)) plugins.removed.push(name);
  for (const [name, instance] of Object.entries(next.plugins)) {
    const old = previous.plugins[name];
    if (!old) plugins.added.push(name);
    else if (instance.kind === 'user') (reused.has(name) ? plugins.kept : plugins.rebuilt).push(name);
    else (JSON.stringify(old) === JSON.stringify(instance) ? plugins.kept : plugins.rebuilt).push(name);
  }

  const serverBefore = leaves(previous.server);
  const serverAfter = leaves(next.server);
  const serverChanged = [...new Set([...serverBefore.keys(), ...serverAfter.keys()])].filter((key) => serverBefore.get(key) !== serverAfter.get(key));
  return {
    files: changes.map((c) => relative(c.file)),
    deleted: changes.filter((c) => c.removed).map((c) => relative(c.file)),
    routes,
    globalMiddlewareChanged: JSON.stringify(previous.middleware) !== JSON.stringify(next.middleware),
    plugins,
    serverApplied: serverChanged.filter((key) => APPLIED_ON_RELOAD.includes(key)).map((key) => `server.${key}`),
    restartNeeded: serverChanged.filter((key) => !APPLIED_ON_RELOAD.includes(key)).map((key) => `server.${key}`),
  };
}

/**
 * The fields of the `config reloaded` line: the files and only the groups that are not empty, so
 * that the line `isogate dev` prints stays short (`{"files":["plugins/tag.ts"],"pluginsRebuilt":["tag"],
 * "pluginsKept":["auth"]}`). `nothingChanged`: the files changed, but not what is served (a comment).
 */
export function reloadLogFields(summary: ReloadSummary): Record<string, unknown> {
  const fields: Record<string, unknown> = { files: summary.files };
  const add = (key: string, names: readonly string[]) => {
    if (names.length > 0) fields[key] = names;
  };
  add('deleted', summary.deleted);
  add('routesAdded', summary.routes.added);
  add('routesRemoved', summary.routes.removed);
  add('routesChanged', summary.routes.changed);
  if (summary.globalMiddlewareChanged) fields['globalMiddlewareChanged'] = true;
  add('pluginsAdded', summary.plugins.added);
  add('pluginsRemoved', summary.plugins.removed);
  add('pluginsRebuilt', summary.plugins.rebuilt);
  add('pluginsKept', summary.plugins.kept);
  add('serverApplied', summary.serverApplied);
  add('restartNeeded', summary.restartNeeded);
  const served = summary.routes.added.length + summary.routes.removed.length + summary.routes.changed.length + summary.plugins.added.length + summary.plugins.removed.length + summary.plugins.rebuilt.length + summary.serverApplied.length + summary.restartNeeded.length;
  if (served === 0 && !summary.globalMiddlewareChanged) fields['nothingChanged'] = true;
  return fields;
}

/** The files a reload is for, relative to the working directory (for the lines of a failed reload). */
export function changedFiles(changes: readonly SourceChange[]): string[] {
  return changes.map((c) => relative(c.file));
}
