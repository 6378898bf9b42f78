import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { GatewayRequest, GatewayResponse, Handler, HeaderMap } from '../chain/types.ts';
import type { ResolvedRoute } from '../config/resolved-config.ts';
import { endToEndRequestHeaders, endToEndResponseHeaders } from './hop-by-hop.ts';
import { isConnectFailure, toGatewayError } from './upstream-errors.ts';
import { compileTemplate, fillTemplate } from './path-template.ts';
import { upstreamPath, type UpstreamSet, type UpstreamTarget } from './upstream-set.ts';
import { startUpstream } from '../chain/instruments.ts';

const VIA = '1.1 isogate';

function appendValue(existing: string | string[] | undefined, value: string): string {
  if (existing === undefined) return value;
  return `${Array.isArray(existing) ? existing.join(', ') : existing}, ${value}`;
}

/** Request headers for the upstream: end-to-end fields, X-Forwarded-*, Via, Host. */
export function upstreamRequestHeaders(req: GatewayRequest, route: ResolvedRoute, target: UpstreamTarget): HeaderMap {
  const headers = endToEndRequestHeaders(req.headers);
  const clientHost = req.headers['host'];
  if (req.fromTrustedProxy) {
    headers['x-forwarded-for'] = appendValue(req.headers['x-forwarded-for'], req.remoteAddress);
    headers['x-forwarded-proto'] ??= req.protocol;
    if (headers['x-forwarded-host'] === undefined && typeof clientHost === 'string') headers['x-forwarded-host'] = clientHost;
  } else {
    // Nobody we trust vouches for these: replace whatever the client claimed.
    headers['x-forwarded-for'] = req.remoteAddress;
    headers['x-forwarded-proto'] = req.protocol;
    if (typeof clientHost === 'string') headers['x-forwarded-host'] = clientHost;
    else delete headers['x-forwarded-host'];
    delete headers['forwarded'];
    delete headers['x-real-ip'];
  }
  headers['via'] = appendValue(req.headers['via'], VIA);
  headers['host'] = route.preserveHost && typeof clientHost === 'string' ? clientHost : target.host;
  return headers;
}

function responseFrom(data: Dispatcher.ResponseData): GatewayResponse {
  const headers = endToEndResponseHeaders(data.headers);
  headers['via'] = appendValue(headers['via'], VIA);
  return { status: data.statusCode, headers, body: data.body as Readable };
}

/**
 * The terminal handler of every route: send the request to one of the route's upstreams and
 * stream the answer back. A connection failure marks the upstream down for a while; a request
 * without a body is then retried once on each other upstream (it never reached the first one).
 */
export function createProxyHandler(route: ResolvedRoute, upstreams: UpstreamSet): Handler {
  const { headers: headersTimeout, idle: bodyTimeout } = route.timeout;
  const forwardedPath = forwardedPathOf(route);

  return async function proxyToUpstream(req: GatewayRequest): Promise<GatewayResponse> {
    let tried: Set<UpstreamTarget> | null = null;
    for (;;) {
      const target = upstreams.pick(tried);
      if (target === null) throw new Error('unreachable: no upstream left to try');
      const path = upstreamPath(target, forwardedPath(req), req.params, req.claims);
      const fullPath = req.query === '' ? path : `${path}?${req.query}`;
      const headers = upstreamRequestHeaders(req, route, target);
      const done = req.instruments === null ? null : startUpstream(req, { origin: target.origin, method: req.method, path: fullPath, headers });
      try {
        if (req.upgrade) {
          const data = await target.pool.upgrade({
            path: fullPath,
            method: req.method,
            headers,
            protocol: typeof req.headers['upgrade'] === 'string' ? req.headers['upgrade'] : 'websocket',
            signal: req.signal,
          });
          const responseHeaders = endToEndResponseHeaders(data.headers);
          responseHeaders['connection'] = 'Upgrade';
          responseHeaders['upgrade'] = typeof data.headers['upgrade'] === 'string' ? data.headers['upgrade'] : 'websocket';
          done?.({ status: 101 });
          return { status: 101, headers: responseHeaders, body: null, upgradeSocket: data.socket };
        }
        const data = await target.pool.request({
          path: fullPath,
          method: req.method as Dispatcher.HttpMethod,
          headers,
          body: req.body,
          signal: req.signal,
          headersTimeout,
          bodyTimeout,
        });
        if (target.downUntil !== 0) upstreams.markUp(target);
        done?.({ status: data.statusCode });
        return responseFrom(data);
      } catch (err) {
        done?.({ error: err });
        if (req.signal.aborted) throw err;
        if (isConnectFailure(err)) {
          upstreams.markDown(target);
          if (req.body === null && upstreams.targets.length > 1) {
            (tried ??= new Set()).add(target);
            if (tried.size < upstreams.targets.length) continue;
          }
        }
        throw toGatewayError(err);
      }
    }
  };
}

/**
 * The route's path rewriting, applied to `req.path` at proxy time so that a middleware that
 * changed the path is honoured: `rewrite` replaces it from a template, `stripPrefix` cuts a prefix.
 */
function forwardedPathOf(route: ResolvedRoute): (req: GatewayRequest) => string {
  if (route.rewrite !== null) {
    const template = compileTemplate(route.rewrite);
    return (req) => fillTemplate(template, req.params, req.claims);
  }
  const prefix = route.stripPrefix?.replace(/\/+$/, '');
  if (prefix) {
    return (req) => {
      if (req.path !== prefix && !req.path.startsWith(`${prefix}/`)) return req.path;
      const rest = req.path.slice(prefix.length);
      return rest === '' ? '/' : rest;
    };
  }
  return (req) => req.path;
}
