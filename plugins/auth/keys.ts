import { createPublicKey, createSecretKey, type JsonWebKeyInput, type KeyObject } from 'node:crypto';

/** Every JWS algorithm the plugin verifies. `none` is not one of them, by construction. */
export const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/**
 * A key the plugin verifies with, and the only algorithms it may be used with. Pinning the
 * algorithms to the key (never trusting the token's `alg` alone) is what makes HS/RS confusion
 * impossible: an RSA public key is never offered to an HMAC check.
 */
export interface VerificationKey {
  readonly kid: string | undefined;
  readonly key: KeyObject;
  readonly algorithms: ReadonlySet<Algorithm>;
}

export type KeyImport = { ok: true; key: VerificationKey } | { ok: false; message: string };

const HMAC_BYTES: Partial<Record<Algorithm, number>> = { HS256: 32, HS384: 48, HS512: 64 };
const EC_CURVES: Record<string, Algorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const RSA_ALGS: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const PSS_ALGS: Algorithm[] = ['PS256', 'PS384', 'PS512'];
const MIN_RSA_BITS = 2048;

/**
 * The algorithms a key can serve. For an HMAC secret, only those whose hash is no longer than the
 * secret (RFC 7518 §3.2: the key must be at least as long as the hash output).
 */
export function compatibleAlgorithms(key: KeyObject): Algorithm[] {
  if (key.type === 'secret') {
    const bytes = key.symmetricKeySize ?? 0;
    return (['HS256', 'HS384', 'HS512'] as const).filter((alg) => bytes >= HMAC_BYTES[alg]!);
  }
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA_ALGS;
    case 'rsa-pss':
      return PSS_ALGS;
    case 'ec': {
      const alg = EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg ? [alg] : [];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

function describe(key: KeyObject): string {
  if (key.type === 'secret') return `a ${key.symmetricKeySize ?? 0}-byte secret`;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `an ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` (${curve})` : ''} key`;
}

/** Check a key's strength and pin its algorithms: the requested ones, or all it can serve. */
export function pinAlgorithms(kid: string | undefined, key: KeyObject, requested: readonly Algorithm[] | undefined): KeyImport {
  if (key.type === 'secret' && (key.symmetricKeySize ?? 0) < 32) {
    return { ok: false, message: 'an HMAC secret must be at least 32 bytes (256 bits, RFC 7518 §3.2)' };
  }
  if ((key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    return { ok: false, message: `RSA keys must be at least ${MIN_RSA_BITS} bits` };
  }
  const compatible = compatibleAlgorithms(key);
  if (compatible.length === 0) return { ok: false, message: `${describe(key)} cannot verify any supported algorithm (${ALGORITHMS.join(', ')})` };
  if (requested === undefined) return { ok: true, key: { kid, key, algorithms: new Set(compatible) } };
  const wrong = requested.filter((alg) => !compatible.includes(alg));
  if (wrong.length > 0) {
    return { ok: false, message: `${wrong.join(', ')} cannot be used with ${describe(key)} (it can serve ${compatible.join(', ')})` };
  }
  return { ok: true, key: { kid, key, algorithms: new Set(requested) } };
}

/** An HMAC secret: the UTF-8 bytes of the configured string. */
export function importSecret(kid: string | undefined, secret: string, algorithms?: readonly Algorithm[]): KeyImport {
  return pinAlgorithms(kid, createSecretKey(Buffer.from(secret, 'utf8')), algorithms);
}

/** A PEM public key (SPKI, PKCS#1) or X.509 certificate. A private key is refused: the gateway only verifies. */
export function importPem(kid: string | undefined, pem: string, algorithms?: readonly Algorithm[]): KeyImport {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return { ok: false, message: 'this is a private key: give the public key (the gateway only verifies)' };
  if (!pem.includes('-----BEGIN ')) return { ok: false, message: 'expected a PEM public key ("-----BEGIN PUBLIC KEY-----") or certificate' };
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    return { ok: false, message: 'not a readable PEM public key or certificate' };
  }
  return pinAlgorithms(kid, key, algorithms);
}

/**
 * A JWK: a public key, or (`kty: "oct"`, only when configured locally) a secret. The JWK's own
 * `alg`, when present, pins the key to that one algorithm.
 */
export function importJwk(jwk: Record<string, unknown>, algorithms?: readonly Algorithm[], allowSecret = true): KeyImport {
  const kid = typeof jwk['kid'] === 'string' ? jwk['kid'] : undefined;
  if (jwk['d'] !== undefined) return { ok: false, message: 'this JWK holds a private key ("d"): give the public key (the gateway only verifies)' };
  let pinned = algorithms;
  if (jwk['alg'] !== undefined) {
    const alg = jwk['alg'];
    if (!ALGORITHMS.includes(alg as Algorithm)) return { ok: false, message: `the JWK's "alg" ${JSON.stringify(alg)} is not a supported signing algorithm` };
    if (algorithms !== undefined && !algorithms.includes(alg as Algorithm)) return { ok: false, message: `the JWK's "alg" ${String(alg)} is not among the configured algorithms` };
    pinned = [alg as Algorithm];
  }
  let key: KeyObject;
  try {
    if (jwk['kty'] === 'oct') {
      if (!allowSecret) return { ok: false, message: 'symmetric ("oct") keys are not accepted from a remote key set' };
      if (typeof jwk['k'] !== 'string') return { ok: false, message: 'an "oct" JWK needs "k"' };
      key = createSecretKey(Buffer.from(jwk['k'], 'base64url'));
    } else {
      key = createPublicKey({ key: jwk, format: 'jwk' } as JsonWebKeyInput);
    }
  } catch {
    return { ok: false, message: 'not a readable JWK' };
  }
  return pinAlgorithms(kid, key, pinned);
}

/**
 * Whether a key from a JWKS is meant for verifying signatures: `use` and `key_ops`, when present,
 * must say so (RFC 7517 §4.2, §4.3).
 */
export function isSigningJwk(jwk: Record<string, unknown>): boolean {
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return false;
  const ops = jwk['key_ops'];
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return false;
  return true;
}
