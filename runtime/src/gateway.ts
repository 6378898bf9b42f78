import { Readable } from 'node:stream';
import { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Logger } from 'pino';
import type { GatewayRequest, GatewayResponse, HeaderMap } from './chain/types.ts';
import type { ResolvedConfig } from './config/resolved-config.ts';
import { GatewayError, JSON_HEADERS, errorResponse, type ErrorKey } from './errors.ts';
import { silentLogger } from './logging/logger.ts';
import { builtinPlugins } from './plugins/builtins.ts';
import type { BuiltinPluginRegistry } from './plugins/builtin-plugin.ts';
import { limitedRequestBody } from './proxy/request-body.ts';
import { streamOrBytes } from './proxy/upstream-body.ts';
import { dropConnectionNominated } from './proxy/hop-by-hop.ts';
import { UpstreamPools } from './proxy/upstream-pools.ts';
import type { CircuitChange } from './proxy/breaker/circuit-breaker.ts';
import { BodyBufferBudget } from './proxy/buffer-request-body.ts';
import { isWebSocketHandshake, isWebSocketUpgrade } from './proxy/websocket-handshake.ts';
import { normalizePath, splitTarget } from './router/normalize-path.ts';
import { RoutingTable } from './routing-table.ts';
import type { PluginHost } from './isolate/plugin-host.ts';
import { GatewayServices } from './plugins/gateway-services.ts';
import { sentNotifier, type SentOutcome } from './chain/instruments.ts';
import type { UnroutedRequest } from './plugins/builtin-plugin.ts';

/** A request as it arrives from any transport (node:http, fetch), before normalisation. */
export interface IncomingRequest {
  method: string;
  /** The raw request-target (`/a/b?x`, or absolute-form). */
  target: string;
  headers: HeaderMap;
  body: Readable | null;
  remoteAddress: string;
  protocol: 'http' | 'https';
  signal: AbortSignal;
  upgrade: boolean;
}

export interface GatewayOptions {
  logger?: Logger;
  plugins?: BuiltinPluginRegistry;
  /** Loaded user plugin isolates of `config` (from loadConfigFile); the gateway owns them from now on. */
  userPlugins?: ReadonlyMap<string, PluginHost>;
}

export { errorResponse } from './errors.ts';

/**
 * The gateway, independent of sockets: `handle()` takes a raw request through normalisation,
 * health endpoints, routing and the route's chain. The node:http server and `fetch()` are thin
 * adapters over it, so tests can run the whole pipeline without a port.
 */
export class Gateway {
  readonly logger: Logger;
  readonly plugins: BuiltinPluginRegistry;
  readonly #pools: UpstreamPools;
  /** Bytes of request bodies held in memory at once, across every route and reload. */
  readonly #bodyBudget = new BodyBufferBudget();
  /** What built-in plugins keep across reloads, and the gateway-wide events they listen to. */
  readonly services = new GatewayServices();
  #table: RoutingTable;
  #draining = false;
  #closed = false;

  constructor(config: ResolvedConfig, options: GatewayOptions = {}) {
    this.logger = options.logger ?? silentLogger();
    this.plugins = options.plugins ?? builtinPlugins;
    // Like the other server limits, read once: pools outlive reloads.
    this.#pools = new UpstreamPools({ connectionsPerOrigin: config.server.limits.upstreamConnections, onCircuitChange: (change) => this.#circuitChanged(change) });
    this.#table = this.#build(config, options.userPlugins);
  }

  get config(): ResolvedConfig {
    return this.#table.config;
  }

  get table(): RoutingTable {
    return this.#table;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Swap in a new config atomically. Requests already running finish on the old table; its
   * pools and plugin instances are released once they have.
   */
  reload(config: ResolvedConfig, userPlugins?: ReadonlyMap<string, PluginHost>): void {
    let next: RoutingTable;
    try {
      next = this.#build(config, userPlugins);
    } catch (err) {
      this.services.emit({ type: 'config-reload', result: 'failure' });
      throw err;
    }
    const previous = this.#table;
    this.#table = next;
    this.services.emit({ type: 'config-reload', result: 'success' });
    previous.retire().catch((err: unknown) => this.logger.error({ err }, 'retiring the previous routing table failed'));
  }

  /** A reload that failed before reaching the gateway (a config or plugin build error): counted, nothing changes. */
  reloadFailed(): void {
    this.services.emit({ type: 'config-reload', result: 'failure' });
  }

  /** Readiness turns 503; the server adapter closes connections after their current response. */
  startDraining(): void {
    this.#draining = true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#draining = true;
    await this.#table.retire();
    await this.#pools.closeAll();
    await this.services.close();
  }

  /** An origin's circuit changed state: logged, and told to the observers of gateway events (metrics). */
  #circuitChanged(change: CircuitChange): void {
    if (change.from !== null) {
      const fields = { upstream: change.upstream, from: change.from, to: change.to, reason: change.reason, ...(change.detail === undefined ? {} : { detail: change.detail }) };
      if (change.to === 'open') this.logger.warn(fields, 'upstream circuit opened: calls to it fail fast with 503');
      else this.logger.info(fields, `upstream circuit ${change.to}`);
    }
    this.services.emit({ type: 'upstream-circuit', upstream: change.upstream, state: change.to, previous: change.from });
  }

  #build(config: ResolvedConfig, userPlugins?: ReadonlyMap<string, PluginHost>): RoutingTable {
    return new RoutingTable(config, { plugins: this.plugins, pools: this.#pools, bodyBudget: this.#bodyBudget, logger: this.logger, services: this.services, userPlugins });
  }

  /**
   * Whether the transport should treat this request as an upgrade (node:http's
   * `shouldUpgradeCallback`): only a WebSocket handshake (`GET`, `Upgrade: websocket`) on a route
   * that allows WebSockets. Every other request carrying `Upgrade` (h2c, a made-up token, a
   * WebSocket on another route) is handled as a plain request, its Upgrade removed: an upgrade
   * the gateway passed through would be a tunnel past routing, middleware and auth.
   */
  acceptsUpgrade(method: string, target: string, headers: HeaderMap): boolean {
    if (method !== 'GET' || !isWebSocketUpgrade(headers)) return false;
    const split = splitTarget(target);
    if (!split.ok) return false;
    const normalized = normalizePath(split.path);
    if (!normalized.ok) return false;
    const match = this.#table.router.match(method, normalized.path);
    return match.kind === 'found' && match.value.route.websocket;
  }

  /** The client's address as the gateway judges it: from X-Forwarded-For only when the peer is a trusted proxy. */
  clientIp(remoteAddress: string, headers: HeaderMap): string {
    const proxies = this.#table.trustedProxies;
    return proxies.isTrusted(remoteAddress) ? proxies.clientIp(remoteAddress, headers['x-forwarded-for']) : remoteAddress;
  }

  /**
   * A refusal the transport decided before the gateway could route (CONNECT, an unsupported HTTP
   * version or expectation, too many requests in flight from one client): the coded answer, with
   * the observers of the global middleware told, like any answer given before routing.
   */
  refuse(incoming: IncomingRequest, key: ErrorKey, headers: Readonly<Record<string, string>> = {}): GatewayResponse {
    return this.#unrouted(this.#table, incoming, errorResponse(key, headers));
  }

  /**
   * Answered before any route matched (404, 405, a bad path, a limit): the observers in the
   * global middleware still hear of it, so a scan of unknown paths is counted and logged.
   */
  #unrouted(table: RoutingTable, incoming: IncomingRequest, res: GatewayResponse): GatewayResponse {
    if (table.unroutedObservers.length === 0) return res;
    const split = splitTarget(incoming.target);
    const fromTrustedProxy = table.trustedProxies.isTrusted(incoming.remoteAddress);
    const request: UnroutedRequest = {
      method: incoming.method,
      path: split.ok ? split.path : incoming.target.slice(0, 256),
      query: split.ok ? split.query : '',
      headers: incoming.headers,
      remoteAddress: incoming.remoteAddress,
      clientIp: fromTrustedProxy ? table.trustedProxies.clientIp(incoming.remoteAddress, incoming.headers['x-forwarded-for']) : incoming.remoteAddress,
      fromTrustedProxy,
      protocol: incoming.protocol,
      upgrade: incoming.upgrade,
    };
    const done: ((outcome: SentOutcome) => void)[] = [];
    for (const observe of table.unroutedObservers) {
      const d = observe(request, res.status, res.headers);
      if (d) done.push(d);
    }
    if (done.length > 0) res.onSent = reportSentToAll(done);
    return res;
  }

  async handle(incoming: IncomingRequest): Promise<GatewayResponse> {
    const table = this.#table;
    const { server } = table.config;

    if (incoming.target.length > server.limits.maxUrlLength) return this.#unrouted(table, incoming, errorResponse('URI_TOO_LONG'));
    const target = splitTarget(incoming.target);
    if (!target.ok) return this.#unrouted(table, incoming, errorResponse('BAD_PATH'));
    // RFC 9112 §3.2.2: with an absolute-form target, its authority replaces the Host header.
    if (incoming.target.charCodeAt(0) !== 47 /* '/' */) {
      const authority = /^https?:\/\/([^/?#]*)/i.exec(incoming.target)?.[1]?.replace(/^.*@/, '');
      if (authority) incoming.headers['host'] = authority.toLowerCase();
    }
    const normalized = normalizePath(target.path);
    if (!normalized.ok) return this.#unrouted(table, incoming, errorResponse('BAD_PATH'));
    const path = normalized.path;

    // Health endpoints come before routing and bypass every middleware.
    if (path === server.health.liveness) return health(200, 'ok');
    if (path === server.health.readiness) {
      if (this.#draining) return health(503, 'draining');
      // Opt-in: a route whose every upstream is out of the rotation makes the gateway not ready.
      if (server.health.requireUpstreams && !table.routes.every((r) => r.upstreams.hasUpstreamInRotation())) return health(503, 'upstreams-unavailable');
      return health(200, 'ready');
    }
    if (table.endpoints.size > 0) {
      const endpoint = table.endpoints.get(path);
      if (endpoint) {
        incoming.body?.on('error', () => {}).resume(); // read and drop: the connection stays usable
        return endpoint({ method: incoming.method, path, query: target.query, headers: incoming.headers, remoteAddress: incoming.remoteAddress });
      }
    }

    const headers = incoming.headers;
    if (!stripUnderscoreHeaders(headers, server.underscoreHeaders)) return this.#unrouted(table, incoming, errorResponse('UNDERSCORE_HEADER'));
    dropConnectionNominated(headers);
    if (!incoming.upgrade) {
      // An upgrade the gateway does not perform must not look like one to anything after this.
      delete headers['upgrade'];
      delete headers['http2-settings'];
    }

    const match = table.router.match(incoming.method, path);
    if (match.kind === 'not-found') return this.#unrouted(table, incoming, errorResponse('NOT_FOUND'));
    if (match.kind === 'method-not-allowed') return this.#unrouted(table, incoming, errorResponse('METHOD_NOT_ALLOWED', { allow: match.allow.join(', ') }));
    const { route, handler } = match.value;
    // The transport asked acceptsUpgrade() first; a reload in between may have changed the route.
    if (incoming.upgrade && (!route.websocket || !isWebSocketHandshake(incoming.method, headers))) return this.#unrouted(table, incoming, errorResponse('BAD_REQUEST'));

    let body: Readable | null = null;
    if (incoming.body !== null) {
      try {
        body = limitedRequestBody(headers, incoming.body, server.limits.maxBodyBytes);
      } catch (err) {
        if (err instanceof GatewayError) return this.#unrouted(table, incoming, errorResponse(err.key));
        throw err;
      }
    }

    const fromTrustedProxy = table.trustedProxies.isTrusted(incoming.remoteAddress);
    const req: GatewayRequest = {
      method: incoming.method,
      path,
      query: target.query,
      headers,
      params: match.params,
      clientIp: fromTrustedProxy ? table.trustedProxies.clientIp(incoming.remoteAddress, headers['x-forwarded-for']) : incoming.remoteAddress,
      remoteAddress: incoming.remoteAddress,
      fromTrustedProxy,
      protocol: incoming.protocol,
      body,
      signal: incoming.signal,
      route,
      state: {},
      claims: null,
      instruments: null,
      upgrade: incoming.upgrade,
    };

    table.enter();
    let res: GatewayResponse;
    try {
      res = await handler(req);
    } catch (err) {
      res = this.#failure(err, req);
    } finally {
      table.leave();
    }
    const notify = sentNotifier(req);
    if (notify) res.onSent = reportSent(notify, res);
    return res;
  }

  #failure(err: unknown, req: GatewayRequest): GatewayResponse {
    if (err instanceof GatewayError) {
      if (err.status >= 500) {
        const cause = err.cause as { code?: string; message?: string } | undefined;
        this.logger.warn({ route: req.route.name, code: err.code, cause: cause?.code ?? cause?.message }, 'upstream request failed');
      }
      return errorResponse(err.key, err.headers);
    }
    // Nobody is listening any more: 499 is for the observers, so a client giving up is not
    // counted as a malformed request (400) or a gateway failure.
    if (req.signal.aborted) return errorResponse('CLIENT_CLOSED_REQUEST');
    this.logger.error({ err, route: req.route.name }, 'unhandled error in the request chain');
    return errorResponse('INTERNAL');
  }

  /**
   * Run a request through the whole gateway without a socket (tests, embedding). `path` is used
   * as the raw request-target, exactly as a client would send it.
   */
  request(path: string, init: RequestInit & { remoteAddress?: string } = {}): Promise<Response> {
    const request = new Request(new URL('http://gateway.test/'), init);
    return this.#fetchRaw(path, request, init.remoteAddress);
  }

  /** `fetch`-style entry point: a WHATWG Request in, a Response out. */
  fetch(request: Request): Promise<Response> {
    const url = request.url;
    const pathStart = url.indexOf('/', url.indexOf('//') + 2);
    return this.#fetchRaw(pathStart === -1 ? '/' : url.slice(pathStart), request);
  }

  async #fetchRaw(target: string, request: Request, remoteAddress = '127.0.0.1'): Promise<Response> {
    const headers: HeaderMap = {};
    request.headers.forEach((value, name) => (headers[name] = value));
    if (request.url !== 'http://gateway.test/') headers['host'] ??= new URL(request.url).host;
    else headers['host'] ??= 'gateway.test';
    let body: Readable | null = null;
    if (request.body !== null) {
      body = Readable.fromWeb(request.body as unknown as WebReadableStream);
      if (headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
    }
    const res = await this.handle({
      method: request.method,
      target,
      headers,
      body,
      remoteAddress,
      protocol: 'http',
      signal: request.signal,
      upgrade: false,
    });
    return toWebResponse(res, request.method);
  }
}

function health(status: number, state: string): GatewayResponse {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify({ status: state }) };
}

/** Drop (or refuse) header names with `_`; see ServerConfig.underscoreHeaders for why. */
function stripUnderscoreHeaders(headers: HeaderMap, policy: 'drop' | 'reject'): boolean {
  for (const name in headers) {
    if (name.includes('_')) {
      if (policy === 'reject') return false;
      delete headers[name];
    }
  }
  return true;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

function toWebResponse(res: GatewayResponse, method: string): Response {
  streamOrBytes(res);
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  let body: BodyInit | null = null;
  if (NULL_BODY_STATUS.has(res.status) || method === 'HEAD') {
    if (res.body instanceof Readable) res.body.resume();
  } else if (res.body instanceof Readable) {
    // ReadableStream.from: cancelling the web stream destroys the upstream body cleanly.
    body = res.onSent ? countedStream(res.body, res.onSent) : (WebReadableStream.from(res.body) as unknown as ReadableStream<Uint8Array>);
    res.onSent = undefined;
  } else if (res.body !== null) body = res.body as BodyInit;
  res.onSent?.({ bytes: res.body === null || NULL_BODY_STATUS.has(res.status) || method === 'HEAD' ? 0 : Buffer.byteLength(res.body as string | Uint8Array), aborted: false });
  return new Response(body, { status: res.status, headers });
}

/**
 * For the socket-less adapter: the body counts as sent once the caller has read it to the end, and
 * as abandoned when the caller cancels it (even before its first read) or it fails.
 */
function countedStream(body: Readable, onSent: NonNullable<GatewayResponse['onSent']>): ReadableStream<Uint8Array> {
  const chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let bytes = 0;
  let reported = false;
  const report = (aborted: boolean) => {
    if (reported) return;
    reported = true;
    onSent({ bytes, aborted });
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await chunks.next();
        if (next.done) {
          report(false);
          controller.close();
          return;
        }
        bytes += next.value.byteLength;
        controller.enqueue(new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      } catch (err) {
        report(true);
        controller.error(err);
      }
    },
    async cancel() {
      report(true);
      await chunks.return?.();
    },
  });
}

/**
 * The response's `onSent`, returned from here rather than written `res.onSent = (outcome) => …`
 * in `handle`: V8's parser marks a function literal assigned straight to a property for old-space
 * allocation, and the interpreter, Sparkplug and Maglev honour the mark (TurboFan does not). Until
 * TurboFan had compiled `handle` (the first 5-13 s of load, or always with --no-opt), every
 * request left a closure in old space pointing at its young context (`res`, and `notify`, which
 * holds `req`). Dead, it still kept the whole request alive for each scavenge until the next full
 * GC, and scavenges promoted it: 5-13 MB per scavenge, pauses of 20-50 ms instead of 2-5. A closure
 * returned from a function is allocated young and dies with its request. The lint rule against
 * assigning a function literal to a property keeps the pattern out;
 * test/e2e/proxy/promotion.test.ts measures it.
 */
function reportSent(notify: (status: number, outcome: SentOutcome) => void, res: GatewayResponse): (outcome: SentOutcome) => void {
  return (outcome) => notify(res.status, outcome);
}

/** The same for requests answered before routing: every unrouted observer's callback (see reportSent). */
function reportSentToAll(done: readonly ((outcome: SentOutcome) => void)[]): (outcome: SentOutcome) => void {
  return (outcome) => {
    for (const d of done) d(outcome);
  };
}
