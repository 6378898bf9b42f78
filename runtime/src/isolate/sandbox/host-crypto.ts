import { createHash, createHmac, createPrivateKey, createPublicKey, ECDH, randomFillSync, sign, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * The host half of a plugin's `crypto`: what only the host can do (randomness, and Node's native
 * crypto instead of hashing and curve arithmetic in interpreted JavaScript). Called synchronously
 * from the isolate (sandbox-script.ts passes it as one sync isolated-vm Callback, picked up and
 * hidden by the sandbox's own code), so the time spent here is the hook thread's CPU time, which
 * the watchdog counts against the plugin's limit. A native call cannot be interrupted, so every
 * input is bounded: one call hashes at most MAX_HOST_INPUT_BYTES.
 *
 * Failures are answered, not thrown: a string `"<DOMException name>: <message>"` (no result is a
 * string), which the isolate turns into the DOMException WebCrypto specifies.
 */

/**
 * The largest buffer one host call takes: 8 MiB hashes in ~15-30 ms here (SHA-256, no SHA
 * extensions), under the default 50 ms CPU limit, and 8x the default body bound of a plugin.
 */
export const MAX_HOST_INPUT_BYTES = 8 * 1024 * 1024;
/** WebCrypto's own bound for one getRandomValues call. */
export const MAX_RANDOM_BYTES = 65_536;

/** The canonical form of an imported key: raw secret bytes, SPKI (public) or PKCS#8 (private) DER. */
export interface ImportedKey {
  t: 'secret' | 'public' | 'private';
  m: ArrayBuffer;
}

export type SandboxHostCall = (op: string, ...args: unknown[]) => unknown;

const HASHES: Readonly<Record<string, string>> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
/** WebCrypto curve names and what Node reports for them. */
const CURVES: Readonly<Record<string, string>> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };
/** Parsed keys kept per isolate: building a KeyObject from DER costs ~30 µs, a P-256 verify ~80. */
const KEY_CACHE_SIZE = 32;

class Refusal extends Error {
  readonly domName: string;
  constructor(domName: string, message: string) {
    super(message);
    this.domName = domName;
  }
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new Refusal('TypeError', `${what} must be bytes`);
  if (value.byteLength > MAX_HOST_INPUT_BYTES) throw new Refusal('OperationError', `${what} is larger than ${MAX_HOST_INPUT_BYTES} bytes, the most one crypto call takes in a plugin`);
  return value;
}

function hashName(name: unknown): string {
  const hash = typeof name === 'string' ? HASHES[name] : undefined;
  if (!hash) throw new Refusal('NotSupportedError', `unsupported hash ${String(name)}`);
  return hash;
}

function toArrayBuffer(buf: Buffer): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

/** A raw public key (an EC point, compressed or not, or 32 Ed25519 bytes) as a JWK Node can import. */
function rawPublicJwk(kind: string, curve: string | undefined, raw: Uint8Array): JsonWebKey {
  if (kind === 'Ed25519') {
    if (raw.byteLength !== 32) throw new Refusal('DataError', 'an Ed25519 raw public key is 32 bytes');
    return { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) };
  }
  let point: Buffer;
  try {
    point = ECDH.convertKey(raw, CURVES[curve!]!, undefined, undefined, 'uncompressed') as Buffer;
  } catch {
    throw new Refusal('DataError', `not a point on ${curve}`);
  }
  const size = (point.byteLength - 1) / 2;
  return { kty: 'EC', crv: curve, x: b64url(point.subarray(1, 1 + size)), y: b64url(point.subarray(1 + size)) };
}

/** Check that a parsed key is the algorithm's kind of key (an EC key on the named curve, or Ed25519). */
function checkKind(key: KeyObject, kind: string, curve: string | undefined): void {
  const ok = kind === 'Ed25519' ? key.asymmetricKeyType === 'ed25519' : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[curve!];
  if (!ok) throw new Refusal('DataError', kind === 'Ed25519' ? 'not an Ed25519 key' : `not an ECDSA key on ${curve}`);
}

function importAsymmetric(kind: string, curve: string | undefined, format: string, data: unknown): ImportedKey {
  if (kind === 'ECDSA' && !(curve && curve in CURVES)) throw new Refusal('NotSupportedError', `unsupported namedCurve ${String(curve)}`);
  let key: KeyObject;
  try {
    if (format === 'spki') key = createPublicKey({ key: Buffer.from(bytes(data, 'keyData')), format: 'der', type: 'spki' });
    else if (format === 'pkcs8') key = createPrivateKey({ key: Buffer.from(bytes(data, 'keyData')), format: 'der', type: 'pkcs8' });
    else if (format === 'raw') key = createPublicKey({ key: rawPublicJwk(kind, curve, bytes(data, 'keyData')), format: 'jwk' });
    else if (format === 'jwk') {
      const jwk = data as JsonWebKey;
      if (kind === 'ECDSA' && (jwk.kty !== 'EC' || jwk.crv !== curve)) throw new Refusal('DataError', `the JWK is not an EC key on ${curve}`);
      if (kind === 'Ed25519' && (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519')) throw new Refusal('DataError', 'the JWK is not an Ed25519 key');
      key = typeof jwk.d === 'string' ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' });
    } else throw new Refusal('NotSupportedError', `format ${format} is not supported for ${kind}`);
  } catch (err) {
    if (err instanceof Refusal) throw err;
    throw new Refusal('DataError', `invalid ${format} key data for ${kind}`);
  }
  checkKind(key, kind, curve);
  if (key.type === 'private') return { t: 'private', m: toArrayBuffer(key.export({ type: 'pkcs8', format: 'der' })) };
  return { t: 'public', m: toArrayBuffer(key.export({ type: 'spki', format: 'der' })) };
}

function importSecret(format: string, data: unknown): ImportedKey {
  if (format === 'raw') return { t: 'secret', m: toArrayBuffer(Buffer.from(bytes(data, 'keyData'))) };
  if (format === 'jwk') {
    const jwk = data as JsonWebKey;
    if (jwk.kty !== 'oct' || typeof jwk.k !== 'string' || !/^[A-Za-z0-9_-]*$/.test(jwk.k)) throw new Refusal('DataError', 'the JWK is not an oct key with a base64url "k"');
    return { t: 'secret', m: toArrayBuffer(Buffer.from(jwk.k, 'base64url')) };
  }
  throw new Refusal('NotSupportedError', `format ${format} is not supported for HMAC`);
}

/**
 * One plugin isolate's host functions, behind one dispatcher (one Callback crossing per call).
 * Stateless but for a small cache of parsed keys, which goes with the isolate.
 */
export function createSandboxHost(): SandboxHostCall {
  const keys = new Map<string, KeyObject>();
  const keyObject = (type: 'public' | 'private', der: Uint8Array): KeyObject => {
    const id = `${type[1]}${Buffer.from(der).toString('base64')}`;
    let key = keys.get(id);
    if (key) {
      // Most recently used last: the first entry is the one to evict.
      keys.delete(id);
    } else {
      key = type === 'public' ? createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }) : createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
      if (keys.size >= KEY_CACHE_SIZE) keys.delete(keys.keys().next().value!);
    }
    keys.set(id, key);
    return key;
  };

  const signer = (kind: string, hash: unknown, type: unknown, material: Uint8Array) => {
    if (kind === 'HMAC') return null;
    if (type !== 'public' && type !== 'private') throw new Refusal('InvalidAccessError', 'not an asymmetric key');
    const key = keyObject(type, material);
    return { key, hash: kind === 'ECDSA' ? hashName(hash) : null };
  };

  const ops: Record<string, (...args: unknown[]) => unknown> = {
    random(n) {
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_RANDOM_BYTES) throw new Refusal('QuotaExceededError', `getRandomValues takes at most ${MAX_RANDOM_BYTES} bytes`);
      return toArrayBuffer(randomFillSync(Buffer.alloc(n)));
    },
    digest(hash, data) {
      return toArrayBuffer(createHash(hashName(hash)).update(bytes(data, 'data')).digest());
    },
    importKey(kind, format, data, curve) {
      if (kind === 'HMAC') return importSecret(String(format), data);
      if (kind === 'ECDSA' || kind === 'Ed25519') return importAsymmetric(kind, curve as string | undefined, String(format), data);
      throw new Refusal('NotSupportedError', `unsupported algorithm ${String(kind)}`);
    },
    sign(kind, hash, type, material, data) {
      const m = bytes(material, 'key');
      const input = bytes(data, 'data');
      const s = signer(String(kind), hash, type, m);
      if (!s) return toArrayBuffer(createHmac(hashName(hash), m).update(input).digest());
      if (s.key.type !== 'private') throw new Refusal('InvalidAccessError', 'signing needs a private key');
      return toArrayBuffer(sign(s.hash, input, { key: s.key, dsaEncoding: 'ieee-p1363' }));
    },
    verify(kind, hash, type, material, signature, data) {
      const m = bytes(material, 'key');
      const sig = bytes(signature, 'signature');
      const input = bytes(data, 'data');
      const s = signer(String(kind), hash, type, m);
      if (!s) {
        const mac = createHmac(hashName(hash), m).update(input).digest();
        return mac.byteLength === sig.byteLength && timingSafeEqual(mac, sig);
      }
      if (s.key.type !== 'public') throw new Refusal('InvalidAccessError', 'verifying needs a public key');
      try {
        return verify(s.hash, input, { key: s.key, dsaEncoding: 'ieee-p1363' }, sig);
      } catch {
        return false; // a malformed signature is a failed verification, not an error
      }
    },
  };

  return function sandboxHost(op, ...args) {
    const fn = Object.hasOwn(ops, op) ? ops[op] : undefined;
    if (!fn) return `NotSupportedError: ${String(op)}`;
    try {
      return fn(...args);
    } catch (err) {
      if (err instanceof Refusal) return `${err.domName}: ${err.message}`;
      return `OperationError: ${err instanceof Error ? err.message : String(err)}`;
    }
  };
}
