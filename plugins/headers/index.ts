import { z } from 'zod';
import type { BuiltinPlugin, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { GatewayRequest, HeaderMap, Middleware } from '../../runtime/src/chain/types.ts';
import { ConfigError, formatPath, type ConfigIssue } from '../../runtime/src/config/config-error.ts';
import { requireAuthBefore } from '../../runtime/src/plugins/require-auth-before.ts';
import { patternParams } from '../../runtime/src/router/router.ts';
import { compileValueTemplate, fillValueTemplate, placeholdersOf, type CompiledValueTemplate, type TemplateValues } from '../../runtime/src/proxy/template.ts';

const headerName = z.string().regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'expected an HTTP header name');
const headerValue = z.string().regex(/^[^\r\n\0]*$/, 'header values cannot contain CR, LF or NUL');
const edits = z
  .strictObject({
    set: z.record(headerName, headerValue).default({}),
    append: z.record(headerName, headerValue).default({}),
    remove: z.array(headerName).default([]),
  })
  .prefault({});

const options = z.strictObject({ request: edits, response: edits });
type HeadersOptions = z.output<typeof options>;

interface CompiledEdits {
  remove: readonly string[];
  set: readonly [string, CompiledValueTemplate][];
  append: readonly [string, CompiledValueTemplate][];
  /** Whether any value reads the request (otherwise values are plain text, filled once). */
  dynamic: boolean;
}

/**
 * Compile one direction's edits. Values are templates: `{claims.sub}`, `{params.id}`, `{query.q}`,
 * `{env.X}` (read at load), `{req.clientIp}`. A claim needs auth before this instance on every
 * route that runs it, a param must be a param of each of those routes: both are load errors with
 * the option's key path, not a header that is quietly empty.
 */
function compileEdits(e: HeadersOptions['request'], direction: 'request' | 'response', ctx: PluginFactoryContext): CompiledEdits | null {
  const issues: ConfigIssue[] = [];
  let dynamic = false;
  const routes = ctx.config.routes.filter((r) => [...ctx.config.middleware, ...r.middleware].includes(ctx.instanceName));
  const compile = (kind: 'set' | 'append') =>
    Object.entries(e[kind]).map(([name, value]): [string, CompiledValueTemplate] => {
      const at = [direction, kind, name];
      const { template, problems } = compileValueTemplate(value);
      for (const message of problems) issues.push({ path: formatPath(['plugins', ctx.instanceName, 'options', ...at]), message });
      for (const p of placeholdersOf(template)) {
        dynamic = true;
        if (p.kind === 'response') issues.push({ path: formatPath(['plugins', ctx.instanceName, 'options', ...at]), message: '{respN…} only exists in an aggregated route\'s backends' });
        if (p.kind === 'claim') requireAuthBefore(ctx, at, `the template {claims.${p.path.join('.')}}`);
        if (p.kind === 'param' || p.kind === 'rest') {
          const param = p.kind === 'param' ? p.name : '*';
          const without = routes.filter((r) => !patternParams(r.path).has(param)).map((r) => JSON.stringify(r.name));
          if (without.length > 0) issues.push({ path: formatPath(['plugins', ctx.instanceName, 'options', ...at]), message: `{${p.kind === 'param' ? `params.${param}` : '*'}} is not a param of route ${without.join(', ')}, which runs "${ctx.instanceName}"` });
        }
      }
      return [name.toLowerCase(), template];
    });
  const set = compile('set');
  const append = compile('append');
  if (issues.length > 0) throw new ConfigError(issues);
  const remove = e.remove.map((k) => k.toLowerCase());
  return set.length === 0 && append.length === 0 && remove.length === 0 ? null : { remove, set, append, dynamic };
}

function valuesOf(req: GatewayRequest): TemplateValues {
  return { params: req.params, claims: req.claims, query: req.query, clientIp: req.clientIp };
}

function apply(headers: HeaderMap, edits: CompiledEdits, values: TemplateValues | null): HeaderMap {
  const out = { ...headers };
  const fill = (t: CompiledValueTemplate) => (values === null ? (t[0] as string | undefined) ?? '' : fillValueTemplate(t, values, false));
  for (const name of edits.remove) delete out[name];
  for (const [name, template] of edits.set) out[name] = fill(template);
  for (const [name, template] of edits.append) {
    const value = fill(template);
    const existing = out[name];
    // set-cookie never joins with commas: each is its own field.
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) out[name] = [...existing, value];
    else out[name] = name === 'set-cookie' ? [existing, value] : `${existing}, ${value}`;
  }
  return out;
}

/**
 * Built-in `headers`: set, append or remove request headers before the upstream and response
 * headers after, with values from templates (`{claims.sub}`, `{params.id}`, `{env.X}`,
 * `{req.clientIp}`). Per route by listing an instance in a route's middleware; per backend of an
 * aggregated route with the backend's own `headers`.
 */
export const headersPlugin: BuiltinPlugin<HeadersOptions> = {
  name: 'headers',
  options,
  create(opts, ctx): Middleware {
    const request = compileEdits(opts.request, 'request', ctx);
    const response = compileEdits(opts.response, 'response', ctx);
    return (next) =>
      async function editHeaders(req) {
        if (request) req.headers = apply(req.headers, request, request.dynamic ? valuesOf(req) : null);
        const res = await next(req);
        if (response) res.headers = apply(res.headers, response, response.dynamic ? valuesOf(req) : null);
        return res;
      };
  },
};
