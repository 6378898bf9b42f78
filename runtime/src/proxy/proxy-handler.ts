import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { UpstreamBody } from './upstream-body.ts';
import { callUpstream, type UpstreamAnswer } from './upstream-call.ts';
import { GatewayError } from '../errors.ts';
import { bufferRequestBody, type BodyBufferBudget, type PreparedBody } from './buffer-request-body.ts';
import type { QueueTimeoutOptions } from './interceptors/queue-timeout.ts';
import { upstreamAcceptedWebSocket } from './websocket-handshake.ts';
import { compileShape, type Shape, type ShapeResult } from './shape/json-shape.ts';
import { isJsonContentType, readJsonAnswer, UnusableAnswer } from './shape/read-json.ts';
import type { GatewayRequest, GatewayResponse, Handler, HeaderMap } from '../chain/types.ts';
import type { ResolvedRoute } from '../config/resolved-config.ts';
import { endToEndRequestHeaders, endToEndResponseHeaders } from './hop-by-hop.ts';
import { toGatewayError, upstreamFailure } from './upstream-errors.ts';
import { backoff, mayRetry, RetryPolicy, UpstreamDeadline } from './retry/retry-policy.ts';
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

function responseFrom(data: UpstreamAnswer): GatewayResponse {
  // llhttp accepts any three-digit status; a client must not be handed one HTTP does not define.
  if (data.statusCode > 599) {
    data.body.discard();
    throw new GatewayError('UPSTREAM_BAD_RESPONSE');
  }
  const headers = endToEndResponseHeaders(data.headers);
  headers['via'] = appendValue(headers['via'], VIA);
  // The body fills `trailers` when it ends; the server sends them on to HTTP/2 clients.
  return { status: data.statusCode, headers, body: data.body, trailers: data.body.trailers };
}

export interface ProxySettings {
  /** `server.limits.bufferBodyBytes`: bodies up to this size are read before the upstream is called (0: never). */
  readonly bufferBodyBytes: number;
  readonly bodyBudget: BodyBufferBudget;
}

/**
 * The terminal handler of every route: send the request to one of the route's upstreams and
 * stream the answer back. A connection failure marks the upstream down for a while; a request
 * whose body is replayable (none, or buffered whole) is then retried once on each other upstream
 * (it never reached the first one). A route with `retry` retries further (see forward()).
 */
export function createProxyHandler(route: ResolvedRoute, upstreams: UpstreamSet, settings: ProxySettings): Handler {
  const { headers: headersTimeout, idle: bodyTimeout, queue: queueTimeout } = route.timeout;
  const forwardedPath = forwardedPathOf(route);
  const bufferBytes = route.requestBuffering ? settings.bufferBodyBytes : 0;
  const shape = route.shape === null ? null : compileShape(route.shape);
  const maxShapedBytes = route.aggregate.maxBackendBytes;
  // One policy (and so one retry budget) per route and routing table.
  const retry = route.retry === null ? null : new RetryPolicy(route.retry);
  // The route's deadline over every attempt; with retries and no `timeout.total`, the time one attempt may wait for headers.
  const deadlineMs = route.timeout.total ?? (retry === null ? null : headersTimeout);

  return async function proxyToUpstream(req: GatewayRequest): Promise<GatewayResponse> {
    let body: PreparedBody | null = null;
    if (req.body !== null && bufferBytes > 0) {
      const declared = req.headers['content-length'];
      body = await bufferRequestBody(req.body, typeof declared === 'string' ? Number(declared) : null, bufferBytes, settings.bodyBudget);
    }
    let res: GatewayResponse;
    try {
      res = await forward(req, body === null ? req.body : body.body);
    } finally {
      body?.release();
    }
    return shape === null ? res : shapeAnswer(res, shape);
  };

  /**
   * A proxied route with `shape`: a 2xx JSON answer is read (bounded), shaped and answered as JSON;
   * anything else (an error, another media type) goes through untouched.
   */
  async function shapeAnswer(res: GatewayResponse, shape: Shape): Promise<GatewayResponse> {
    if (res.status < 200 || res.status > 299 || !isJsonContentType(res.headers['content-type'])) return res;
    // The upstream's answer, straight from forward(): collected without a stream.
    const body = res.body;
    if (!(body instanceof UpstreamBody)) return res;
    let shaped: ShapeResult;
    try {
      shaped = shape(await readJsonAnswer(res.headers, body, maxShapedBytes));
    } catch (err) {
      if (err instanceof UnusableAnswer) throw new GatewayError(err.code, { cause: err });
      throw err;
    }
    if (!shaped.ok) throw new GatewayError('UPSTREAM_BAD_RESPONSE', { cause: new Error(shaped.reason) });
    const headers = { ...res.headers };
    for (const name of ['content-length', 'content-encoding', 'etag', 'content-md5', 'digest']) delete headers[name];
    return { status: res.status, headers, body: JSON.stringify(shaped.value) };
  }

  /**
   * Attempts until one answers: a connect failure fails over at once to each other upstream (the
   * request never left, so any replayable body may go); with `retry`, further attempts after a
   * backoff while the policy, the attempts, the route's deadline and its retry budget allow. Each
   * attempt is an upstream call of its own to the observers and to the origin's breaker.
   */
  async function forward(req: GatewayRequest, body: Readable | Buffer | null): Promise<GatewayResponse> {
    // A streamed body cannot be sent twice; a buffered one (or none) can.
    const replayable = !(body instanceof Readable);
    const repeatable = replayable && RetryPolicy.repeatable(req.method, body !== null);
    retry?.budget.deposit();
    const deadline = deadlineMs === null || req.upgrade ? null : new UpstreamDeadline(req.signal, deadlineMs);
    const signal = deadline?.signal ?? req.signal;
    let tried: Set<UpstreamTarget> | null = null;
    let attempt = 0;
    let retrying = false;
    try {
      for (;;) {
        const target = retrying ? (upstreams.pick(tried, Date.now(), false) ?? upstreams.pick(null, Date.now(), false)!) : (upstreams.pick(tried) ?? upstreams.pick(null)!);
        attempt++;
        retrying = false;
        const path = upstreamPath(target, forwardedPath(req), req.params, req.claims);
        const fullPath = req.query === '' ? path : `${path}?${req.query}`;
        const headers = upstreamRequestHeaders(req, route, target);
        // A shaped answer is parsed here: ask for it unencoded.
        if (shape !== null) headers['accept-encoding'] = 'identity';
        const done = req.instruments === null ? null : startUpstream(req, { origin: target.origin, method: req.method, path: fullPath, headers });
        let data: UpstreamAnswer;
        try {
          if (req.upgrade) return await upgrade(req, target, fullPath, headers, done);
          data = await callUpstream(target.pool, { path: fullPath, method: req.method as Dispatcher.HttpMethod, headers, body, headersTimeout, bodyTimeout, queueTimeout } as Dispatcher.DispatchOptions & QueueTimeoutOptions, signal);
        } catch (err) {
          done?.({ error: err });
          if (req.signal.aborted) throw err;
          const failure = upstreamFailure(err, body);
          if (failure === 'connect-failure') {
            upstreams.markDown(target);
            if (replayable && upstreams.targets.length > 1) {
              (tried ??= new Set()).add(target);
              if (tried.size < upstreams.targets.length) continue;
            }
          }
          if (retry !== null && replayable && attempt < retry.attempts && retry.retriesFailure(failure, repeatable)) {
            const wait = retry.delay(attempt);
            if (mayRetry(retry, deadline, wait)) {
              (tried ??= new Set()).add(target);
              retrying = true;
              await backoff(wait, signal);
              continue;
            }
          }
          throw toGatewayError(err);
        }
        if (target.downUntil !== 0) upstreams.markUp(target);
        done?.({ status: data.statusCode });
        // Nothing of this answer has gone to the client yet: it may still be replaced.
        if (retry !== null && attempt < retry.attempts && retry.retriesStatus(data.statusCode, repeatable)) {
          const wait = retry.delay(attempt);
          if (mayRetry(retry, deadline, wait)) {
            // Read a small error body to its end so that its connection is kept.
            data.body.drain();
            (tried ??= new Set()).add(target);
            retrying = true;
            await backoff(wait, signal);
            continue;
          }
        }
        return responseFrom(data);
      }
    } finally {
      // The deadline covers the exchange up to the response headers; the body has the idle timeout.
      deadline?.stop();
    }
  }

  async function upgrade(req: GatewayRequest, target: UpstreamTarget, path: string, headers: HeaderMap, done: ((outcome: { status: number }) => void) | null): Promise<GatewayResponse> {
    const data = await target.pool.upgrade({ path, method: req.method, headers, protocol: 'websocket', signal: req.signal, queueTimeout } as Dispatcher.UpgradeOptions & QueueTimeoutOptions);
    if (!upstreamAcceptedWebSocket(req.headers, data.headers)) {
      // Not the WebSocket handshake the client asked for (h2c, or a 101 to anything): never spliced.
      data.socket.destroy();
      throw new GatewayError('UPSTREAM_BAD_RESPONSE');
    }
    const responseHeaders = endToEndResponseHeaders(data.headers);
    responseHeaders['connection'] = 'Upgrade';
    responseHeaders['upgrade'] = 'websocket';
    done?.({ status: 101 });
    return { status: 101, headers: responseHeaders, body: null, upgradeSocket: data.socket };
  }
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
