import { Readable } from 'node:stream';
import { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Logger } from 'pino';
import type { GatewayRequest, GatewayResponse, HeaderMap } from './chain/types.ts';
import type { ResolvedConfig } from './config/resolved-config.ts';
import { GatewayError, errorBody, type ErrorKey } from './errors.ts';
import { silentLogger } from './logging/logger.ts';
import { builtinPlugins } from './plugins/builtins.ts';
import type { BuiltinPluginRegistry } from './plugins/builtin-plugin.ts';
import { limitedRequestBody } from './proxy/request-body.ts';
import { UpstreamPools } from './proxy/upstream-pools.ts';
import { normalizePath, splitTarget } from './router/normalize-path.ts';
import { RoutingTable } from './routing-table.ts';
import type { PluginHost } from './isolate/plugin-host.ts';

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

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } as const;

export function errorResponse(key: ErrorKey, extraHeaders: Readonly<Record<string, string>> = {}): GatewayResponse {
  return { status: new GatewayError(key).status, headers: { ...JSON_HEADERS, ...extraHeaders }, body: errorBody(key) };
}

/**
 * The gateway, independent of sockets: `handle()` takes a raw request through normalisation,
 * health endpoints, routing and the route's chain. The node:http server and `fetch()` are thin
 * adapters over it, so tests can run the whole pipeline without a port.
 */
export class Gateway {
  readonly logger: Logger;
  readonly plugins: BuiltinPluginRegistry;
  readonly #pools = new UpstreamPools();
  #table: RoutingTable;
  #draining = false;
  #closed = false;

  constructor(config: ResolvedConfig, options: GatewayOptions = {}) {
    this.logger = options.logger ?? silentLogger();
    this.plugins = options.plugins ?? builtinPlugins;
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
    const next = this.#build(config, userPlugins);
    const previous = this.#table;
    this.#table = next;
    previous.retire().catch((err: unknown) => this.logger.error({ err }, 'retiring the previous routing table failed'));
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
  }

  #build(config: ResolvedConfig, userPlugins?: ReadonlyMap<string, PluginHost>): RoutingTable {
    return new RoutingTable(config, { plugins: this.plugins, pools: this.#pools, logger: this.logger, userPlugins });
  }

  async handle(incoming: IncomingRequest): Promise<GatewayResponse> {
    const table = this.#table;
    const { server } = table.config;

    if (incoming.target.length > server.limits.maxUrlLength) return errorResponse('URI_TOO_LONG');
    const target = splitTarget(incoming.target);
    if (!target.ok) return errorResponse('BAD_PATH');
    // RFC 9112 §3.2.2: with an absolute-form target, its authority replaces the Host header.
    if (incoming.target.charCodeAt(0) !== 47 /* '/' */) {
      const authority = /^https?:\/\/([^/?#]*)/i.exec(incoming.target)?.[1]?.replace(/^.*@/, '');
      if (authority) incoming.headers['host'] = authority.toLowerCase();
    }
    const normalized = normalizePath(target.path);
    if (!normalized.ok) return errorResponse('BAD_PATH');
    const path = normalized.path;

    // Health endpoints come before routing and bypass every middleware.
    if (path === server.health.liveness) return health(200, 'ok');
    if (path === server.health.readiness) return this.#draining ? health(503, 'draining') : health(200, 'ready');

    const headers = incoming.headers;
    if (!stripUnderscoreHeaders(headers, server.underscoreHeaders)) return errorResponse('UNDERSCORE_HEADER');

    const match = table.router.match(incoming.method, path);
    if (match.kind === 'not-found') return errorResponse('NOT_FOUND');
    if (match.kind === 'method-not-allowed') return errorResponse('METHOD_NOT_ALLOWED', { allow: match.allow.join(', ') });
    const { route, handler } = match.value;

    let body: Readable | null = null;
    if (incoming.body !== null) {
      try {
        body = limitedRequestBody(headers, incoming.body, server.limits.maxBodyBytes);
      } catch (err) {
        if (err instanceof GatewayError) return errorResponse(err.key);
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
      upgrade: incoming.upgrade,
    };

    table.enter();
    try {
      return await handler(req);
    } catch (err) {
      return this.#failure(err, req);
    } finally {
      table.leave();
    }
  }

  #failure(err: unknown, req: GatewayRequest): GatewayResponse {
    if (err instanceof GatewayError) {
      if (err.status >= 500) {
        const cause = err.cause as { code?: string; message?: string } | undefined;
        this.logger.warn({ route: req.route.name, code: err.code, cause: cause?.code ?? cause?.message }, 'upstream request failed');
      }
      return errorResponse(err.key, err.headers);
    }
    if (req.signal.aborted) return errorResponse('BAD_REQUEST'); // nobody is listening any more
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
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  let body: BodyInit | null = null;
  if (NULL_BODY_STATUS.has(res.status) || method === 'HEAD') {
    if (res.body instanceof Readable) res.body.resume();
  } else if (res.body instanceof Readable) // ReadableStream.from: cancelling the web stream destroys the upstream body cleanly.
    body = WebReadableStream.from(res.body) as unknown as ReadableStream<Uint8Array>;
  else if (res.body !== null) body = res.body as BodyInit;
  return new Response(body, { status: res.status, headers });
}
