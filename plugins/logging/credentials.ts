// The names the plugin redacts whatever the options say (a leaf module: the option schema refuses
// `queryAllow` entries among them, and redaction.ts applies them).

/** Credentials by definition: redacted whenever a header list names them, whatever `redact` says. */
export const ALWAYS_REDACTED_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];

/**
 * Query parameters that carry credentials in the wild, always redacted when the query is logged:
 * OAuth and OpenID Connect (tokens, the authorization `code`, client secrets and assertions),
 * signed URLs (S3/GCS `X-Amz-*`/`X-Goog-*`, Azure SAS `sig`), API keys (Google's `key`), session
 * ids, passwords and one-time codes. Matched case-insensitively on the percent-decoded name, bare
 * or with a `[…]` suffix (`token[]`, `user[password]`). Some of these names are ordinary words
 * elsewhere (`code`, `key`, `auth`): a hidden country code costs less than a leaked grant.
 */
export const ALWAYS_REDACTED_QUERY: readonly string[] = [
  // OAuth 2 / OpenID Connect
  'access_token',
  'id_token',
  'refresh_token',
  'token',
  'auth_token',
  'code',
  'code_verifier',
  'client_secret',
  'assertion',
  'client_assertion',
  'jwt',
  // passwords, one-time codes, generic secrets
  'password',
  'passwd',
  'pass',
  'pwd',
  'secret',
  'otp',
  'auth',
  'authorization',
  'credential',
  'credentials',
  // API keys
  'key',
  'api_key',
  'apikey',
  'api-key',
  'x-api-key',
  'private_token',
  // sessions
  'session',
  'sessionid',
  'session_id',
  'sid',
  'jsessionid',
  'phpsessid',
  'ticket',
  // signed URLs
  'sig',
  'signature',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'x-goog-signature',
  'x-goog-credential',
];

/** `ALWAYS_REDACTED_QUERY` as a set, for lookups. */
export const CREDENTIAL_QUERY_PARAMS: ReadonlySet<string> = new Set(ALWAYS_REDACTED_QUERY);
