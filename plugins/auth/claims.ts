import type { AuthOptions, ClaimPathOption } from './options.ts';
import type { AuthFailure } from './reasons.ts';

export type Claims = Readonly<Record<string, unknown>>;

/** `"realm_access.roles"` → `['realm_access', 'roles']`; an array is taken as the segments already. */
export function compileClaimPath(path: ClaimPathOption): readonly string[] {
  return typeof path === 'string' ? path.split('.') : path;
}

/** The value at a claim path, or undefined. Own properties only: `__proto__` or `constructor` never resolve to something inherited. */
export function readClaim(claims: Claims, path: readonly string[]): unknown {
  let value: unknown = claims;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

export function claimPathLabel(path: readonly string[]): string {
  return path.join('.');
}

/**
 * What a verified token's claims must satisfy, compiled once per instance. Times in seconds, as
 * the claims are (RFC 7519 NumericDate).
 */
export interface ClaimRules {
  readonly issuers: ReadonlySet<string> | null;
  readonly audiences: ReadonlySet<string> | null;
  readonly requireExp: boolean;
  readonly maxTokenAgeSec: number | null;
  readonly toleranceSec: number;
  readonly required: readonly (readonly string[])[];
}

export function compileClaimRules(opts: AuthOptions, delegated: boolean): ClaimRules {
  const list = (v: string | string[] | undefined) => (v === undefined ? null : new Set(typeof v === 'string' ? [v] : v));
  return {
    issuers: list(opts.issuer),
    audiences: list(opts.audience),
    // An introspection answer need not carry `exp` (RFC 7662 §2.2): the verifier vouches for it.
    requireExp: opts.requireExp && !delegated,
    maxTokenAgeSec: opts.maxTokenAge === undefined ? null : opts.maxTokenAge / 1000,
    toleranceSec: opts.clockTolerance / 1000,
    required: opts.requiredClaims.map(compileClaimPath),
  };
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export type ClaimCheck = { ok: true; validUntilMs: number } | { ok: false; reason: AuthFailure };

/**
 * Check the claims at `nowMs`. On success, also says until when the answer stays true (the
 * earliest of `exp` and `iat + maxTokenAge`, tolerance included): the verified-token cache must
 * not serve the token past that instant.
 */
export function checkClaims(claims: Claims, rules: ClaimRules, nowMs: number): ClaimCheck {
  const now = nowMs / 1000;
  const tol = rules.toleranceSec;
  let validUntil = Infinity;

  const exp = claims['exp'];
  if (exp === undefined) {
    if (rules.requireExp) return { ok: false, reason: 'missing-claim' };
  } else {
    if (!isTime(exp)) return { ok: false, reason: 'malformed' };
    if (now >= exp + tol) return { ok: false, reason: 'expired' };
    validUntil = exp + tol;
  }

  const nbf = claims['nbf'];
  if (nbf !== undefined) {
    if (!isTime(nbf)) return { ok: false, reason: 'malformed' };
    if (nbf > now + tol) return { ok: false, reason: 'not-yet-valid' };
  }

  const iat = claims['iat'];
  if (iat !== undefined) {
    if (!isTime(iat)) return { ok: false, reason: 'malformed' };
    // A token issued in the future was minted by a wrong clock or forged to outlive maxTokenAge.
    if (iat > now + tol) return { ok: false, reason: 'not-yet-valid' };
  }
  if (rules.maxTokenAgeSec !== null) {
    if (iat === undefined) return { ok: false, reason: 'missing-claim' };
    const until = (iat as number) + rules.maxTokenAgeSec + tol;
    if (now >= until) return { ok: false, reason: 'expired' };
    validUntil = Math.min(validUntil, until);
  }

  if (rules.issuers !== null) {
    const iss = claims['iss'];
    if (typeof iss !== 'string' || !rules.issuers.has(iss)) return { ok: false, reason: 'bad-issuer' };
  }
  if (rules.audiences !== null && !audienceMatches(claims['aud'], rules.audiences)) return { ok: false, reason: 'bad-audience' };

  for (const path of rules.required) {
    const v = readClaim(claims, path);
    if (v === undefined || v === null) return { ok: false, reason: 'missing-claim' };
  }
  return { ok: true, validUntilMs: validUntil * 1000 };
}

function audienceMatches(aud: unknown, wanted: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return wanted.has(aud);
  if (Array.isArray(aud)) return aud.some((a) => typeof a === 'string' && wanted.has(a));
  return false;
}

/**
 * The role check of an instance, or null when it has none. Roles are read from an array of
 * strings, or from a space-separated string (OAuth `scope`, RFC 8693 §4.2).
 */
export function compileRoleCheck(roles: AuthOptions['roles']): ((claims: Claims) => boolean) | null {
  if (roles === undefined) return null;
  const path = compileClaimPath(roles.claim);
  const required = [...new Set(roles.required)];
  const all = roles.match === 'all';
  return function hasRoles(claims) {
    const granted = grantedRoles(readClaim(claims, path));
    if (granted.size === 0) return false;
    return all ? required.every((r) => granted.has(r)) : required.some((r) => granted.has(r));
  };
}

export function grantedRoles(value: unknown): ReadonlySet<string> {
  if (typeof value === 'string') return new Set(value.split(/\s+/).filter((s) => s !== ''));
  if (Array.isArray(value)) return new Set(value.filter((v): v is string => typeof v === 'string'));
  return new Set();
}

/** Freeze claims all the way down: one object is shared by every request the cache serves it to. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
