import path from 'node:path';
import type { z } from 'zod';
import { patternKey, patternParams } from '../router/router.ts';
import { CLAIM_PLACEHOLDER } from '../proxy/path-template.ts';
import type { BuiltinPluginRegistry } from '../plugins/builtin-plugin.ts';
import { DEFAULT_PLUGIN_LIMITS } from '../isolate/plugin-host.ts';
import { ConfigError, formatPath, type ConfigIssue } from './config-error.ts';
import { configSchema, type ParsedConfig, type ParsedRoute } from './schema.ts';
import type { ResolvedConfig, ResolvedPluginInstance, ResolvedRoute } from './resolved-config.ts';
import { resolveBackends, shapeOf } from './resolve-backends.ts';
import { originPolicies } from '../proxy/origin-policy.ts';

/**
 * parse → validate → resolve defaults → freeze. Returns the frozen resolved config or throws a
 * ConfigError listing every problem with its key path.
 */
export function resolveConfig(input: unknown, plugins: BuiltinPluginRegistry, file?: string): ResolvedConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(zodIssues(parsed.error.issues), file);

  const config = parsed.data;
  const issues: ConfigIssue[] = [];
  const pluginOptions = checkPlugins(config, plugins, issues);
  checkMiddlewareNames(config, issues);
  const authenticates = (name: string) => config.plugins[name]?.use === 'auth' && config.plugins[name].kind !== 'user';
  const notes: ConfigIssue[] = [];
  const routes = config.routes.map((route, i) => resolveRoute(route, i, issues, notes, config.middleware.some(authenticates) || route.middleware.some(authenticates)));
  checkIndistinguishableRoutes(routes, issues);
  // Once each route's upstreams are known good: breakers and health checks are per origin.
  if (issues.length === 0) originPolicies(routes, issues);
  if (issues.length > 0) throw new ConfigError(issues, file);

  const resolved: ResolvedConfig = {
    server: config.server.tls ? { ...config.server, tls: { ...config.server.tls, cert: pemSource(config.server.tls.cert, file), key: pemSource(config.server.tls.key, file) } } : config.server,
    plugins: Object.fromEntries(
      Object.entries(config.plugins).map(([name, p]): [string, ResolvedPluginInstance] => [
        name,
        p.kind !== 'user' && plugins.has(p.use)
          ? { kind: 'builtin', use: p.use, options: pluginOptions.get(name) }
          : {
              kind: 'user',
              use: p.use,
              options: p.options ?? {},
              failurePolicy: p.failurePolicy ?? 'fail-closed',
              isolation: p.isolation ?? 'own',
              limits: { memoryMb: p.limits?.memoryMb ?? DEFAULT_PLUGIN_LIMITS.memoryMb, cpuMs: p.limits?.cpuMs ?? DEFAULT_PLUGIN_LIMITS.cpuMs, wallMs: p.limits?.wallMs ?? DEFAULT_PLUGIN_LIMITS.wallMs },
              fetch: p.fetch
                ? { allow: p.fetch.allow.map((u) => new URL(u).origin), timeoutMs: p.fetch.timeoutMs ?? 5_000, maxResponseBytes: p.fetch.maxResponseBytes ?? 1024 * 1024 }
                : null,
            },
      ]),
    ),
    middleware: config.middleware,
    routes,
    notes,
  };
  return deepFreeze(resolved);
}

/** PEM text stays as it is; a file path is made absolute against the config file's directory (read by the server, which watches it). */
function pemSource(value: string, file: string | undefined): string {
  if (value.includes('-----BEGIN')) return value;
  return path.resolve(file ? path.dirname(file) : process.cwd(), value);
}

function zodIssues(issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: formatPath([...issue.path, key]), message: 'unknown key' });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0 && issue.message === 'Invalid input') {
      // zod reports every branch of a union; the first branch's issues are the most useful.
      out.push(...zodIssues(issue.errors[0]!.map((i) => ({ ...i, path: [...issue.path, ...i.path] }))));
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}

function checkPlugins(config: ParsedConfig, registry: BuiltinPluginRegistry, issues: ConfigIssue[]): Map<string, unknown> {
  const options = new Map<string, unknown>();
  for (const [name, instance] of Object.entries(config.plugins)) {
    const plugin = instance.kind === 'user' ? undefined : registry.get(instance.use);
    if (!plugin) {
      // Not a built-in: a user plugin (path or npm package), resolved, bundled and validated in
      // its isolate when the config loads (load-user-plugins.ts). `kind: 'user'` (usePlugin) makes
      // it one even when a package is named like a built-in.
      continue;
    }
    for (const key of ['failurePolicy', 'limits', 'fetch', 'isolation'] as const) {
      if (instance[key] !== undefined) issues.push({ path: formatPath(['plugins', name, key]), message: `built-in plugins run natively: ${key} applies to user plugins only` });
    }
    const result = plugin.options.safeParse(instance.options ?? {});
    if (!result.success) {
      for (const issue of zodIssues(result.error.issues)) {
        issues.push({ path: formatPath(['plugins', name, 'options']) + (issue.path ? `.${issue.path}`.replace('.[', '[') : ''), message: issue.message });
      }
    } else options.set(name, result.data);
  }
  return options;
}

function checkMiddlewareNames(config: ParsedConfig, issues: ConfigIssue[]): void {
  const check = (names: readonly string[], at: PropertyKey[]) => {
    const seen = new Set<string>();
    names.forEach((name, i) => {
      if (!Object.hasOwn(config.plugins, name)) {
        issues.push({ path: formatPath([...at, i]), message: `no plugin instance named "${name}" (declare it under plugins)` });
      } else if (seen.has(name)) {
        issues.push({ path: formatPath([...at, i]), message: `"${name}" is listed twice` });
      }
      seen.add(name);
    });
  };
  check(config.middleware, ['middleware']);
  config.routes.forEach((route, i) => {
    check(route.middleware, ['routes', i, 'middleware']);
    for (const [j, name] of route.middleware.entries()) {
      if (config.middleware.includes(name)) {
        issues.push({ path: formatPath(['routes', i, 'middleware', j]), message: `"${name}" already runs globally` });
      }
    }
  });
}

const PLACEHOLDER = /\{([^}]*)\}/g;

function checkTemplate(template: string, params: Set<string>, at: PropertyKey[], issues: ConfigIssue[], authenticated: boolean): void {
  for (const [, name] of template.matchAll(PLACEHOLDER)) {
    if (name!.startsWith('claims.')) {
      if (!CLAIM_PLACEHOLDER.test(name!)) issues.push({ path: formatPath(at), message: `placeholder {${name}} is not a claim path like {claims.sub} or {claims.org.id}` });
      else if (!authenticated) issues.push({ path: formatPath(at), message: `placeholder {${name}} needs an auth plugin in the route's middleware (global or its own)` });
      continue;
    }
    if (!params.has(name!)) {
      const available = [...params].map((p) => `{${p}}`).join(', ') || 'none';
      issues.push({ path: formatPath(at), message: `placeholder {${name}} is not a param of the route path (available: ${available})` });
    }
  }
}

function resolveRoute(route: ParsedRoute, index: number, issues: ConfigIssue[], notes: ConfigIssue[], authenticated: boolean): ResolvedRoute {
  const params = patternParams(route.path);
  if ((route.upstream === undefined) === (route.backends === undefined)) {
    issues.push({ path: formatPath(['routes', index]), message: 'a route needs either upstream (proxied) or backends (aggregated), not both and not neither' });
  }
  const upstreams = route.upstream === undefined ? [] : typeof route.upstream === 'string' ? [route.upstream] : route.upstream;
  const backends = route.backends ? resolveBackends(route.backends, route.timeout.headers, { routeIndex: index, params, authenticated, issues, notes }) : null;
  if (backends !== null) {
    for (const key of ['stripPrefix', 'rewrite', 'shape'] as const) {
      if (route[key] !== undefined) issues.push({ path: formatPath(['routes', index, key]), message: `${key} applies to a proxied route (upstream); shape each backend instead` });
    }
    if (route.websocket) issues.push({ path: formatPath(['routes', index, 'websocket']), message: 'an aggregated route cannot pass WebSockets' });
  }
  if (route.shape?.allow && route.shape.deny) issues.push({ path: formatPath(['routes', index, 'shape', 'deny']), message: 'use either allow or deny, not both' });
  upstreams.forEach((url, j) => {
    const at: PropertyKey[] = typeof route.upstream === 'string' ? ['routes', index, 'upstream'] : ['routes', index, 'upstream', j];
    checkTemplate(decodeURI(new URL(url).pathname), params, at, issues, authenticated);
  });
  if (route.rewrite) checkTemplate(route.rewrite, params, ['routes', index, 'rewrite'], issues, authenticated);
  if (route.retry && route.retry.backoff.base > route.retry.backoff.max) {
    issues.push({ path: formatPath(['routes', index, 'retry', 'backoff', 'max']), message: `must not be below backoff.base (${route.retry.backoff.base} ms)` });
  }
  if (route.rewrite && route.stripPrefix) {
    issues.push({ path: formatPath(['routes', index, 'stripPrefix']), message: 'use either stripPrefix or rewrite, not both' });
  }
  if (route.stripPrefix && !route.path.startsWith(route.stripPrefix)) {
    issues.push({ path: formatPath(['routes', index, 'stripPrefix']), message: `"${route.stripPrefix}" is not a prefix of the route path "${route.path}"` });
  }
  return {
    name: route.name ?? route.path,
    path: route.path,
    methods: route.methods ? [...new Set(route.methods)] : null,
    upstreams,
    backends,
    aggregate: route.aggregate,
    shape: route.shape ? shapeOf(route.shape) : null,
    stripPrefix: route.stripPrefix ?? null,
    rewrite: route.rewrite ?? null,
    preserveHost: route.preserveHost,
    websocket: route.websocket,
    http2: route.http2,
    requestBuffering: route.requestBuffering,
    timeout: { ...route.timeout, total: route.timeout.total ?? null },
    circuitBreaker: route.circuitBreaker ? { ...route.circuitBreaker, errorRate: route.circuitBreaker.errorRate ?? null } : null,
    healthCheck: route.healthCheck ?? null,
    retry: route.retry ?? null,
    middleware: route.middleware,
  };
}

function checkIndistinguishableRoutes(routes: readonly ResolvedRoute[], issues: ConfigIssue[]): void {
  const byKey = new Map<string, number[]>();
  routes.forEach((route, i) => {
    const key = patternKey(route.path);
    const earlier = byKey.get(key) ?? [];
    for (const j of earlier) {
      const other = routes[j]!;
      const overlap = route.methods === null || other.methods === null || route.methods.some((m) => other.methods!.includes(m));
      if (overlap) {
        issues.push({ path: formatPath(['routes', i, 'path']), message: `"${route.path}" can never be told apart from routes[${j}] ("${other.path}") for the same methods` });
      }
    }
    byKey.set(key, [...earlier, i]);
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
