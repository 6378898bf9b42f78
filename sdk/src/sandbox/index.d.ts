/**
 * `@isogate/sdk/sandbox`: the global environment of a plugin, for TypeScript. A plugin runs in a
 * V8 isolate, not in Node: it has the ECMAScript built-ins (`lib: ["es2024"]`) and exactly the
 * globals declared here, the WinterTC minimum that makes sense inside a hook. There is no
 * `process`, `require`, `fetch` (use `ctx.fetch`), timers or DOM, so using one is a type error.
 *
 * Use it in the plugin's tsconfig instead of Node's types:
 * `{ "compilerOptions": { "lib": ["es2024"], "types": ["@isogate/sdk/sandbox"] } }`.
 *
 * A script, not a module: everything here is global. Keep it to what the gateway's sandbox
 * installs (runtime/src/isolate/sandbox/sandbox-entry.ts).
 * @packageDocumentation
 */

/* eslint-disable no-var -- globals are declared with `declare var` (as lib.dom.d.ts does), so they are properties of globalThis too. */

/** Bytes given to a crypto or text call: an ArrayBuffer, or a view of one. */
type BufferSource = ArrayBufferView | ArrayBuffer;

// ---- URL -------------------------------------------------------------------

/**
 * The WHATWG URL.
 * @example
 * const target = new URL('../login', 'https://app.example.com/a/b');
 * target.searchParams.set('next', req.path);
 * return { status: 302, headers: { location: target.href } };
 */
interface URL {
  hash: string;
  host: string;
  hostname: string;
  href: string;
  toString(): string;
  readonly origin: string;
  password: string;
  pathname: string;
  port: string;
  protocol: string;
  search: string;
  readonly searchParams: URLSearchParams;
  username: string;
  toJSON(): string;
}
declare var URL: {
  prototype: URL;
  new (url: string | URL, base?: string | URL): URL;
  /** Whether `new URL(url, base)` would succeed. */
  canParse(url: string | URL, base?: string | URL): boolean;
  /** `new URL(url, base)`, or null where that would throw. */
  parse(url: string | URL, base?: string | URL): URL | null;
};

/**
 * A query string's name/value pairs.
 * @example
 * const params = new URLSearchParams(req.query);
 * const page = Number(params.get('page') ?? '1');
 */
interface URLSearchParams {
  readonly size: number;
  append(name: string, value: string): void;
  delete(name: string, value?: string): void;
  get(name: string): string | null;
  getAll(name: string): string[];
  has(name: string, value?: string): boolean;
  set(name: string, value: string): void;
  sort(): void;
  toString(): string;
  forEach(callbackfn: (value: string, key: string, parent: URLSearchParams) => void, thisArg?: unknown): void;
  [Symbol.iterator](): URLSearchParamsIterator<[string, string]>;
  entries(): URLSearchParamsIterator<[string, string]>;
  keys(): URLSearchParamsIterator<string>;
  values(): URLSearchParamsIterator<string>;
}
interface URLSearchParamsIterator<T> extends IteratorObject<T, BuiltinIteratorReturn, unknown> {
  [Symbol.iterator](): URLSearchParamsIterator<T>;
}
declare var URLSearchParams: {
  prototype: URLSearchParams;
  new (init?: string[][] | Record<string, string> | string | URLSearchParams): URLSearchParams;
};

// ---- Encoding --------------------------------------------------------------

/**
 * Strings to UTF-8 bytes.
 * @example
 * const bytes = new TextEncoder().encode(req.headers.get('x-payload') ?? '');
 */
interface TextEncoder {
  readonly encoding: 'utf-8';
  encode(input?: string): Uint8Array<ArrayBuffer>;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}
declare var TextEncoder: {
  prototype: TextEncoder;
  new (): TextEncoder;
};

interface TextDecoderOptions {
  /** Throw a TypeError on malformed input instead of writing U+FFFD. */
  fatal?: boolean;
  ignoreBOM?: boolean;
}
interface TextDecodeOptions {
  stream?: boolean;
}

/**
 * Bytes to a string (UTF-8 by default; UTF-16 and the single-byte encodings too).
 * @example
 * const text = new TextDecoder().decode(req.body as Uint8Array);
 */
interface TextDecoder {
  readonly encoding: string;
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  decode(input?: BufferSource, options?: TextDecodeOptions): string;
}
declare var TextDecoder: {
  prototype: TextDecoder;
  new (label?: string, options?: TextDecoderOptions): TextDecoder;
};

/**
 * Decode base64 to a binary string (one character per byte).
 * @example
 * const [user, password] = atob(authorization.slice('Basic '.length)).split(':');
 */
declare function atob(data: string): string;
/**
 * Encode a binary string (characters up to U+00FF) as base64.
 * @example
 * const basic = 'Basic ' + btoa(`${user}:${password}`);
 */
declare function btoa(data: string): string;

// ---- structuredClone and DOMException ---------------------------------------

/**
 * A deep copy of a value: objects, arrays, Map, Set, Date, RegExp, errors, typed arrays and
 * cycles. A function or a symbol throws a DataCloneError. Nothing can be transferred.
 * @example
 * const copy = structuredClone(ctx.options.defaults);
 */
declare function structuredClone<T = unknown>(value: T, options?: { transfer?: [] }): T;

/** The error WebCrypto, atob and structuredClone throw, with a name such as `DataError`. */
interface DOMException extends Error {
  readonly code: number;
  readonly message: string;
  readonly name: string;
}
declare var DOMException: {
  prototype: DOMException;
  new (message?: string, name?: string): DOMException;
};

// ---- crypto ------------------------------------------------------------------

type KeyUsage = 'sign' | 'verify';
type KeyFormat = 'jwk' | 'pkcs8' | 'raw' | 'spki';
type KeyType = 'private' | 'public' | 'secret';
/** SHA-1, SHA-256, SHA-384 or SHA-512. */
type HashAlgorithmIdentifier = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512' | { name: 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512' };
type NamedCurve = 'P-256' | 'P-384' | 'P-521';

interface Algorithm {
  name: string;
}
interface HmacImportParams extends Algorithm {
  name: 'HMAC';
  hash: HashAlgorithmIdentifier;
  /** The key's length in bits, when it must be checked. */
  length?: number;
}
interface EcKeyImportParams extends Algorithm {
  name: 'ECDSA';
  namedCurve: NamedCurve;
}
interface EcdsaParams extends Algorithm {
  name: 'ECDSA';
  hash: HashAlgorithmIdentifier;
}
type ImportAlgorithm = HmacImportParams | EcKeyImportParams | 'Ed25519' | { name: 'Ed25519' };
type SignAlgorithm = 'HMAC' | { name: 'HMAC' } | EcdsaParams | 'Ed25519' | { name: 'Ed25519' };

/** A JSON Web Key: `oct` for HMAC, `EC` for ECDSA, `OKP` (crv Ed25519) for Ed25519. */
interface JsonWebKey {
  alg?: string;
  crv?: string;
  d?: string;
  ext?: boolean;
  k?: string;
  key_ops?: string[];
  kty?: string;
  use?: string;
  x?: string;
  y?: string;
}

/** A key made by `crypto.subtle.importKey`; its bytes stay out of reach. */
interface CryptoKey {
  readonly algorithm: { readonly name: string; readonly [param: string]: unknown };
  readonly extractable: boolean;
  readonly type: KeyType;
  readonly usages: KeyUsage[];
}
declare var CryptoKey: {
  prototype: CryptoKey;
  /** Throws a TypeError: only `crypto.subtle.importKey` makes keys (this is for `instanceof`). */
  new (): CryptoKey;
};

/**
 * WebCrypto's digest, importKey, sign and verify, for HMAC (SHA-1/256/384/512), ECDSA (P-256,
 * P-384, P-521) and Ed25519. Each call takes at most 8 MiB and counts against the hook's CPU limit.
 * @example
 * const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(ctx.options.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
 * const ok = await crypto.subtle.verify('HMAC', key, signature, new TextEncoder().encode(req.body as string));
 */
interface SubtleCrypto {
  digest(algorithm: HashAlgorithmIdentifier, data: BufferSource): Promise<ArrayBuffer>;
  importKey(format: 'jwk', keyData: JsonWebKey, algorithm: ImportAlgorithm, extractable: boolean, keyUsages: readonly KeyUsage[]): Promise<CryptoKey>;
  importKey(format: Exclude<KeyFormat, 'jwk'>, keyData: BufferSource, algorithm: ImportAlgorithm, extractable: boolean, keyUsages: readonly KeyUsage[]): Promise<CryptoKey>;
  sign(algorithm: SignAlgorithm, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer>;
  verify(algorithm: SignAlgorithm, key: CryptoKey, signature: BufferSource, data: BufferSource): Promise<boolean>;
}

/**
 * Randomness and WebCrypto.
 * @example
 * req.headers.set('x-request-id', crypto.randomUUID());
 */
interface Crypto {
  readonly subtle: SubtleCrypto;
  /** Fill an integer typed array (at most 65536 bytes) with random values, and return it. */
  getRandomValues<T extends Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array>(array: T): T;
  /** A random (version 4) UUID. */
  randomUUID(): `${string}-${string}-${string}-${string}-${string}`;
}
declare var crypto: Crypto;

// ---- console ---------------------------------------------------------------

/**
 * Written to the log of the request being handled, like `ctx.log`, with the file:line of the call:
 * `log`/`info`/`dir`/`table`/`count`/`time*` at info, `debug`/`trace` at debug, `warn`, and
 * `error`/a failed `assert` at error. Outside a hook (at module load) lines are dropped.
 * @example
 * console.log('tenant %s over quota', tenant, { used, limit });
 */
interface Console {
  assert(condition?: boolean, ...data: unknown[]): void;
  clear(): void;
  count(label?: string): void;
  countReset(label?: string): void;
  debug(...data: unknown[]): void;
  dir(item?: unknown, options?: unknown): void;
  dirxml(...data: unknown[]): void;
  error(...data: unknown[]): void;
  group(...data: unknown[]): void;
  groupCollapsed(...data: unknown[]): void;
  groupEnd(): void;
  info(...data: unknown[]): void;
  log(...data: unknown[]): void;
  table(tabularData?: unknown, properties?: string[]): void;
  time(label?: string): void;
  timeEnd(label?: string): void;
  timeLog(label?: string, ...data: unknown[]): void;
  trace(...data: unknown[]): void;
  warn(...data: unknown[]): void;
}
declare var console: Console;
