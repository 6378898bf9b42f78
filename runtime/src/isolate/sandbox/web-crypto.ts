/**
 * The plugin's `crypto` global (WebCrypto's getRandomValues, randomUUID and a subtle with digest,
 * importKey, sign and verify for HMAC, ECDSA and Ed25519). Runs inside the plugin isolate, bundled
 * into the sandbox script (sandbox-entry.ts); never in the host.
 *
 * The work is done by the host (host-crypto.ts) through one synchronous function, `host`, which
 * only this closure holds: it is called directly, never through `.call`/`.apply` or stored on an
 * object, so nothing plugin code can patch (Function.prototype, a getter) ever receives it. The
 * subtle methods are promise-shaped as WebCrypto specifies but settle at once: the host answered
 * synchronously, inside the plugin's call, under its CPU limit.
 *
 * A key's material (raw secret, SPKI or PKCS#8 bytes, as the host normalised it) stays in a
 * WeakMap here: plugin code sees a CryptoKey with type, algorithm and usages, never the bytes.
 */

import { domException } from './lazy-globals.ts';

type Host = (op: string, ...args: unknown[]) => unknown;
type Bytes = Uint8Array<ArrayBuffer>;

interface KeyData {
  material: Bytes;
  hash: string | null;
}

const HASHES = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'];
const CURVES = ['P-256', 'P-384', 'P-521'];
const HMAC_JWK_ALG: Record<string, string> = { 'SHA-1': 'HS1', 'SHA-256': 'HS256', 'SHA-384': 'HS384', 'SHA-512': 'HS512' };
const FORMATS = ['raw', 'spki', 'pkcs8', 'jwk'];
const USAGES = ['encrypt', 'decrypt', 'sign', 'verify', 'deriveKey', 'deriveBits', 'wrapKey', 'unwrapKey'];


/** The host's answer, or the DOMException (or TypeError) it named. */
function answer<T>(result: unknown): T {
  if (typeof result !== 'string') return result as T;
  const colon = result.indexOf(': ');
  const name = result.slice(0, colon);
  const message = result.slice(colon + 2);
  throw name === 'TypeError' ? new TypeError(message) : domException(message, name);
}

/**
 * A BufferSource as exactly its bytes. isolated-vm copies a view's whole backing buffer across,
 * so a view of part of a buffer is sliced first (and the host never copies more than it is given).
 */
function bufferSource(value: unknown, what: string): Bytes {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) {
    const whole = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
    const view = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return whole ? view : view.slice();
  }
  throw new TypeError(`${what} must be an ArrayBuffer or an ArrayBuffer view`);
}

function algorithmName(algorithm: unknown): string {
  const name = typeof algorithm === 'string' ? algorithm : (algorithm as { name?: unknown } | null)?.name;
  if (typeof name !== 'string') throw new TypeError('the algorithm needs a name');
  return name;
}

/** WebCrypto compares algorithm names case-insensitively and answers the registered spelling. */
function registered(name: string, known: readonly string[]): string {
  const found = known.find((k) => k.toLowerCase() === name.toLowerCase());
  if (!found) throw domException(`unrecognised algorithm name ${name}`, 'NotSupportedError');
  return found;
}

function hashOf(algorithm: unknown): string {
  const hash = (algorithm as { hash?: unknown } | null)?.hash;
  if (hash === undefined) throw new TypeError('the algorithm needs a hash');
  return registered(algorithmName(hash), HASHES);
}

export function createWebCrypto(host: Host) {
  const keys = new WeakMap<object, KeyData>();
  let creating = false;

  /** What a key is; plugin code cannot construct one (only importKey does). */
  class CryptoKey {
    readonly type: 'secret' | 'public' | 'private';
    readonly extractable: boolean;
    readonly algorithm: Readonly<Record<string, unknown>>;
    readonly usages: readonly string[];
    constructor(type: 'secret' | 'public' | 'private', extractable: boolean, algorithm: Record<string, unknown>, usages: string[], data: KeyData) {
      if (!creating) throw new TypeError('Illegal constructor');
      this.type = type;
      this.extractable = extractable;
      this.algorithm = Object.freeze(algorithm);
      this.usages = Object.freeze(usages);
      keys.set(this, data);
      Object.freeze(this);
    }
    get [Symbol.toStringTag]() {
      return 'CryptoKey';
    }
  }

  const newKey = (type: 'secret' | 'public' | 'private', extractable: boolean, algorithm: Record<string, unknown>, usages: string[], data: KeyData): CryptoKey => {
    creating = true;
    try {
      return new CryptoKey(type, extractable, algorithm, usages, data);
    } finally {
      creating = false;
    }
  };

  function usagesOf(value: unknown, allowed: readonly string[], kind: string): string[] {
    if (!Array.isArray(value)) throw new TypeError('keyUsages must be an array');
    const out: string[] = [];
    for (const u of value) {
      if (!USAGES.includes(u)) throw new TypeError(`unknown key usage ${String(u)}`);
      if (!allowed.includes(u)) throw domException(`${kind} keys cannot be used to ${String(u)}`, 'SyntaxError');
      if (!out.includes(u)) out.push(u);
    }
    return out;
  }

  async function importKey(format: unknown, keyData: unknown, algorithm: unknown, extractable: unknown, keyUsages: unknown): Promise<CryptoKey> {
    if (!FORMATS.includes(format as string)) throw new TypeError(`unknown key format ${String(format)}`);
    const name = registered(algorithmName(algorithm), ['HMAC', 'ECDSA', 'Ed25519']);
    const jwk = format === 'jwk';
    if (jwk && (keyData === null || typeof keyData !== 'object' || ArrayBuffer.isView(keyData) || keyData instanceof ArrayBuffer)) throw new TypeError('a jwk key is a JSON Web Key object');
    // A JWK crosses as a plain copy of its string fields: nothing of the plugin's object reaches the host.
    const data = jwk ? jwkFields(keyData as Record<string, unknown>) : bufferSource(keyData, 'keyData');
    if (jwk) checkJwk(data as Record<string, unknown>, Boolean(extractable), keyUsages);

    if (name === 'HMAC') {
      const hash = hashOf(algorithm);
      const usages = usagesOf(keyUsages, ['sign', 'verify'], 'HMAC');
      if (jwk) {
        const alg = (data as Record<string, unknown>)['alg'];
        if (alg !== undefined && alg !== HMAC_JWK_ALG[hash]) throw domException(`the JWK's alg ${String(alg)} is not ${HMAC_JWK_ALG[hash]}`, 'DataError');
      }
      const key = answer<{ t: 'secret'; m: ArrayBuffer }>(host('importKey', 'HMAC', format, data));
      const bits = key.m.byteLength * 8;
      const length = (algorithm as { length?: unknown }).length;
      if (bits === 0) throw domException('an HMAC key cannot be empty', 'DataError');
      if (length !== undefined && (typeof length !== 'number' || length > bits || length <= bits - 8)) throw domException(`the key has ${bits} bits, not ${String(length)}`, 'DataError');
      if (usages.length === 0) throw domException('a secret key needs at least one usage', 'SyntaxError');
      return newKey('secret', Boolean(extractable), { name, hash: { name: hash }, length: bits }, usages, { material: new Uint8Array(key.m), hash });
    }

    const curve = name === 'ECDSA' ? (algorithm as { namedCurve?: unknown }).namedCurve : undefined;
    if (name === 'ECDSA' && !CURVES.includes(curve as string)) throw domException(`unsupported namedCurve ${String(curve)}`, 'NotSupportedError');
    const key = answer<{ t: 'public' | 'private'; m: ArrayBuffer }>(host('importKey', name, format, data, curve));
    const usages = usagesOf(keyUsages, key.t === 'public' ? ['verify'] : ['sign'], `${name} ${key.t}`);
    if (key.t === 'private' && usages.length === 0) throw domException('a private key needs at least one usage', 'SyntaxError');
    const described = name === 'ECDSA' ? { name, namedCurve: curve } : { name };
    // Public keys are always extractable (WebCrypto); private ones as asked.
    return newKey(key.t, key.t === 'public' ? true : Boolean(extractable), described, usages, { material: new Uint8Array(key.m), hash: null });
  }

  function jwkFields(jwk: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const field of ['kty', 'crv', 'x', 'y', 'd', 'k', 'alg', 'use', 'ext']) {
      const v = jwk[field];
      if (v !== undefined) out[field] = typeof v === 'boolean' ? v : String(v);
    }
    const ops = jwk['key_ops'];
    if (ops !== undefined) out['key_ops'] = Array.isArray(ops) ? ops.map(String) : ops;
    return out;
  }

  function checkJwk(jwk: Record<string, unknown>, extractable: boolean, usages: unknown): void {
    if (jwk['use'] !== undefined && jwk['use'] !== 'sig') throw domException('the JWK is not for signatures (use)', 'DataError');
    if (jwk['ext'] === false && extractable) throw domException('the JWK is not extractable (ext: false)', 'DataError');
    const ops = jwk['key_ops'];
    if (ops === undefined) return;
    if (!Array.isArray(ops)) throw new TypeError('key_ops must be an array');
    if (Array.isArray(usages) && usages.some((u) => !ops.includes(u))) throw domException("the key's usages are not all in the JWK's key_ops", 'DataError');
  }

  function keyFor(key: unknown, algorithm: unknown, usage: 'sign' | 'verify'): { name: string; data: KeyData; key: CryptoKey } {
    const data = typeof key === 'object' && key !== null ? keys.get(key) : undefined;
    if (!data) throw new TypeError('key is not a CryptoKey');
    const k = key as CryptoKey;
    const name = registered(algorithmName(algorithm), ['HMAC', 'ECDSA', 'Ed25519']);
    if (name !== k.algorithm['name']) throw domException(`the key is for ${String(k.algorithm['name'])}, not ${name}`, 'InvalidAccessError');
    if (!k.usages.includes(usage)) throw domException(`the key's usages do not include ${usage}`, 'InvalidAccessError');
    return { name, data, key: k };
  }

  const subtle = Object.freeze({
    async digest(algorithm: unknown, data: unknown): Promise<ArrayBuffer> {
      const hash = registered(algorithmName(algorithm), HASHES);
      return answer<ArrayBuffer>(host('digest', hash, bufferSource(data, 'data')));
    },
    importKey,
    async sign(algorithm: unknown, key: unknown, data: unknown): Promise<ArrayBuffer> {
      const k = keyFor(key, algorithm, 'sign');
      const hash = k.name === 'ECDSA' ? hashOf(algorithm) : k.data.hash;
      return answer<ArrayBuffer>(host('sign', k.name, hash, k.key.type, k.data.material, bufferSource(data, 'data')));
    },
    async verify(algorithm: unknown, key: unknown, signature: unknown, data: unknown): Promise<boolean> {
      const k = keyFor(key, algorithm, 'verify');
      const hash = k.name === 'ECDSA' ? hashOf(algorithm) : k.data.hash;
      return answer<boolean>(host('verify', k.name, hash, k.key.type, k.data.material, bufferSource(signature, 'signature'), bufferSource(data, 'data')));
    },
  });

  const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];

  function getRandomValues<T extends ArrayBufferView>(array: T): T {
    if (!INTEGER_ARRAYS.some((C) => array instanceof C)) throw domException('getRandomValues takes an integer typed array', 'TypeMismatchError');
    const view = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    if (view.byteLength > 65_536) throw domException(`getRandomValues takes at most 65536 bytes, not ${view.byteLength}`, 'QuotaExceededError');
    view.set(new Uint8Array(answer<ArrayBuffer>(host('random', view.byteLength))));
    return array;
  }

  const HEX = Array.from({ length: 256 }, (_, i) => (i + 0x100).toString(16).slice(1));

  /** RFC 9562 version 4: 122 random bits, the version and variant bits set. */
  function randomUUID(): `${string}-${string}-${string}-${string}-${string}` {
    const b = new Uint8Array(answer<ArrayBuffer>(host('random', 16)));
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = (i: number) => HEX[b[i]!]!;
    return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
  }

  const crypto = Object.freeze({ subtle, getRandomValues, randomUUID, [Symbol.toStringTag]: 'Crypto' });
  Object.freeze(CryptoKey.prototype);
  return { crypto, CryptoKey };
}
