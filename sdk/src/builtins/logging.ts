/**
 * Options of the built-in `logging` plugin: one structured access line per request (method, route
 * template, path, status, duration, upstream latency, bytes, client IP, request id, plugin errors),
 * written once the response has been sent, and a request id for every request, forwarded upstream
 * and returned to the client. List it first in the global `middleware` to log every request,
 * including those that authentication or a rate limit refuses. Kept in step with the plugin's zod
 * schema (`plugins/logging/options.ts`) by a type test there.
 * @example
 * const options: LoggingPluginOptions = {
 *   file: '/var/log/isogate/access.log',
 *   requestId: { trustIncoming: 'trusted-proxies' },
 *   headers: ['referer', 'x-tenant'],
 *   redactQuery: ['session'],
 * };
 */
export interface LoggingPluginOptions {
  /**
   * The level access lines are written at (default `"info"`). With the gateway's logger as
   * destination, lines below the gateway's level (`--log-level`, `ISOGATE_LOG_LEVEL`) are not
   * written, and the plugin then only settles request ids.
   */
  level?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  /**
   * Write JSON lines to this file (appended; created with its directories; relative to the
   * working directory) instead of the gateway's own log. Writes are buffered (4 KiB or one second)
   * and flushed on reload and close. Default: the gateway's logger — JSON on stdout in `isogate
   * start`, human-readable in `isogate dev`.
   */
  file?: string;
  /** How each request's id is settled, forwarded and returned. */
  requestId?: {
    /** The header carrying the id, in both directions (default `"x-request-id"`). */
    header?: string;
    /**
     * When an incoming id is kept (default `"trusted-proxies"`: only from a peer listed in
     * `server.trustedProxies`; `"always"`; `"never"`). A kept id must also be 1–`maxLength`
     * characters of `A-Z a-z 0-9 . _ ~ : @ / + = -`; otherwise a new UUID is generated.
     */
    trustIncoming?: 'trusted-proxies' | 'always' | 'never';
    /** The longest incoming id kept (default 128, 8–1024). */
    maxLength?: number;
    /**
     * Set the header on the request sent upstream (default true). When false, the upstream gets
     * the header only if the incoming id was kept (trusted and well-formed); an untrusted one is
     * removed, never passed on.
     */
    forward?: boolean;
    /**
     * Set the header on the response to the client (default true), error responses included: the
     * gateway's 502/504…, and the 500 an unexpected error in the chain inside this plugin becomes.
     */
    respond?: boolean;
  };
  /**
   * Log the query string (default true). The values of credential parameters are always
   * redacted: OAuth tokens, codes, secrets and assertions (`access_token`, `code`,
   * `client_secret`, `jwt`…), API keys (`key`, `api_key`…), passwords and one-time codes, session
   * ids (`sid`, `session_id`…) and URL signatures (`sig`, `signature`, `X-Amz-Signature`…) — the
   * plugin's README lists them all. See `redactQuery` and `queryAllow` for more.
   */
  query?: boolean;
  /** More query parameter names whose values are replaced by `[REDACTED]` (case-insensitive). */
  redactQuery?: string[];
  /**
   * Log the values of only these query parameters (case-insensitive); every other parameter is
   * logged as `name=[REDACTED]`. The safest choice when you know which parameters matter: a
   * credential under a name nobody listed is not logged either. Default: absent (every
   * parameter logged except the redacted ones). Credential names cannot be allowed.
   * @example
   * const options: LoggingPluginOptions = { queryAllow: ['page', 'limit', 'sort'] };
   */
  queryAllow?: string[];
  /** Log the `User-Agent` as `userAgent` (default true), cut at 512 characters (marked `…[truncated]`). */
  userAgent?: boolean;
  /**
   * Request headers to log under `headers` (default none). `Authorization`,
   * `Proxy-Authorization`, `Cookie`, `Set-Cookie` and `X-Api-Key` are always logged as `[REDACTED]`.
   * Each value is cut at 1024 characters (marked `…[truncated]`), a repeated header at 8 values.
   */
  headers?: string[];
  /** Response headers to log under `responseHeaders` (default none), redacted like `headers`. */
  responseHeaders?: string[];
  /**
   * More to redact: header names (in `headers` and `responseHeaders`), or the fields `clientIp`,
   * `userAgent`, `path`, `query`.
   */
  redact?: string[];
  /**
   * Share of successful requests logged, 0–1 (default 1: all). Errors (status ≥ 400), aborted
   * responses and requests with plugin errors, auth failures or rate-limit rejections are always logged.
   */
  sample?: number;
}
