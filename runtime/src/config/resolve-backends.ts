import { compileValueTemplate, placeholdersOf, type Placeholder } from '../proxy/template.ts';
import { knownTopLevelFields } from '../proxy/shape/json-shape.ts';
import { formatPath, type ConfigIssue } from './config-error.ts';
import type { ResolvedBackend, ResolvedShape } from './resolved-config.ts';
import type { ParsedRoute } from './schema.ts';

type ParsedBackend = NonNullable<ParsedRoute['backends']>[number];

export interface BackendContext {
  readonly routeIndex: number;
  /** Params of the route path (`id`, and `*` for a wildcard). */
  readonly params: ReadonlySet<string>;
  /** Whether an auth instance runs on the route (claims can exist). */
  readonly authenticated: boolean;
  readonly issues: ConfigIssue[];
  /** Collisions and other things worth knowing that do not stop the config. */
  readonly notes: ConfigIssue[];
}

/** Check one placeholder of a backend's URL or header: it must name something that exists before the call. */
function checkPlaceholder(p: Placeholder, at: PropertyKey[], backendIndex: number, ctx: BackendContext): string | null {
  switch (p.kind) {
    case 'param':
      return ctx.params.has(p.name) ? null : `{${p.name}} is not a param of the route path (available: ${[...ctx.params].map((n) => `{${n}}`).join(', ') || 'none'})`;
    case 'rest':
      return ctx.params.has('*') ? null : '{*} needs a route path ending in /*';
    case 'claim':
      return ctx.authenticated ? null : `{claims.${p.path.join('.')}} needs an auth plugin in the route's middleware (global or its own)`;
    case 'response':
      if (p.index >= backendIndex) return `{resp${p.index}.${p.path.join('.')}} can only name an earlier backend (this is backends[${backendIndex}])`;
      return null;
    default:
      void at;
      return null;
  }
}

/**
 * Resolve an aggregated route's backends: defaults, template checks (route params, claims only
 * after auth, `{respN…}` only of earlier backends, which makes this one wait for them), and field
 * collisions between backends whose answers are merged at the top level. A collision is decided
 * by one rule, said in the note: the backend listed later wins.
 */
export function resolveBackends(backends: readonly ParsedBackend[], defaultTimeout: number, ctx: BackendContext): ResolvedBackend[] {
  const resolved = backends.map((backend, i): ResolvedBackend => {
    const at = ['routes', ctx.routeIndex, 'backends', i];
    const after = new Set<number>();
    const check = (template: string, where: PropertyKey[]) => {
      const compiled = compileValueTemplate(template);
      for (const problem of compiled.problems) ctx.issues.push({ path: formatPath(where), message: problem });
      for (const p of placeholdersOf(compiled.template)) {
        const problem = checkPlaceholder(p, where, i, ctx);
        if (problem) ctx.issues.push({ path: formatPath(where), message: problem });
        else if (p.kind === 'response') after.add(p.index);
      }
    };
    check(backend.url, [...at, 'url']);
    // The host comes from the config only: a request must never choose where the gateway connects.
    const origin = /^https?:\/\/[^/?#]*/i.exec(backend.url)?.[0] ?? '';
    if (/\{(?!env\.)/.test(origin)) ctx.issues.push({ path: formatPath([...at, 'url']), message: 'the scheme and host of a backend URL cannot hold placeholders other than {env.NAME}' });
    for (const [name, value] of Object.entries(backend.headers)) check(value, [...at, 'headers', name]);
    if (backend.allow && backend.deny) ctx.issues.push({ path: formatPath([...at, 'deny']), message: 'use either allow or deny, not both' });
    return {
      url: backend.url,
      method: backend.method,
      headers: Object.fromEntries(Object.entries(backend.headers).map(([n, v]) => [n.toLowerCase(), v])),
      timeout: backend.timeout ?? defaultTimeout,
      after: [...after].sort((a, b) => a - b),
      ...shapeOf(backend),
    };
  });
  reportCollisions(resolved, ctx);
  return resolved;
}

export function shapeOf(options: ResolvedShape): ResolvedShape {
  const shape: { -readonly [K in keyof ResolvedShape]: ResolvedShape[K] } = {};
  for (const key of ['target', 'allow', 'deny', 'mapping', 'group', 'collection'] as const) {
    if (options[key] !== undefined) (shape as Record<string, unknown>)[key] = options[key];
  }
  return shape;
}

function reportCollisions(backends: readonly ResolvedBackend[], ctx: BackendContext): void {
  const owners = new Map<string, number>();
  const open: number[] = [];
  backends.forEach((backend, i) => {
    const fields = knownTopLevelFields(backend);
    if (fields === null) {
      open.push(i);
      return;
    }
    for (const field of fields) {
      const earlier = owners.get(field);
      if (earlier !== undefined) {
        ctx.notes.push({
          path: formatPath(['routes', ctx.routeIndex, 'backends', i]),
          message: `field "${field}" also comes from backends[${earlier}]: the backend listed later wins (backends[${i}])`,
        });
      }
      owners.set(field, i);
    }
  });
  if (open.length > 1 || (open.length === 1 && owners.size > 0)) {
    ctx.notes.push({
      path: formatPath(['routes', ctx.routeIndex, 'backends']),
      message: `backends ${open.map((i) => `[${i}]`).join(', ')} merge every field they answer at the top level, so fields may collide: the backend listed later wins (set group or allow to make the fields known)`,
    });
  }
}
