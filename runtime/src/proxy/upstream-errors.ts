import { GatewayError } from '../errors.ts';

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return undefined;
}

/** True when the request never reached the upstream (safe to try another one). */
export function isConnectFailure(err: unknown): boolean {
  return CONNECT_FAILURES.has(codeOf(err) ?? '');
}

const RESETS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** What went wrong with an upstream call, as the breaker and retries tell failures apart. */
export type UpstreamFailure = 'connect-failure' | 'reset' | 'timeout';

/**
 * The upstream's failure behind an error, or null when the error says nothing about the upstream:
 * a client abort, a body the client stopped sending, the gateway's own refusals (a full pool, an
 * open circuit), a malformed request. `requestBody` is the body that was being sent: when it
 * failed, a reset is the client's doing (Node reports an aborted upload as ECONNRESET too).
 */
export function upstreamFailure(err: unknown, requestBody?: unknown): UpstreamFailure | null {
  if (err instanceof GatewayError) return err.key === 'UPSTREAM_TIMEOUT' ? 'timeout' : null;
  const code = codeOf(err);
  if (code === undefined) return null;
  if (CONNECT_FAILURES.has(code)) return 'connect-failure';
  if (TIMEOUTS.has(code)) return 'timeout';
  if (RESETS.has(code)) {
    const body = requestBody as { errored?: unknown; destroyed?: boolean; readableEnded?: boolean } | null | undefined;
    if (body && typeof body === 'object' && (body.errored || (body.destroyed === true && body.readableEnded === false))) return null;
    return 'reset';
  }
  return null;
}

/** Map an undici failure to the client-facing error: timeouts 504, everything else 502. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = codeOf(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new GatewayError('UPSTREAM_TIMEOUT', { cause: err });
  }
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return new GatewayError('BAD_REQUEST', { cause: err });
  return new GatewayError('UPSTREAM_UNAVAILABLE', { cause: err });
}
