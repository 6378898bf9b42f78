import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { GatewayResponse, HeaderMap } from '../chain/types.ts';
import { errorBody, type ErrorKey, ERRORS } from '../errors.ts';
import { errorResponse } from '../errors.ts';
import type { Gateway, IncomingRequest } from '../gateway.ts';
import { unmapIpv4 } from '../proxy/trusted-proxies.ts';
import { rawHttpResponse } from './raw-response.ts';
import { discardBody } from '../chain/discard-body.ts';

/** HTTP/1.1 requires Host (RFC 9112 §3.2); answered here rather than by Node so the body is the JSON catalogue. */
function missingHost(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && req.headers.host === undefined;
}

/** The transport-neutral request the gateway handles; an upgrade has no body to stream. */
function incoming(req: IncomingMessage, signal: AbortSignal, upgrade: boolean): IncomingRequest {
  return {
    method: req.method!,
    target: req.url!,
    headers: req.headers as HeaderMap,
    body: upgrade ? null : req,
    remoteAddress: unmapIpv4(req.socket.remoteAddress ?? ''),
    protocol: 'http',
    signal,
    upgrade,
  };
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
  #inFlight = 0;
  #onDrained: (() => void) | null = null;

  constructor(gateway: Gateway) {
    this.#gateway = gateway;
    this.#logger = gateway.logger;
    const { limits, timeouts } = gateway.config.server;
    this.#maxHeaderCount = limits.maxHeaderCount;
    this.server = http.createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: timeouts.headers,
      requestTimeout: timeouts.request,
      keepAliveTimeout: timeouts.keepAlive,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(timeouts.headers / 4))),
      requireHostHeader: false,
    });
    // One more than the limit, so that "too many" is visible instead of silently truncated.
    this.server.maxHeadersCount = limits.maxHeaderCount + 1;
    this.server.maxConnections = limits.maxConnections;
    this.server.on('request', (req, res) => this.#onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket as Socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => this.#onClientError(err, socket as Socket));
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#inFlight++;
    const abort = new AbortController();
    // The upstream body being piped into `res`, once #write has started it.
    let piped: Readable | null = null;
    // One 'close' listener per request ('close' is emitted once, so `on` without once()'s wrapper).
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
      if (piped !== null && !piped.readableEnded) piped.destroy();
      if (--this.#inFlight === 0 && this.#upgraded.size === 0) this.#onDrained?.();
    });

    if (req.rawHeaders.length > this.#maxHeaderCount * 2) {
      this.#write(res, errorResponse('HEADERS_TOO_LARGE'));
      return;
    }
    if (missingHost(req)) {
      this.#write(res, errorResponse('BAD_REQUEST'));
      return;
    }
    this.#gateway
      .handle(incoming(req, abort.signal, false))
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

  /** Send a response; returns the body stream piped into `res` (the caller destroys it if `res` closes first). */
  #write(res: ServerResponse, response: GatewayResponse): Readable | null {
    if (res.destroyed) {
      response.onSent?.({ bytes: 0, aborted: true });
      discardBody(response.body);
      return null;
    }
    const headers = response.headers;
    // While draining, and after refusing a body mid-stream, the connection cannot be reused.
    if (this.#gateway.draining || response.status === 413) headers['connection'] = 'close';
    const body = response.body;
    if (body !== null && !(body instanceof Readable) && headers['content-length'] === undefined) headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(response.status, headers);
    const onSent = response.onSent;
    if (body instanceof Readable) {
      body.on('error', (err) => {
        this.#logger.warn({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'response body stream failed; closing the client connection');
        res.destroy();
      });
      if (onSent) {
        // Only when an observer asked: count what went out, report when the response is done.
        let bytes = 0;
        body.on('data', (chunk: Buffer) => (bytes += chunk.byteLength));
        res.once('close', () => onSent({ bytes, aborted: !res.writableFinished }));
      }
      body.pipe(res);
      return body;
    }
    if (onSent) {
      const bytes = body === null || res.req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
      res.once('close', () => onSent({ bytes, aborted: !res.writableFinished }));
    }
    res.end(body ?? undefined);
    return null;
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const abort = new AbortController();
    socket.once('close', () => abort.abort());
    socket.on('error', () => socket.destroy());
    if (missingHost(req)) {
      socket.end(rawHttpResponse(400, { 'content-type': 'application/json; charset=utf-8' }, errorBody('BAD_REQUEST')));
      return;
    }
    this.#gateway
      .handle(incoming(req, abort.signal, true))
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
      const body = response.body instanceof Readable ? null : response.body;
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

  #onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
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
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
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
    for (const socket of this.#upgraded) socket.destroy();
    await closed;
    await this.#gateway.close();
    return cutOff;
  }
}
