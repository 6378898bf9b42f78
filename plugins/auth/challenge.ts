import type { GatewayResponse } from '../../runtime/src/chain/types.ts';
import { ERRORS, JSON_HEADERS, errorBody } from '../../runtime/src/errors.ts';
import { AUTH_FAILURES, type AuthFailure } from './reasons.ts';


/**
 * The response for each refusal, with its RFC 6750 §3 challenge: `Bearer realm="…"` alone when
 * the request carried no token, with `error="invalid_token"` (401) or `error="insufficient_scope"`
 * (403) otherwise. The description is a fixed sentence per reason, never a library's message.
 */
export type Rejections = (reason: AuthFailure) => GatewayResponse;

export function compileRejections(realm: string): Rejections {
  const headers = new Map<AuthFailure, Record<string, string>>();
  for (const [reason, failure] of Object.entries(AUTH_FAILURES) as [AuthFailure, (typeof AUTH_FAILURES)[AuthFailure]][]) {
    if (failure.error === 'AUTH_UNAVAILABLE') {
      headers.set(reason, { ...JSON_HEADERS });
      continue;
    }
    let challenge = `Bearer realm="${realm}"`;
    if (failure.challenge !== null) challenge += `, error="${failure.challenge}", error_description="${failure.description}"`;
    headers.set(reason, { ...JSON_HEADERS, 'www-authenticate': challenge });
  }
  return function rejection(reason) {
    const key = AUTH_FAILURES[reason].error;
    return { status: ERRORS[key].status, headers: { ...headers.get(reason) }, body: errorBody(key) };
  };
}
