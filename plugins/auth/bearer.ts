/** No bearer credentials in the request (another scheme, or no Authorization at all). */
export const NO_TOKEN = 0;
/** An Authorization header claiming to be Bearer that is not a well-formed bearer token. */
export const BAD_TOKEN = 1;

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token, and
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// Accepted leniently: any run of spaces and tabs around the token (over a socket Node has dropped
// those around the field value already; an upstream parser would skip them too). What stays
// strict is the token itself.
const BEARER = /^[ \t]*bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;
// The scheme name ends where a character that cannot be in a token (RFC 9110 §5.6.2 tchar)
// follows, or with the value: "Bearer<TAB>…", "Bearer\v…", "Bearer:…" and "Bearer" alone are
// bearer attempts; "Bearerish …" is another scheme.
const BEARER_SCHEME = /^[ \t]*bearer(?![!#$%&'*+\-.^_`|~0-9A-Za-z])/i;

/**
 * The bearer token of an `Authorization` header (RFC 6750 §2.1; the scheme is case-insensitive).
 *
 * Anything that starts with the bearer scheme is a bearer attempt: either a token, or BAD_TOKEN
 * (401 `malformed`) — never NO_TOKEN, which `optional` lets through as anonymous. A header map
 * holding several Authorization values (only possible in process: over a socket Node keeps the
 * first field and drops the others) is refused rather than guessing which one counts.
 */
export function bearerToken(header: string | string[] | undefined): string | typeof NO_TOKEN | typeof BAD_TOKEN {
  if (header === undefined) return NO_TOKEN;
  if (typeof header !== 'string') return BAD_TOKEN;
  const match = BEARER.exec(header);
  if (match !== null) return match[1]!;
  return BEARER_SCHEME.test(header) ? BAD_TOKEN : NO_TOKEN;
}
