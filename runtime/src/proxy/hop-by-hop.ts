import type { HeaderMap } from '../chain/types.ts';

/**
 * RFC 9110 §7.6.1: fields that describe one connection and must not be forwarded, plus `host`
 * (set per upstream) and `expect` (Node answers 100-continue itself; undici refuses to send it).
 */
const REQUEST_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'host', 'expect', 'http2-settings',
]);

const RESPONSE_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate',
]);

/** Dropped in both directions whatever `Connection` says. */
const ALWAYS_DROP = new Set([...REQUEST_DROP].filter((name) => RESPONSE_DROP.has(name)));

/** Names listed in a `Connection` header are hop-by-hop too. */
function connectionNamed(headers: HeaderMap): Set<string> | null {
  const value = headers['connection'];
  if (value === undefined) return null;
  // Usually one option (`keep-alive`, `close`) naming a field that is absent or dropped anyway:
  // nothing more to drop, so no Set per message.
  if (typeof value === 'string' && !value.includes(',')) {
    const name = value.trim().toLowerCase();
    if (headers[name] === undefined || ALWAYS_DROP.has(name)) return null;
  }
  const names = new Set<string>();
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const name = part.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/**
 * On arrival, before any middleware: remove the fields the client's `Connection` names (they
 * belong to the client's hop). Done here and not at proxy time, so a client cannot nominate away
 * a header the gateway itself sets later (`Connection: x-user-id` must not strip the identity auth
 * propagates). The fixed hop-by-hop fields stay until the proxy drops them (`upgrade` is still
 * needed to forward a WebSocket handshake).
 */
export function dropConnectionNominated(headers: HeaderMap): void {
  const named = connectionNamed(headers);
  if (named === null) return;
  for (const name of named) if (!REQUEST_DROP.has(name)) delete headers[name];
}

/**
 * A copy of `headers` without hop-by-hop fields, ready to send upstream. The fields the client's
 * `Connection` named were removed on arrival (dropConnectionNominated).
 */
export function endToEndRequestHeaders(headers: HeaderMap): HeaderMap {
  const out: HeaderMap = {};
  for (const name in headers) {
    if (REQUEST_DROP.has(name)) continue;
    out[name] = headers[name]!;
  }
  // `TE: trailers` is the one TE value that means something end to end: the client can take
  // trailers (gRPC requires it of every request), and an HTTP/2 hop carries it on (RFC 9113 §8.2.2).
  if (typeof headers['te'] === 'string' && headers['te'].trim().toLowerCase() === 'trailers') out['te'] = 'trailers';
  return out;
}

/** A copy of upstream response headers without hop-by-hop fields, ready to send to the client. */
export function endToEndResponseHeaders(headers: Record<string, string | string[] | undefined>): HeaderMap {
  const named = connectionNamed(headers as HeaderMap);
  const out: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || RESPONSE_DROP.has(name) || (named !== null && named.has(name))) continue;
    out[name] = value;
  }
  return out;
}
