import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { Readable, type Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { GatewayResponse, HeaderMap } from '../chain/types.ts';
import { errorBody, type ErrorKey, ERRORS } from '../errors.ts';
import { errorResponse } from '../errors.ts';
import type { Gateway, IncomingRequest } from '../gateway.ts';
import { unmapIpv4 } from '../proxy/trusted-proxies.ts';
import { rawHttpResponse } from './raw-response.ts';
import { discardBody } from '../chain/discard-body.ts';
import { ClientInFlight } from './client-in-flight.ts';
import { TlsContext } from './tls-context.ts';
import { UpstreamBody, type BodySink } from '../proxy/upstream-body.ts';
import { startHttpsRedirect } from './https-redirect.ts';

/**
 * After a response is sent while the client is still sending its body (a 413, a 401 on an upload),
 * the rest of the body is read and thrown away for at most this long and this much, so the client
 * finishes sending and reads the answer (RFC 9112 §9.6). Closing at once would reset the
 * connection under a client that is still writing, and it would often never see the response.
 * nginx lingers the same way (`lingering_time`, `lingering_timeout`).
 */
const LINGER_MS = 5_000;
const LINGER_BYTES = 16 * 1024 * 1024;
const ALL_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** A request from either listener: node:http's, or http2's compatibility API for HTTP/2 streams. */
type ClientRequest = IncomingMessage | Http2ServerRequest;
type ClientResponse = ServerResponse | Http2ServerResponse;

function isHttp2(req: ClientRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2 && 'stream' in req;
}

/** Whether the response can no longer be written (the client went away, or it was reset). */
function gone(res: ClientResponse): boolean {
  return 'stream' in res ? res.stream.destroyed : res.destroyed;
}

/** HTTP/1.1 requires Host (RFC 9112 §3.2), HTTP/2 its :authority; answered here so the body is the JSON catalogue. */
function missingHost(req: ClientRequest, headers: HeaderMap): boolean {
  if (isHttp2(req)) return headers['host'] === undefined;
  return req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && headers['host'] === undefined;
}

/** HTTP/1.0 and 1.1 on the HTTP/1 parser (llhttp also parses `HTTP/2.0` and `HTTP/0.9` request lines), HTTP/2 only through ALPN. */
function unsupportedVersion(req: ClientRequest): boolean {
  if (isHttp2(req)) return false;
  return req.httpVersionMajor !== 1 || req.httpVersionMinor > 1;
}

/**
 * The request's header fields as the gateway reads them. HTTP/2's pseudo-headers go (the method
 * and path travel separately), `:authority` stands in for a missing Host, and a body without a
 * Content-Length is marked as chunked, as an HTTP/1.1 body of unknown length would be, so the body
 * limit counts it as it streams.
 */
function headersOf(req: ClientRequest): HeaderMap {
  if (!isHttp2(req)) return req.headers as HeaderMap;
  const headers: HeaderMap = {};
  for (const name in req.headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    headers[name] = req.headers[name] as string | string[];
  }
  const authority = req.headers[':authority'];
  if (headers['host'] === undefined && typeof authority === 'string') headers['host'] = authority;
  if (!req.stream.endAfterHeaders && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  return headers;
}

/** The transport-neutral request the gateway handles; an upgrade has no body to stream. */
function incoming(req: ClientRequest, headers: HeaderMap, signal: AbortSignal, upgrade: boolean): IncomingRequest {
  const http2Request = isHttp2(req);
  return {
    method: req.method!,
    target: req.url!,
    headers,
    body: upgrade || (http2Request && req.stream.endAfterHeaders) ? null : (req as Readable),
    remoteAddress: unmapIpv4(req.socket.remoteAddress ?? ''),
    protocol: (req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http',
    signal,
    upgrade,
  };
}

/** Header fields HTTP/2 forbids in a response (RFC 9113 §8.2.2); node:http2 throws on them. */
const HTTP2_FORBIDDEN = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

const GRPC_STATUS_FIELDS = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'];

/**
 * A gRPC "trailers-only" answer (an error with no message) carries grpc-status in its only HEADERS
 * frame, which must also end the stream. Relayed, headers and the end of the body are separate
 * frames, and a client then finds no status at all ("Call ended without gRPC status"). Taking the
 * status fields out of the headers, to be sent as trailers, gives the equivalent
 * headers-then-trailers answer. Returns what was taken out (null: nothing).
 */
function takeGrpcStatus(headers: HeaderMap): Record<string, string | string[]> | null {
  if (headers['grpc-status'] === undefined) return null;
  const taken: Record<string, string | string[]> = {};
  for (const name of GRPC_STATUS_FIELDS) {
    if (headers[name] === undefined) continue;
    taken[name] = headers[name];
    delete headers[name];
  }
  return taken;
}

/** Trailer fields to send on an HTTP/2 response, or null when there are none (framing fields never). */
function http2Trailers(trailers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> | null {
  let out: Record<string, string | string[]> | null = null;
  for (const name in trailers) {
    const value = trailers[name];
    if (value === undefined || HTTP2_FORBIDDEN.includes(name) || name === 'content-length') continue;
    (out ??= {})[name] = value;
  }
  return out;
}

/** Node's parser errors on a client connection, mapped to the error catalogue. */
function clientErrorKey(code: string | undefined): ErrorKey {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'HEADERS_TOO_LARGE';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'REQUEST_TIMEOUT';
    default:
      return 'BAD_REQUEST';
  }
}

/**
 * A streamed body's way to the client: each chunk written as it comes, the source paused while the
 * client's socket is full (it is resumed on 'drain'), and the send timeout while it stays full
 * (nginx's `send_timeout`): a client that takes nothing for that long loses its connection. The
 * source is an UpstreamBody (undici's chunks, the proxy's hot path) or any Readable. One object
 * per streamed response, no closures per chunk.
 */
class ClientSink implements BodySink {
  readonly #res: ClientResponse;
  readonly #source: { resume(): void };
  readonly #onSent: GatewayResponse['onSent'];
  readonly #trailers: (() => GatewayResponse['trailers']) | null;
  readonly #sendTimeout: number;
  readonly #logger: Logger;
  #bytes = 0;
  #stalled: NodeJS.Timeout | null = null;

  constructor(res: ClientResponse, source: { resume(): void }, onSent: GatewayResponse['onSent'], trailers: (() => GatewayResponse['trailers']) | null, sendTimeout: number, logger: Logger) {
    this.#res = res;
    this.#source = source;
    this.#onSent = onSent;
    this.#trailers = trailers;
    this.#sendTimeout = sendTimeout;
    this.#logger = logger;
    res.on('drain', this.#drained);
    if (onSent || sendTimeout > 0) res.once('close', this.#closed);
  }

  readonly #drained = (): void => {
    this.#unstall();
    this.#source.resume();
  };

  readonly #closed = (): void => {
    this.#unstall();
    this.#onSent?.({ bytes: this.#bytes, aborted: !this.#res.writableFinished });
  };

  readonly #stall = (): void => {
    this.#stalled = null;
    this.#logger.debug({ sendTimeoutMs: this.#sendTimeout }, 'the client stopped reading the response; closing its connection');
    (this.#res as ServerResponse).destroy();
  };

  #unstall(): void {
    if (this.#stalled === null) return;
    clearTimeout(this.#stalled);
    this.#stalled = null;
  }

  write(chunk: Buffer): boolean {
    this.#bytes += chunk.byteLength;
    if ((this.#res as ServerResponse).write(chunk)) return true;
    this.#stalled ??= setTimeout(this.#stall, this.#sendTimeout);
    return false;
  }

  end(): void {
    const trailers = this.#trailers?.();
    if (trailers) {
      const fields = http2Trailers(trailers);
      if (fields) (this.#res as Http2ServerResponse).addTrailers(fields);
    }
    const res = this.#res as ServerResponse;
    res.end();
    if (!res.writableFinished && res.writableNeedDrain) this.#stalled ??= setTimeout(this.#stall, this.#sendTimeout);
  }

  fail(err: Error): void {
    const error = { message: err.message, code: (err as NodeJS.ErrnoException).code };
    // The client left first (its request was aborted, which fails the upstream body): normal,
    // and counted by observers as an aborted response, not a gateway problem worth a warning.
    if (gone(this.#res)) this.#logger.debug({ err: error }, 'the client left during the response');
    else this.#logger.warn({ err: error }, 'response body stream failed; closing the client connection');
    (this.#res as ServerResponse).destroy();
  }
}

/**
 * The node:http adapter around a Gateway: enforces the server limits Node can enforce for us,
 * streams request and response bodies, splices WebSocket upgrades, and drains gracefully.
 * Limits and timeouts are read once from the config the server was created with; a reload that
 * changes them takes effect at the next start (route changes apply live).
 */
export class GatewayServer {
  readonly server: http.Server;
  readonly #gateway: Gateway;
  readonly #logger: Logger;
  readonly #maxHeaderCount: number;
  readonly #upgraded = new Set<Duplex>();
  readonly #clients: ClientInFlight;
  readonly #sendTimeout: number;
  /** Responses not yet finished per connection, oldest first: with pipelining, more than one. */
  readonly #openResponses = new WeakMap<Socket, ServerResponse[]>();
  /** Connections whose parser failed while a response was still being written: closed after it. */
  readonly #poisoned = new WeakSet<Socket>();
  /** Responses to requests that timed out behind an earlier response: they wait for nothing. */
  readonly #abandoned = new WeakSet<ServerResponse>();
  /** With `server.tls`: HTTP/2 streams, and the TLS listener that hands each connection to it or to `server` by ALPN. */
  readonly #http2: http2.Http2Server | null = null;
  readonly #sessions = new Set<Http2Session>();
  readonly #tlsContext: TlsContext | null = null;
  #tls: tls.Server | null = null;
  #redirect: http.Server | null = null;
  readonly #requestTimeout: number;
  #inFlight = 0;
  #onDrained: (() => void) | null = null;

  constructor(gateway: Gateway) {
    this.#gateway = gateway;
    this.#logger = gateway.logger;
    const { limits, timeouts } = gateway.config.server;
    this.#maxHeaderCount = limits.maxHeaderCount;
    this.#clients = new ClientInFlight(limits.maxInFlightPerClient);
    this.#sendTimeout = timeouts.send;
    this.#requestTimeout = timeouts.request;
    this.server = http.createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: timeouts.headers,
      requestTimeout: timeouts.request,
      keepAliveTimeout: timeouts.keepAlive,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(timeouts.headers / 4))),
      requireHostHeader: false,
      // Only a WebSocket handshake on a route that allows it becomes an 'upgrade'; any other
      // request with an Upgrade header is a plain 'request' (the gateway removes the header).
      shouldUpgradeCallback: (req: IncomingMessage) => gateway.acceptsUpgrade(req.method ?? '', req.url ?? '', req.headers as HeaderMap),
    } as http.ServerOptions);
    // One more than the limit, so that "too many" is visible instead of silently truncated.
    this.server.maxHeadersCount = limits.maxHeaderCount + 1;
    this.server.maxConnections = limits.maxConnections;
    this.server.on('request', (req, res) => this.#onRequest(req, res));
    // Expect values other than 100-continue: answered with the coded 417 instead of Node's plain one.
    this.server.on('checkExpectation', (req, res) => this.#onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket as Socket, head));
    this.server.on('connect', (req: IncomingMessage, socket: Duplex) => this.#onConnect(req, socket as Socket));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => this.#onClientError(err, socket as Socket));

    const tlsSettings = gateway.config.server.tls;
    if (tlsSettings) {
      this.#tlsContext = new TlsContext(tlsSettings, this.#logger);
      // HTTP/2 over the TLS listener: the same adapter, the same gateway, per stream.
      this.#http2 = http2.createServer({
        settings: { maxConcurrentStreams: 128, maxHeaderListSize: limits.maxHeaderBytes },
      });
      this.#http2.on('request', (req, res) => this.#onRequest(req, res));
      this.#http2.on('session', (session: Http2Session) => {
        this.#sessions.add(session);
        session.once('close', () => this.#sessions.delete(session));
        // A client that sends garbage frames only ends its own session.
        session.on('error', () => session.destroy());
      });
    }
  }

  /** Whether this server speaks HTTPS (`server.tls`). */
  get secure(): boolean {
    return this.#tlsContext !== null;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    const listener = this.#tlsContext ? this.#tlsListener() : this.server;
    return new Promise<AddressInfo>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host, () => {
        listener.off('error', reject);
        resolve(listener.address() as AddressInfo);
      });
    }).then(async (address) => {
      const redirectPort = this.#gateway.config.server.tls?.redirectHttpPort;
      if (redirectPort !== undefined) this.#redirect = await startHttpsRedirect(redirectPort, host, address.port, this.#logger);
      return address;
    });
  }

  /** The plain-HTTP redirect listener's address (with `tls.redirectHttpPort`), once listening. */
  get redirectAddress(): AddressInfo | null {
    return (this.#redirect?.address() as AddressInfo | null) ?? null;
  }

  /**
   * One TLS listener for both protocols: after the handshake, ALPN `h2` goes to the HTTP/2 server
   * and everything else to the same node:http server plain HTTP uses, so HTTP/1.1 over TLS keeps
   * every limit, timeout and upgrade rule of the plain listener. (http2.createSecureServer's own
   * `allowHTTP1` does not honour node:http's `shouldUpgradeCallback`: every Upgrade would have
   * become an upgrade again.)
   */
  #tlsListener(): tls.Server {
    const context = this.#tlsContext!;
    const listener = tls.createServer({ ...context.serverOptions(), handshakeTimeout: this.#gateway.config.server.timeouts.headers });
    listener.maxConnections = this.#gateway.config.server.limits.maxConnections;
    listener.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') this.#http2!.emit('connection', socket);
      else this.server.emit('connection', socket);
    });
    listener.on('tlsClientError', (_err, socket) => socket.destroy());
    context.watch(listener);
    this.#tls = listener;
    return listener;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  #onRequest(req: ClientRequest, res: ClientResponse): void {
    this.#inFlight++;
    const socket = req.socket;
    // Pipelining and lingering are HTTP/1 matters: an HTTP/2 stream has its own framing.
    const h1 = isHttp2(req) ? null : (res as ServerResponse);
    if (h1) {
      const open = this.#openResponses.get(socket);
      if (open === undefined) this.#openResponses.set(socket, [h1]);
      else open.push(h1);
    }
    const headers = headersOf(req);
    const abort = new AbortController();
    // HTTP/2 has no node:http request timeout: a body that does not arrive in time ends the stream.
    const bodyTimer = h1 || req.complete ? null : setTimeout(() => this.#bodyTooSlow(req as Http2ServerRequest, res), this.#requestTimeout);
    // The upstream body being streamed into `res`, once #write has started it.
    let piped: Readable | UpstreamBody | null = null;
    let client: string | null = null;
    // One 'close' listener per request ('close' is emitted once, so `on` without once()'s wrapper).
    res.on('close', () => {
      if (bodyTimer) clearTimeout(bodyTimer);
      if (!res.writableFinished) abort.abort();
      else if (h1 && !req.complete) this.#linger(h1.req);
      if (piped instanceof UpstreamBody) piped.discard();
      else if (piped !== null && !piped.readableEnded) piped.destroy();
      if (client !== null) this.#clients.release(client);
      if (h1) this.#responseDone(socket as Socket, h1);
      if (--this.#inFlight === 0 && this.#upgraded.size === 0) this.#onDrained?.();
    });

    if (unsupportedVersion(req)) {
      h1!.shouldKeepAlive = false;
      this.#write(res, this.#gateway.refuse(incoming(req, headers, abort.signal, false), 'HTTP_VERSION_NOT_SUPPORTED'));
      return;
    }
    if (req.rawHeaders.length > this.#maxHeaderCount * 2) {
      this.#write(res, errorResponse('HEADERS_TOO_LARGE'));
      return;
    }
    if (missingHost(req, headers)) {
      this.#write(res, errorResponse('BAD_REQUEST'));
      return;
    }
    const expect = headers['expect'];
    if (expect !== undefined && (typeof expect !== 'string' || expect.trim().toLowerCase() !== '100-continue')) {
      this.#write(res, this.#gateway.refuse(incoming(req, headers, abort.signal, false), 'EXPECTATION_FAILED'));
      return;
    }
    if (this.#clients.enabled) {
      const key = this.#gateway.clientIp(unmapIpv4(socket.remoteAddress ?? ''), headers);
      if (!this.#clients.acquire(key)) {
        this.#write(res, this.#gateway.refuse(incoming(req, headers, abort.signal, false), 'TOO_MANY_IN_FLIGHT', { 'retry-after': '1' }));
        return;
      }
      client = key;
    }
    this.#gateway
      .handle(incoming(req, headers, abort.signal, false))
      .then(
        (response) => {
          try {
            piped = this.#write(res, response);
          } catch (err) {
            // A header a plugin set that Node refuses to write (a CR in a value, say): never an
            // unhandled rejection; the client gets a coded 500 if nothing was sent yet.
            this.#logger.error({ err: { message: (err as Error).message, code: (err as NodeJS.ErrnoException).code } }, 'response could not be written');
            discardBody(response.body);
            response.onSent?.({ bytes: 0, aborted: true });
            if (!res.headersSent) this.#write(res, errorResponse('INTERNAL'));
            else res.destroy();
          }
        },
        (err: unknown) => {
          this.#logger.error({ err }, 'request failed outside the chain');
          this.#write(res, errorResponse('INTERNAL'));
        },
      );
  }

  /** Send a response; returns the body being written to `res` (the caller stops it if `res` closes first). */
  #write(res: ClientResponse, response: GatewayResponse): Readable | UpstreamBody | null {
    if (gone(res)) {
      response.onSent?.({ bytes: 0, aborted: true });
      discardBody(response.body);
      return null;
    }
    const headers = response.headers;
    let trailers: (() => GatewayResponse['trailers']) | null = null;
    if ('stream' in res) {
      // Connection-level fields do not exist in HTTP/2 (draining sends GOAWAY instead).
      for (const name of HTTP2_FORBIDDEN) delete headers[name];
      const grpcStatus = takeGrpcStatus(headers);
      const upstream = response.trailers;
      // Called when the body has ended: the upstream's trailers are complete by then.
      if (grpcStatus || upstream) trailers = () => ({ ...grpcStatus, ...upstream });
    } else if (this.#gateway.draining) {
      // While draining the connection cannot be reused.
      headers['connection'] = 'close';
    }
    const body = response.body;
    if (typeof body === 'string' || body instanceof Uint8Array) {
      if (headers['content-length'] === undefined) headers['content-length'] = String(Buffer.byteLength(body));
    }
    // Both response kinds take writeHead/write/end the same way; TypeScript cannot call the union.
    (res as ServerResponse).writeHead(response.status, headers);
    const onSent = response.onSent;
    if (body instanceof UpstreamBody) {
      // The proxy's hot path: chunks from undici straight to the client.
      const sink = new ClientSink(res, body, onSent, trailers, this.#sendTimeout, this.#logger);
      body.pipeTo(sink);
      return body;
    }
    if (body instanceof Readable) {
      this.#stream(body, res, onSent, trailers);
      return body;
    }
    if (onSent) {
      const bytes = body === null || res.req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
      res.once('close', () => onSent({ bytes, aborted: !res.writableFinished }));
    }
    (res as ServerResponse).end(body ?? undefined);
    // A buffered body (a plugin's rewritten JSON, say) can be large too: a reader that stalls on
    // it is dropped like one that stalls on a stream.
    if (!res.writableFinished && res.writableNeedDrain) this.#dropIfStalled(res);
    return null;
  }

  /**
   * Write an upstream body to the client with backpressure, like `pipe()`, plus a send timeout:
   * when the client has not taken a byte for `timeouts.send` while data waits, the connection is
   * closed (nginx's `send_timeout`). Without it, a client that stops reading holds the response
   * (and the upstream connection behind it) for as long as it keeps the socket open.
   */
  #stream(body: Readable, res: ClientResponse, onSent: GatewayResponse['onSent'], trailers: (() => GatewayResponse['trailers']) | null): void {
    const sink = new ClientSink(res, body, onSent, trailers, this.#sendTimeout, this.#logger);
    body.on('error', (err) => sink.fail(err));
    body.on('data', (chunk: Buffer) => {
      if (!sink.write(chunk)) body.pause();
    });
    // The upstream's trailers (gRPC's grpc-status) are complete once its body has ended.
    body.once('end', () => sink.end());
  }

  /** Close the connection if the rest of a finished response cannot be written within the send timeout. */
  #dropIfStalled(res: ClientResponse): void {
    const timer = setTimeout(() => res.destroy(), this.#sendTimeout);
    res.once('close', () => clearTimeout(timer));
  }

  /** An HTTP/2 request body still incomplete after `timeouts.request`: 408 if nothing was sent yet, else the stream is reset. */
  #bodyTooSlow(req: Http2ServerRequest, res: ClientResponse): void {
    if (req.complete || gone(res)) return;
    if (!res.headersSent) this.#write(res, errorResponse('REQUEST_TIMEOUT'));
    req.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /**
   * The response is done but the client is still sending its body. Node discards an unread body
   * by itself (keeping the connection usable); a body that something began to read and then
   * dropped (the body limit's 413, an upstream call that ended early) is resumed here. Either
   * way it is discarded for at most LINGER_MS / LINGER_BYTES, then the connection is closed.
   */
  #linger(req: IncomingMessage): void {
    const socket = req.socket;
    if (socket.destroyed) return;
    req.unpipe();
    req.resume();
    const from = socket.bytesRead;
    const stop = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', stop);
      socket.off('close', stop);
    };
    const close = () => {
      stop();
      socket.destroy();
    };
    const onData = () => {
      if (socket.bytesRead - from > LINGER_BYTES) close();
    };
    const timer = setTimeout(close, LINGER_MS);
    req.on('data', onData);
    req.once('end', stop);
    socket.once('close', stop);
  }

  /** One response on `socket` is finished (or abandoned): a connection whose parser failed behind it closes now. */
  #responseDone(socket: Socket, res: ServerResponse): void {
    const open = this.#openResponses.get(socket);
    if (open === undefined) return;
    const at = open.indexOf(res);
    if (at !== -1) open.splice(at, 1);
    if (open.length === 0) this.#openResponses.delete(socket);
    if (this.#poisoned.has(socket) && !socket.destroyed && open.every((r) => this.#abandoned.has(r))) {
      // Everything answered so far is written; the failed request after it gets no answer.
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    }
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const abort = new AbortController();
    socket.once('close', () => abort.abort());
    socket.on('error', () => socket.destroy());
    if (missingHost(req, req.headers as HeaderMap) || unsupportedVersion(req)) {
      socket.end(rawHttpResponse(400, { 'content-type': 'application/json; charset=utf-8' }, errorBody('BAD_REQUEST')));
      return;
    }
    if (this.#clients.enabled) {
      const client = this.#gateway.clientIp(unmapIpv4(socket.remoteAddress ?? ''), req.headers as HeaderMap);
      if (!this.#clients.acquire(client)) {
        const refusal = this.#gateway.refuse(incoming(req, req.headers as HeaderMap, abort.signal, true), 'TOO_MANY_IN_FLIGHT', { 'retry-after': '1' });
        socket.end(rawHttpResponse(refusal.status, refusal.headers, refusal.body as string));
        return;
      }
      // Held for the WebSocket's whole life, like a streaming response.
      socket.once('close', () => this.#clients.release(client));
    }
    this.#gateway
      .handle(incoming(req, req.headers as HeaderMap, abort.signal, true))
      .then(
        (response) => this.#splice(socket, head, response),
        (err: unknown) => {
          this.#logger.error({ err }, 'upgrade failed outside the chain');
          socket.end(rawHttpResponse(500, {}, errorBody('INTERNAL')));
        },
      );
  }

  #splice(client: Socket, head: Buffer, response: GatewayResponse): void {
    const upstream = response.upgradeSocket;
    if (response.status !== 101 || !upstream) {
      const body = typeof response.body === 'string' || response.body instanceof Uint8Array ? response.body : null;
      discardBody(response.body);
      client.end(rawHttpResponse(response.status, response.headers, body));
      return;
    }
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    client.write(rawHttpResponse(101, response.headers, null));
    if (head.length > 0) upstream.write(head);
    this.#upgraded.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      if (this.#upgraded.delete(upstream) && this.#inFlight === 0 && this.#upgraded.size === 0) this.#onDrained?.();
    };
    upstream.on('error', close).on('close', close);
    client.on('error', close).on('close', close);
    upstream.pipe(client);
    client.pipe(upstream);
  }

  /** CONNECT asks for a tunnel to any host: a reverse proxy never opens one (405, then close). */
  #onConnect(req: IncomingMessage, socket: Socket): void {
    socket.on('error', () => socket.destroy());
    const refusal = this.#gateway.refuse(incoming(req, req.headers as HeaderMap, AbortSignal.abort(), false), 'CONNECT_NOT_ALLOWED', { allow: ALL_METHODS });
    const body = refusal.body as string;
    socket.end(rawHttpResponse(refusal.status, refusal.headers, body));
    refusal.onSent?.({ bytes: Buffer.byteLength(body), aborted: false });
  }

  #onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const open = this.#openResponses.get(socket) ?? [];
    // The error concerns the request still being received: the last open one when its body is
    // incomplete (a timeout, a bad chunk, the client's EOF mid-body), otherwise a request after
    // every open one.
    const last = open.at(-1);
    const failing = last !== undefined && !last.req.complete ? last : null;
    if (open.length > (failing ? 1 : 0) || failing?.headersSent) {
      // Pipelining: an earlier request's response is still to be written on this connection. An
      // error written now would land inside it (the client reads it as body bytes) or be taken
      // as the answer to that earlier request. Let the earlier ones finish, then close.
      this.#poisoned.add(socket);
      if (failing) this.#abandoned.add(failing);
      return;
    }
    const key = clientErrorKey(err.code);
    socket.end(rawHttpResponse(ERRORS[key].status, { 'content-type': 'application/json; charset=utf-8' }, errorBody(key)));
  }

  /**
   * Graceful shutdown: readiness turns 503, new connections are refused, idle keep-alive
   * connections close, in-flight requests (and open WebSockets) get until the deadline, then
   * every remaining connection is closed. Resolves with the number of requests cut off.
   */
  async shutdown(deadlineMs: number): Promise<number> {
    this.#gateway.startDraining();
    this.#tlsContext?.close();
    const closed = Promise.all([
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      new Promise<void>((resolve) => (this.#tls ? this.#tls.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.#redirect ? this.#redirect.close(() => resolve()) : resolve())),
    ]);
    this.server.closeIdleConnections();
    this.#redirect?.closeAllConnections();
    // GOAWAY: HTTP/2 clients open no new streams; those in flight finish.
    for (const session of this.#sessions) session.close();
    if (this.#inFlight > 0 || this.#upgraded.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#onDrained = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    const cutOff = this.#inFlight + this.#upgraded.size;
    this.server.closeAllConnections();
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#upgraded) socket.destroy();
    await closed;
    await this.#gateway.close();
    return cutOff;
  }
}
