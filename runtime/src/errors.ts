import type { GatewayResponse } from './chain/types.ts';

/**
 * The one catalogue of errors that can reach a client. Each has a stable code, an HTTP status and
 * a fixed message: what the client sees never depends on an internal error's text or stack.
 */
export const ERRORS = {
  NOT_FOUND: { status: 404, message: 'no route matches this path' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed on this route' },
  CONNECT_NOT_ALLOWED: { status: 405, message: 'CONNECT is not supported: this is a reverse proxy' },
  BAD_REQUEST: { status: 400, message: 'malformed request' },
  BAD_PATH: { status: 400, message: 'request path is not acceptable' },
  UNDERSCORE_HEADER: { status: 400, message: 'header names with underscores are not accepted' },
  UNAUTHORIZED: { status: 401, message: 'missing or invalid credentials' },
  FORBIDDEN: { status: 403, message: 'the credentials do not allow this request' },
  RATE_LIMITED: { status: 429, message: 'too many requests' },
  TOO_MANY_IN_FLIGHT: { status: 429, message: 'too many concurrent requests from this client' },
  EXPECTATION_FAILED: { status: 417, message: 'only the 100-continue expectation is supported' },
  HTTP_VERSION_NOT_SUPPORTED: { status: 505, message: 'only HTTP/1.0 and HTTP/1.1 are served on this listener' },
  // nginx's convention: the client closed the connection before the answer. Never reaches the
  // client (it has gone); it is what observers (metrics, logs, traces) record.
  CLIENT_CLOSED_REQUEST: { status: 499, message: 'the client closed the request before the answer' },
  REQUEST_TIMEOUT: { status: 408, message: 'request was not received in time' },
  BODY_TOO_LARGE: { status: 413, message: 'request body is too large' },
  BAD_JSON: { status: 400, message: 'request body is not valid JSON' },
  URI_TOO_LONG: { status: 414, message: 'request target is too long' },
  HEADERS_TOO_LARGE: { status: 431, message: 'request header fields are too large or too many' },
  INTERNAL: { status: 500, message: 'internal gateway error' },
  PLUGIN_FAILED: { status: 500, message: 'a plugin failed while handling the request' },
  UPSTREAM_UNAVAILABLE: { status: 502, message: 'upstream is unavailable' },
  UPSTREAM_RESPONSE_TOO_LARGE: { status: 502, message: 'upstream response is too large for this route' },
  UPSTREAM_BAD_RESPONSE: { status: 502, message: 'upstream sent an invalid response' },
  UPSTREAM_SATURATED: { status: 503, message: 'no connection to the upstream became free in time' },
  // Not UPSTREAM_UNAVAILABLE (502: tried, and it failed): nothing was sent, the gateway refused to
  // try an upstream whose circuit breaker is open or that failed its health checks.
  UPSTREAM_CIRCUIT_OPEN: { status: 503, message: 'upstream is out of rotation (circuit breaker open or failing health checks)' },
  AUTH_UNAVAILABLE: { status: 503, message: 'authentication is temporarily unavailable' },
  METRICS_UNAVAILABLE: { status: 503, message: 'metrics could not be collected from every worker' },
  DRAINING: { status: 503, message: 'gateway is shutting down' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'upstream did not answer in time' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorKey = keyof typeof ERRORS;

/** An error destined for a client: code, status and public message come from the catalogue. */
export class GatewayError extends Error {
  readonly key: ErrorKey;
  readonly code: `ISOGATE_ERR_${ErrorKey}`;
  readonly status: number;
  /** Extra response headers (e.g. `Allow` on 405). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(key: ErrorKey, options: { cause?: unknown; headers?: Record<string, string> } = {}) {
    super(ERRORS[key].message, { cause: options.cause });
    this.name = 'GatewayError';
    this.key = key;
    this.code = `ISOGATE_ERR_${key}`;
    this.status = ERRORS[key].status;
    this.headers = options.headers ?? {};
  }
}

/** The JSON body every client-facing error uses. */
export function errorBody(key: ErrorKey): string {
  return JSON.stringify({ error: { code: `ISOGATE_ERR_${key}`, message: ERRORS[key].message } });
}

/** Headers of every JSON answer the gateway writes itself. */
export const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } as const;

/** The coded JSON response for a catalogue error (a leaf module, so built-ins can use it without an import cycle). */
export function errorResponse(key: ErrorKey, extraHeaders: Readonly<Record<string, string>> = {}): GatewayResponse {
  return { status: ERRORS[key].status, headers: { ...JSON_HEADERS, ...extraHeaders }, body: errorBody(key) };
}
