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
