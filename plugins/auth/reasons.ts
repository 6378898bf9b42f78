import type { ErrorKey } from '../../runtime/src/errors.ts';

/**
 * Why a request was refused: the `reason` of the `auth-failed` event, hence a label of
 * `gateway_auth_failures_total{route,reason}`. A closed set, so the metric's cardinality is bounded.
 */
export const AUTH_FAILURES = {
  /** No bearer token (RFC 6750 §3.1: the challenge then carries no error code). */
  missing: { error: 'UNAUTHORIZED', challenge: null, description: null },
  malformed: { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token is malformed' },
  expired: { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token has expired' },
  'not-yet-valid': { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token is not valid yet' },
  'bad-algorithm': { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token is signed with an algorithm that is not accepted' },
  'unknown-key': { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token is signed with an unknown key' },
  'bad-signature': { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token signature is invalid' },
  'bad-issuer': { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token issuer is not accepted' },
  'bad-audience': { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token audience is not accepted' },
  'missing-claim': { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token lacks a required claim' },
  /** A delegated verifier said no. */
  rejected: { error: 'UNAUTHORIZED', challenge: 'invalid_token', description: 'the token was rejected' },
  /** Valid token, missing role: 403. */
  forbidden: { error: 'FORBIDDEN', challenge: 'insufficient_scope', description: 'the token lacks a required role' },
  /** The JWKS endpoint failed and no usable key set is cached: 503. */
  'jwks-unavailable': { error: 'AUTH_UNAVAILABLE', challenge: null, description: null },
  /** The delegated verifier plugin failed (timeout, memory, bad result): 503. */
  'verifier-unavailable': { error: 'AUTH_UNAVAILABLE', challenge: null, description: null },
} as const satisfies Record<string, { error: ErrorKey; challenge: string | null; description: string | null }>;

export type AuthFailure = keyof typeof AUTH_FAILURES;
