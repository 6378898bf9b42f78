import { compactVerify, decodeProtectedHeader, errors } from 'jose';
import type { Claims } from './claims.ts';
import { JwksUnavailableError, type JwksCache } from './jwks-cache.ts';
import { ALGORITHMS, type Algorithm, type VerificationKey } from './keys.ts';
import type { AuthFailure } from './reasons.ts';

export type Verified = { ok: true; claims: Claims } | { ok: false; reason: AuthFailure };

/** Where the keys come from: configured keys first, then the remote key set (if any). */
export interface KeySources {
  readonly static: readonly VerificationKey[];
  readonly jwks: JwksCache | null;
  /** Algorithms the remote key set may serve (all asymmetric ones unless restricted). */
  readonly jwksAlgorithms: ReadonlySet<Algorithm>;
}

const ASYMMETRIC = ALGORITHMS.filter((a) => !a.startsWith('HS'));
export const ASYMMETRIC_ALGORITHMS: readonly Algorithm[] = ASYMMETRIC;

// Three base64url segments; the signature may be empty only in `alg: none`, which is refused below.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
const decoder = new TextDecoder('utf-8', { fatal: true });
/** Keys tried for one token when it names no kid: a bound on the work an anonymous token can cause. */
const MAX_CANDIDATES = 8;

/**
 * Verify a compact JWS and return its claims (not yet checked: see checkClaims). The token's
 * `alg` only selects among the algorithms pinned to each key; a key is never used with an
 * algorithm it was not pinned to, so `none` and HS/RS confusion fail before any crypto runs.
 */
export async function verifyJwt(token: string, sources: KeySources): Promise<Verified> {
  if (!COMPACT_JWS.test(token)) return { ok: false, reason: 'malformed' };
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !(ALGORITHMS as readonly string[]).includes(alg)) return { ok: false, reason: 'bad-algorithm' };
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  if (header.kid !== undefined && kid === undefined) return { ok: false, reason: 'malformed' };

  let candidates: readonly VerificationKey[] = selectStatic(sources.static, kid, alg as Algorithm);
  const staticAllows = sources.static.some((k) => k.algorithms.has(alg as Algorithm));
  const jwksAllows = sources.jwks !== null && sources.jwksAlgorithms.has(alg as Algorithm);
  if (!staticAllows && !jwksAllows) return { ok: false, reason: 'bad-algorithm' };
  if (candidates.length === 0 && jwksAllows) {
    try {
      candidates = await sources.jwks!.keysFor(kid, alg as Algorithm);
    } catch (err) {
      if (err instanceof JwksUnavailableError) return { ok: false, reason: 'jwks-unavailable' };
      throw err;
    }
  }
  if (candidates.length === 0) return { ok: false, reason: 'unknown-key' };

  for (const candidate of candidates.slice(0, MAX_CANDIDATES)) {
    let payload: Uint8Array;
    try {
      ({ payload } = await compactVerify(token, candidate.key, { algorithms: [alg] }));
    } catch (err) {
      if (err instanceof errors.JWSSignatureVerificationFailed) continue;
      // The algorithm was settled above, so anything else jose refuses is the token's structure:
      // a bad header, an unknown `crit` extension, broken base64.
      return { ok: false, reason: 'malformed' };
    }
    return parseClaims(payload);
  }
  return { ok: false, reason: 'bad-signature' };
}

function selectStatic(keys: readonly VerificationKey[], kid: string | undefined, alg: Algorithm): VerificationKey[] {
  // A token naming a kid is checked against that key, or keys that have no kid at all.
  const named = kid === undefined ? [] : keys.filter((k) => k.kid === kid && k.algorithms.has(alg));
  if (named.length > 0) return named;
  return keys.filter((k) => (kid === undefined || k.kid === undefined) && k.algorithms.has(alg));
}

function parseClaims(payload: Uint8Array): Verified {
  let claims: unknown;
  try {
    claims = JSON.parse(decoder.decode(payload));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return { ok: false, reason: 'malformed' };
  return { ok: true, claims: claims as Claims };
}
