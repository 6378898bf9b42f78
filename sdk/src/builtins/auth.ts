import type { Duration } from '../config.ts';

/**
 * A JWS algorithm the `auth` plugin verifies. There is no `none`.
 * @example
 * const algorithms: AuthAlgorithm[] = ['RS256', 'PS256'];
 */
export type AuthAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519';

/**
 * A claim by its path: dotted for nested claims (`"realm_access.roles"`), or the segments as an
 * array when a claim name itself contains dots (namespaced claims like `"https://example.com/roles"`).
 * @example
 * const nested: AuthClaimPath = 'realm_access.roles';
 * const namespaced: AuthClaimPath = ['https://example.com/roles'];
 */
export type AuthClaimPath = string | string[];

/**
 * One verification key configured locally. Give exactly one of `secret`, `publicKey` or `jwk`.
 * The key is pinned to `algorithms` (default: every algorithm its type can serve — HS256/384/512 as
 * long as the secret is long enough, RS* and PS* for RSA, the curve's ES* for EC, EdDSA for
 * Ed25519), so a token can never choose to have an RSA key used as an HMAC secret.
 * @example
 * const key: AuthKey = { kid: '2024-06', publicKey: readFileSync('keys/jwt.pub.pem', 'utf8'), algorithms: ['RS256'] };
 */
export interface AuthKey {
  /** Matched against the token's `kid` header. A key without kid is tried for any token. */
  kid?: string;
  /** An HMAC secret (its UTF-8 bytes), at least 32 bytes. */
  secret?: string;
  /** A PEM public key (`-----BEGIN PUBLIC KEY-----`) or X.509 certificate. Private keys are refused. */
  publicKey?: string;
  /** A public JWK (or an `oct` JWK for a secret). Its `alg`, when present, pins the key to it. */
  jwk?: { kty: string; [member: string]: unknown };
  /** The only algorithms this key verifies (default: derived from the key type). */
  algorithms?: AuthAlgorithm[];
}

/**
 * A remote JSON Web Key Set (an identity provider's `jwks_uri`), cached by the gateway.
 * @example
 * const jwks: AuthJwks = { url: 'https://idp.example.com/.well-known/jwks.json', maxAge: '10m', cooldown: '30s' };
 */
export interface AuthJwks {
  /** The key set's URL (use https outside loopback). */
  url: string;
  /** Bound on one fetch, connect to last byte (default 5 s); with nothing cached a request fails with 503 within it. */
  timeout?: Duration;
  /** A key set this old is refreshed in the background while it keeps serving (default 10 minutes). */
  maxAge?: Duration;
  /** A token whose `kid` is not in the set triggers at most one refetch per cooldown (default 30 s). */
  cooldown?: Duration;
  /** How long past `maxAge` the last key set keeps serving while the endpoint fails (default 60 minutes). */
  staleIfError?: Duration;
  /** Accept only these algorithms from the set (default: what each key's type allows; never HS*). */
  algorithms?: AuthAlgorithm[];
}

/**
 * Roles a request must carry, read from a claim holding an array of strings or a space-separated
 * string (like OAuth's `scope`). Missing roles answer 403.
 * @example
 * const roles: AuthRoles = { claim: 'realm_access.roles', required: ['admin', 'ops'], match: 'any' };
 */
export interface AuthRoles {
  /** Where the roles are (default `"roles"`). */
  claim?: AuthClaimPath;
  /** The roles to look for. */
  required: string[];
  /** `any` (default): one of them is enough; `all`: every one is needed. */
  match?: 'any' | 'all';
}

/**
 * Options of the built-in `auth` plugin: Bearer JWT verification (or a user plugin's `verifier`
 * hook), claim checks and roles, and verified claims for the rest of the chain — `req.claims`,
 * user plugins' `ctx.claims`, `{claims.sub}` in upstream URL templates and propagated headers.
 *
 * Refusals: 401 with `WWW-Authenticate: Bearer realm="…"` (plus `error="invalid_token"` when a
 * token was sent), 403 with `error="insufficient_scope"` for missing roles, 503 when the JWKS or
 * the delegated verifier is unavailable.
 * @example
 * import { defineConfig, env } from '@isogate/sdk';
 * export default defineConfig({
 *   plugins: {
 *     auth: {
 *       use: 'auth',
 *       options: {
 *         jwks: { url: 'https://idp.example.com/.well-known/jwks.json' },
 *         issuer: 'https://idp.example.com/',
 *         audience: 'orders-api',
 *         roles: { claim: 'realm_access.roles', required: ['orders:read'] },
 *         propagate: [['sub', 'X-User-Id']],
 *       },
 *     },
 *     'dev-auth': { use: 'auth', options: { secret: env('ISOGATE_JWT_SECRET') } },
 *   },
 *   routes: [{ path: '/me/orders', upstream: 'http://127.0.0.1:3002/users/{claims.sub}/orders', middleware: ['auth'] }],
 * });
 */
export interface AuthPluginOptions {
  /** The `realm` in the `WWW-Authenticate` challenge (default `"isogate"`). */
  realm?: string;
  /** Shorthand for one HMAC key without kid: the secret's UTF-8 bytes, at least 32 of them. */
  secret?: string;
  /** Locally configured keys (secrets, PEM or JWK public keys), each pinned to its algorithms. */
  keys?: AuthKey[];
  /** A remote key set; consulted when no configured key matches the token. */
  jwks?: AuthJwks;
  /**
   * Delegate verification to this user plugin instance's `verifier` hook (e.g. token
   * introspection) instead of checking a JWT; excludes `secret`, `keys` and `jwks`. The claims it
   * returns still go through `issuer`, `audience`, `requiredClaims`, `roles` and the time checks
   * of the claims present (`exp` is not required; `maxTokenAge` needs `iat`). A plugin failure
   * answers 503; a rejection 401.
   */
  verifier?: string;
  /** Accepted `iss` value(s). */
  issuer?: string | string[];
  /** Accepted audience(s): the token's `aud` must contain one of them. */
  audience?: string | string[];
  /** Refuse tokens without `exp` (default true). */
  requireExp?: boolean;
  /** Refuse tokens whose `iat` is older than this (then `iat` is required). */
  maxTokenAge?: Duration;
  /** Allowed clock skew for `exp`, `nbf` and `iat` (default 30 s). */
  clockTolerance?: Duration;
  /** Claims that must be present (not null). */
  requiredClaims?: AuthClaimPath[];
  /** Roles the token must grant (403 otherwise). */
  roles?: AuthRoles;
  /**
   * Claims copied to upstream request headers, as `[claim, header]` pairs. A client-sent header of
   * the same name is always removed first. The value is a comma-separated list of percent-encoded
   * items (a string is one item, an array one per element, an object its JSON), so two different
   * claim values never give the same header: `%`, `,`, control and non-ASCII characters, and
   * spaces at the ends of an item are encoded (`"alice "` → `alice%20`, `["a,b"]` → `a%2Cb`).
   * To read one: split on `,`, then `decodeURIComponent` each item.
   */
  propagate?: [AuthClaimPath, string][];
  /** Forward the client's verified `Authorization` header to the upstream (default true). */
  forwardToken?: boolean;
  /**
   * Let requests without any bearer token through, without claims and without their
   * `Authorization` header (default false). A bad token, or any header starting with the `Bearer`
   * scheme that is not a well-formed token, is still a 401.
   */
  optional?: boolean;
  /**
   * Cache of verified tokens (default 10 000 entries, 60 s), or `false`. A cached token is accepted
   * until the earliest of its `exp` and `ttl` after it was verified, even if its key is revoked in
   * the meantime: `ttl` bounds that window.
   */
  cache?: false | { maxEntries?: number; ttl?: Duration };
}
