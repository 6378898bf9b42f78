import type { Logger } from 'pino';
import type { GatewayRequest, GatewayResponse, HeaderMap, Middleware } from '../chain/types.ts';
import { discardBody } from '../chain/discard-body.ts';
import { errorResponse } from '../gateway.ts';
import { normalizePath } from '../router/normalize-path.ts';
import { PluginFailure, type PluginHost } from './plugin-host.ts';

/** Plugin-visible per-request state lives here in `req.state`, as JSON values shared by all plugins. */
const PLUGIN_STATE = Symbol('isogate.pluginState');
/** Claims set by authentication (the auth issue fills this). */
export const CLAIMS = Symbol('isogate.claims');

interface HookOutput {
  s?: Record<string, unknown>;
  l?: [string, string, unknown][];
  p?: string;
  q?: string;
  h?: [string, string][];
  st?: number;
  rh?: [string, string][];
  r?: { status?: unknown; headers?: unknown; body?: unknown };
}

function pairs(headers: HeaderMap): [string, string][] {
  const out: [string, string][] = [];
  for (const name in headers) {
    const value = headers[name]!;
    if (Array.isArray(value)) for (const v of value) out.push([name, v]);
    else out.push([name, value]);
  }
  return out;
}

const HEADER_NAME = /^[!#$%&'*+.^`|~0-9a-z-]+$/;
const HEADER_VALUE = /^[^\r\n\0]*$/;

function headerMap(list: [string, string][], plugin: string): HeaderMap {
  const out: HeaderMap = {};
  for (const [name, value] of list) {
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) throw new PluginFailure(plugin, 'bad-result', `invalid header ${JSON.stringify(name)}`);
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  return out;
}

function encodeRequest(req: GatewayRequest, state: Record<string, unknown>): Record<string, unknown> {
  return {
    s: state,
    c: req.state[CLAIMS] ?? null,
    rq: { m: req.method, p: req.path, q: req.query, pa: req.params, ip: req.clientIp, rn: req.route.name, h: pairs(req.headers) },
  };
}

function directResponse(r: NonNullable<HookOutput['r']>, plugin: string): GatewayResponse {
  const status = r.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    throw new PluginFailure(plugin, 'bad-result', `a direct response needs a status from 200 to 599, got ${JSON.stringify(status)}`);
  }
  const headers = r.headers && typeof r.headers === 'object' ? headerMap(Object.entries(r.headers as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), String(v)]), plugin) : {};
  let body: string | null = null;
  if (typeof r.body === 'string') body = r.body;
  else if (r.body !== undefined && r.body !== null) {
    body = JSON.stringify(r.body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  return { status, headers, body };
}

/**
 * A user plugin as a chain middleware: `onRequest` before `next`, `onResponse` after, each one
 * JSON crossing into the plugin's isolate. Only the hooks the plugin defines are called. On a
 * failure the policy decides: fail-closed answers a coded 500 (the plugin's message goes to the
 * log, never to the client); fail-open logs and goes on as if the hook had done nothing.
 */
export function createPluginMiddleware(host: PluginHost, instanceName: string, policy: 'fail-closed' | 'fail-open', logger: Logger): Middleware {
  const { hooks, name } = host.manifest;
  const hasRequest = hooks.includes('onRequest');
  const hasResponse = hooks.includes('onResponse');
  const log = logger.child({ plugin: instanceName });

  const emit = (out: HookOutput) => {
    if (!out.l) return;
    for (const [level, message, fields] of out.l) {
      const at = level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : 'info';
      log[at]({ fields }, message);
    }
  };

  const failed = (err: unknown, hook: string): GatewayResponse | null => {
    const kind = err instanceof PluginFailure ? err.kind : 'throw';
    log.error({ hook, kind, plugin: name, error: err instanceof Error ? err.message : String(err), source: host.bundle.entry }, `plugin ${hook} failed (${policy})`);
    return policy === 'fail-open' ? null : errorResponse('PLUGIN_FAILED');
  };

  return (next) =>
    async function userPlugin(req: GatewayRequest): Promise<GatewayResponse> {
      const state = (req.state[PLUGIN_STATE] as Record<string, unknown> | undefined) ?? {};
      if (hasRequest) {
        try {
          const out = JSON.parse(await host.call('onRequest', JSON.stringify(encodeRequest(req, state)))) as HookOutput;
          emit(out);
          if (out.s) req.state[PLUGIN_STATE] = out.s;
          if (out.r) return directResponse(out.r, name);
          if (out.p !== undefined) {
            const normalized = normalizePath(out.p);
            if (!normalized.ok) throw new PluginFailure(name, 'bad-result', `path ${JSON.stringify(out.p)} is not acceptable: ${normalized.reason}`);
            req.path = normalized.path;
          }
          if (out.q !== undefined) req.query = out.q.replace(/^\?/, '').replace(/[#\s]/g, encodeURIComponent);
          if (out.h) req.headers = headerMap(out.h, name);
        } catch (err) {
          const answer = failed(err, 'onRequest');
          if (answer) return answer;
        }
      }
      const res = await next(req);
      if (!hasResponse || res.upgradeSocket) return res;
      try {
        const input = encodeRequest(req, (req.state[PLUGIN_STATE] as Record<string, unknown> | undefined) ?? {});
        input['rs'] = { st: res.status, h: pairs(res.headers) };
        const out = JSON.parse(await host.call('onResponse', JSON.stringify(input))) as HookOutput;
        emit(out);
        if (out.s) req.state[PLUGIN_STATE] = out.s;
        if (typeof out.st === 'number' && Number.isInteger(out.st) && out.st >= 200 && out.st <= 599) res.status = out.st;
        if (out.rh) res.headers = headerMap(out.rh, name);
        return res;
      } catch (err) {
        const answer = failed(err, 'onResponse');
        if (!answer) return res;
        discardBody(res.body);
        return answer;
      }
    };
}
