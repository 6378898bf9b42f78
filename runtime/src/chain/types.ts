import type { Duplex, Readable } from 'node:stream';
import type { ResolvedRoute } from '../config/resolved-config.ts';
import type { RequestInstrument, SentOutcome } from './instruments.ts';
import type { UpstreamBody } from '../proxy/upstream-body.ts';

/** Header fields by lower-case name; repeated fields (set-cookie) as arrays. */
export type HeaderMap = Record<string, string | string[]>;

/** The request as middleware sees it. Produced once per request by the gateway, after normalisation and routing. */
export interface GatewayRequest {
  method: string;
  /** Normalised path: what was matched and what is forwarded (after stripPrefix/rewrite). */
  path: string;
  /** Raw query string without `?` ('' when none); forwarded unchanged. */
  query: string;
  headers: HeaderMap;
  /** Route params, percent-decoded (`*` holds the wildcard rest, still encoded). */
  params: Record<string, string>;
  /** The client's address, from X-Forwarded-For only when the peer is a trusted proxy. */
  clientIp: string;
  /** The TCP peer's address. */
  remoteAddress: string;
  /** Whether the peer is a configured trusted proxy (its X-Forwarded-* are believed). */
  fromTrustedProxy: boolean;
  protocol: 'http' | 'https';
  /** Streamed request body, or null when the request has none. */
  body: Readable | null;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
  route: ResolvedRoute;
  /** Per-request state shared along the chain. */
  state: Record<PropertyKey, unknown>;
  /**
   * Verified claims, set by authentication (the auth built-in or a user plugin's verifier); null
   * until then. User plugins see them as `ctx.claims`; templates use them as `{claims.sub}`.
   */
  claims: Readonly<Record<string, unknown>> | null;
  /** Observers attached by observing middleware (see instruments.ts); null when none. */
  instruments: RequestInstrument[] | null;
  /** True for an HTTP Upgrade (WebSocket) request. */
  upgrade: boolean;
}

export interface GatewayResponse {
  status: number;
  headers: HeaderMap;
  /**
   * A stream, bytes, text, or none. A proxied answer's body is an UpstreamBody (chunks straight
   * from undici to the client); code that reads it as a stream takes `streamOrBytes(res)`, which
   * puts that stream back in `body`.
   */
  body: Readable | UpstreamBody | Uint8Array | string | null;
  /**
   * The upstream's trailer fields, filled in once `body` has ended (gRPC's `grpc-status`). Sent
   * on to HTTP/2 clients; HTTP/1.1 responses are not chunked for them.
   */
  trailers?: Readonly<Record<string, string | string[] | undefined>>;
  /** Set only on a 101 answer to an upgrade: the upstream's socket, to be spliced to the client's. */
  upgradeSocket?: Duplex;
  /** Set by the gateway when observers want it: the transport calls it once the response is written or abandoned. */
  onSent?: (outcome: SentOutcome) => void;
}

export type Handler = (req: GatewayRequest) => Promise<GatewayResponse>;

/**
 * A middleware wraps the rest of the chain. It may answer by itself (short-circuit), change the
 * request before calling `next`, and change the response `next` resolved to.
 */
export type Middleware = (next: Handler) => Handler;
