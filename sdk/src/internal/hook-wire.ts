/**
 * The host side of the hook protocol (the other side is `createHookRuntime`, next to the plugin):
 * the message a hook call sends, how a body is handed over, what a call answers, and how a body
 * the plugin put in place is turned back into bytes with the header fix-ups that go with it. The
 * gateway's plugin middleware and `@isogate/sdk/testing` share these so the harness treats
 * requests and bodies as the gateway does.
 *
 * Host side only (uses Node's Buffer): never imported by the SDK entry a plugin bundles. Exported
 * as `@isogate/sdk/internal/hook-wire` for the runtime only: not a public API.
 * @internal
 */

/**
 * What a hook call answers (JSON), as the hook runtime writes it. Fields are present only when
 * there is something to apply.
 * @internal
 * @example
 * const out = JSON.parse(await host.call('onRequest', message)) as HookOutput;
 */
export interface HookOutput {
  /** The per-request state after the hook. */
  s?: Record<string, unknown>;
  /** `verifier` only: the claims, or null when the token was rejected (`e` says why, for the log). */
  v?: Record<string, unknown> | null;
  e?: string;
  /** `verifier` only: the hook answered something that is neither claims nor null (a plugin bug). */
  x?: string;
  /** `verifier` only: a failed `ctx.fetch` escaped the hook: the verifier could not decide (an outage). */
  u?: string;
  /** `ctx.log` and `console` calls: level, message, fields (null for none), and for console the caller's `line:column` in the bundle. */
  l?: [string, string, unknown, string?][];
  /** A changed path (not yet normalised). */
  p?: string;
  /** A changed query. */
  q?: string;
  /** The request header list, when the hook changed it. */
  h?: HeaderOp[];
  /** The response status after onResponse. */
  st?: number;
  /** The response header list, when the hook changed it. */
  rh?: HeaderOp[];
  /** The request body the plugin put in place (see replacedBytes). */
  b?: unknown;
  /** The response body the plugin put in place. */
  rb?: unknown;
  /** A direct response returned by onRequest. */
  r?: { status?: unknown; headers?: unknown; body?: unknown };
}

/**
 * What a plugin may declare as `requestBody` / `responseBody`.
 * @internal
 * @example
 * const kind: BodyKind = 'json';
 */
export type BodyKind = 'text' | 'json' | 'bytes';

/**
 * The declared kind, or null for none (or one this version does not know).
 * @internal
 * @example
 * bodyKind('json'); // 'json'
 */
export function bodyKind(declared: unknown): BodyKind | null {
  return declared === 'text' || declared === 'json' || declared === 'bytes' ? declared : null;
}

/** Header fields by lower-case name, as the gateway holds them. */
type Headers = Record<string, string | string[]>;


/**
 * What a plugin gets when it declares `requestBody` / `responseBody` without `maxBodyBytes`.
 * @internal
 * @example
 * DEFAULT_MAX_BODY_BYTES; // 1048576
 */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * The bound a plugin declared, or the default when it declared nothing usable.
 * @internal
 * @example
 * resolveMaxBodyBytes(undefined); // DEFAULT_MAX_BODY_BYTES
 */
export function resolveMaxBodyBytes(declared: unknown): number {
  return typeof declared === 'number' && Number.isSafeInteger(declared) && declared >= 0 ? declared : DEFAULT_MAX_BODY_BYTES;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * True when a Content-Length is declared and already says the body is over `maxBytes`: refuse before reading.
 * @internal
 * @example
 * declaredTooLarge({ 'content-length': '2048' }, 1024); // true
 */
export function declaredTooLarge(headers: Headers, maxBytes: number): boolean {
  const length = single(headers['content-length']);
  if (length === undefined) return false;
  const declared = Number(length);
  return Number.isFinite(declared) && declared > maxBytes;
}

/**
 * Whether the body is in identity coding. Text and JSON are only handed to a plugin undecoded:
 * decompressing would make the bound meaningless (a small gzip body can inflate a thousandfold)
 * and re-encoding is not the gateway's business, so a coded body streams through untouched.
 * @internal
 * @example
 * isIdentityEncoded({ 'content-encoding': 'gzip' }); // false
 */
export function isIdentityEncoded(headers: Headers): boolean {
  const coding = single(headers['content-encoding']);
  return coding === undefined || coding.trim() === '' || coding.trim().toLowerCase() === 'identity';
}

const UTF8_BOM = '\uFEFF';

/**
 * The body as one JSON value to splice into the hook message (`undefined` when the plugin gets
 * no body): a string for 'text', base64 for 'bytes', and for 'json' the body's own text, spliced
 * verbatim once JSON.parse accepted it, so the isolate's single parse of the message is the only
 * one that builds the value. Throws SyntaxError for a 'json' body that is not JSON.
 * @internal
 * @example
 * bodyFragment('bytes', new Uint8Array([0, 255, 1])); // '"AP8B"'
 */
export function bodyFragment(kind: BodyKind, bytes: Uint8Array): string | undefined {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (kind === 'bytes') return `"${buffer.toString('base64')}"`;
  let text = buffer.toString('utf8');
  if (kind === 'text') return JSON.stringify(text);
  if (text.startsWith(UTF8_BOM)) text = text.slice(1);
  if (text.trim() === '') return undefined;
  JSON.parse(text);
  return text;
}

/**
 * A response body's fragment; a 'json' body that does not parse reaches the hook as `undefined`.
 * @internal
 * @example
 * responseFragment('json', new TextEncoder().encode('{oops')); // undefined
 */
export function responseFragment(kind: BodyKind, bytes: Uint8Array): string | undefined {
  try {
    return bodyFragment(kind, bytes);
  } catch {
    return undefined;
  }
}

/**
 * What a hook is told about a request besides its headers and body.
 * @internal
 * @example
 * const fields: HookRequestFields = { method: 'GET', path: '/', query: '', params: {}, clientIp: '::1', routeName: '/*', state: {}, claims: null };
 */
export interface HookRequestFields {
  method: string;
  path: string;
  query: string;
  params: Record<string, string>;
  clientIp: string;
  routeName: string;
  state: Record<string, unknown>;
  claims: Record<string, unknown> | null;
}

/**
 * A request's hook message, as the object `hookMessage` serializes (onResponse adds `rs`). The
 * request line is positional, `rq: [method, path, query, params, clientIp, routeName, bodyKind?]`:
 * the isolate parses an array faster than named fields (0.43 against 0.58 µs for this message),
 * on every hook call. State and claims are left out when there are none, as most requests have.
 * @internal
 * @example
 * requestMessage({ method: 'GET', path: '/a', query: '', params: {}, clientIp: '::1', routeName: '/*', state: {}, claims: null }, null); // { rq: ['GET', '/a', '', {}, '::1', '/*'] }
 */
export function requestMessage(req: HookRequestFields, bodyKind: BodyKind | null): Record<string, unknown> {
  const rq: unknown[] = [req.method, req.path, req.query, req.params, req.clientIp, req.routeName];
  if (bodyKind !== null) rq.push(bodyKind);
  const message: Record<string, unknown> = { rq };
  if (Object.keys(req.state).length > 0) message['s'] = req.state;
  if (req.claims !== null) message['c'] = req.claims;
  return message;
}

/**
 * The hook message as one JSON string. A body's fragment is spliced in as the top-level field
 * `field` ('qb' request body, 'sb' response body) rather than put in the object first: a 'json'
 * fragment is the body's own (validated) text, so the isolate's single parse of the message
 * builds the value.
 * @internal
 * @example
 * hookMessage({ rq: ['POST', '/', '', {}, '::1', '/*', 'json'] }, 'qb', '{"a":1}'); // '{"rq":["POST","/","",{},"::1","/*","json"],"qb":{"a":1}}'
 */
export function hookMessage(input: Record<string, unknown>, field: 'qb' | 'sb', fragment: string | undefined): string {
  const json = JSON.stringify(input);
  return fragment === undefined ? json : `${json.slice(0, -1)},"${field}":${fragment}}`;
}

/**
 * A hook call's arguments as the one string `HookRuntime.callPacked` takes: the hook's name and
 * the lengths of the message and the request headers, each ended by U+0000, then the texts back
 * to back (the response headers last, for onResponse). Framed by length, so nothing is searched
 * past the prefix and no text needs escaping.
 * @internal
 * @example
 * packHookCall('onRequest', '{"rq":{}}', '{}'); // 'onRequest\u00009\u00002\u0000{"rq":{}}{}'
 */
export function packHookCall(hook: string, input: string, requestHeaders: string, responseHeaders?: string): string {
  return `${hook}\u0000${input.length}\u0000${requestHeaders.length}\u0000${input}${requestHeaders}${responseHeaders ?? ''}`;
}

/**
 * A body the plugin put in place of the original: `[tag, payload]` as the hook runtime reports it.
 * @internal
 * @example
 * const replaced: ReplacedBody = ['j', '{"a":1}'];
 */
export type ReplacedBody = ['t' | 'j' | 'b' | 'e', string];

/**
 * The bytes of a replaced body, and whether it is JSON the hook runtime serialized.
 * @internal
 * @example
 * replacedBytes(['b', 'AP8B']); // { bytes: <00 ff 01>, json: false }
 */
export function replacedBytes(replaced: unknown): { bytes: Buffer; json: boolean } | null {
  if (!Array.isArray(replaced) || replaced.length !== 2 || typeof replaced[1] !== 'string') return null;
  const [tag, payload] = replaced as [unknown, string];
  switch (tag) {
    case 't':
      return { bytes: Buffer.from(payload, 'utf8'), json: false };
    case 'j':
      return { bytes: Buffer.from(payload, 'utf8'), json: true };
    case 'b':
      return { bytes: Buffer.from(payload, 'base64'), json: false };
    case 'e':
      return { bytes: Buffer.alloc(0), json: false };
    default:
      return null;
  }
}

/**
 * Statuses whose responses never have a body, so no Content-Length either.
 * @internal
 * @example
 * bodyless(204); // true
 */
export function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** Fields that describe bytes the plugin replaced: stale once the body is new. */
const STALE_WITH_NEW_BODY = ['content-length', 'etag', 'content-md5'];

/**
 * Put a replaced body's representation headers right. Text and JSON were only ever handed over
 * in identity coding, so what comes back is identity too; bytes are the coded representation as
 * it was sent, and the plugin keeps or changes `content-encoding` itself.
 * @internal
 * @example
 * fitHeaders(res.headers, 'json', replaced.bytes.byteLength, replaced.json, !bodyless(res.status));
 */
export function fitHeaders(headers: Headers, kind: BodyKind, length: number, json: boolean, withLength: boolean): void {
  for (const name of STALE_WITH_NEW_BODY) delete headers[name];
  delete headers['transfer-encoding'];
  if (kind !== 'bytes') delete headers['content-encoding'];
  if (json) headers['content-type'] ??= 'application/json; charset=utf-8';
  if (withLength) headers['content-length'] = String(length);
}

/**
 * A header change made by a hook, in order: set (replace), append, delete.
 * @internal
 * @example
 * const op: HeaderOp = ['s', 'x-tag', 'v1'];
 */
export type HeaderOp = ['s' | 'a', string, string] | ['d', string];

/**
 * The rules a hook's header changes and answered status must pass, with nothing outside the
 * function: its text (`headerRules.toString()`) is also evaluated in a shared plugin group's
 * isolate, where consecutive hooks run in one crossing and each hook must see the headers and
 * status the host will apply (runtime/src/isolate/shared-group-runner.ts). One text, so the two
 * cannot drift apart.
 * @internal
 * @example
 * const { applyHeaderOps } = headerRules();
 */
export function headerRules() {
  const HEADER_NAME = /^[!#$%&'*+.^`|~0-9a-z-]+$/;
  const HEADER_VALUE = /^[^\r\n\0]*$/;
  const validHeader = (name: string, value: string): boolean => HEADER_NAME.test(name) && HEADER_VALUE.test(value);
  /**
   * Apply a hook's header operations to `headers` in place, validating every name and value the
   * hook wrote (the rest were already valid). `invalid` builds the error to throw; on an invalid
   * operation nothing has been changed.
   */
  const applyHeaderOps = (headers: Record<string, string | string[]>, ops: readonly HeaderOp[], invalid: (message: string) => Error): Record<string, string | string[]> => {
    // Validate everything first, so an invalid operation leaves the headers untouched.
    for (const op of ops) {
      const kind = op[0];
      if (kind !== 's' && kind !== 'a' && kind !== 'd') throw invalid('unknown header operation');
      if (typeof op[1] !== 'string' || !HEADER_NAME.test(op[1])) throw invalid(`invalid header ${JSON.stringify(op[1])}`);
      if (kind !== 'd' && (typeof op[2] !== 'string' || !HEADER_VALUE.test(op[2]))) throw invalid(`invalid header ${JSON.stringify(op[1])}`);
    }
    const out = headers;
    for (const op of ops) {
      const name = op[1];
      if (op[0] === 'd') {
        delete out[name];
        continue;
      }
      const value = op[2];
      if (op[0] === 's') out[name] = value;
      else if (op[0] === 'a') {
        // Own fields only: `constructor` on a map with a prototype is not a header.
        const existing = Object.hasOwn(out, name) ? out[name] : undefined;
        out[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
      }
    }
    return out;
  };
  /** The status an onResponse hook answered, if the host takes it (an integer from 200 to 599). */
  const acceptedStatus = (status: unknown): status is number => typeof status === 'number' && Number.isInteger(status) && status >= 200 && status <= 599;
  return { validHeader, applyHeaderOps, acceptedStatus };
}

const rules = headerRules();

/**
 * Apply a hook's header operations to `headers` in place (the request's or response's own map),
 * validating every name and value the hook wrote (the rest were already valid). `invalid` builds
 * the error to throw; on an invalid operation nothing has been changed.
 * @internal
 * @example
 * applyHeaderOps(headers, [['s', 'b', '2'], ['d', 'a']], (m) => new Error(m)); // headers is now { b: '2' }
 */
export const applyHeaderOps = rules.applyHeaderOps;

/**
 * Whether the host takes the status an onResponse hook answered (an integer from 200 to 599).
 * @internal
 * @example
 * acceptedStatus(418); // true
 */
export const acceptedStatus = rules.acceptedStatus;

/**
 * A header map from `[name, value]` pairs (repeats become arrays), refusing names and values a
 * hook must not produce. `invalid` builds the error to throw.
 * @internal
 * @example
 * headersFromPairs([['a', '1'], ['a', '2']], (m) => new Error(m)); // { a: ['1', '2'] }
 */
export function headersFromPairs(list: readonly [string, string][], invalid: (message: string) => Error): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of list) {
    if (!rules.validHeader(name, value)) throw invalid(`invalid header ${JSON.stringify(name)}`);
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  return out;
}

/**
 * What an `onRequest` hook answered by itself, checked and put in wire form: status 200–599,
 * valid headers, a string body as is and any other body as JSON (with a JSON content type unless
 * the hook set one).
 * @internal
 * @example
 * directResponseParts({ status: 403, body: { error: 'no' } }, (m) => new Error(m)); // { status: 403, headers: { 'content-type': … }, text: '{"error":"no"}' }
 */
export function directResponseParts(
  r: NonNullable<HookOutput['r']>,
  invalid: (message: string) => Error,
): { status: number; headers: Record<string, string | string[]>; text: string | null } {
  const status = r.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    throw invalid(`a direct response needs a status from 200 to 599, got ${JSON.stringify(status)}`);
  }
  const headers =
    r.headers && typeof r.headers === 'object'
      ? headersFromPairs(Object.entries(r.headers as Record<string, unknown>).map(([k, v]): [string, string] => [k.toLowerCase(), String(v)]), invalid)
      : {};
  let text: string | null = null;
  if (typeof r.body === 'string') text = r.body;
  else if (r.body !== undefined && r.body !== null) {
    text = JSON.stringify(r.body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  return { status, headers, text };
}
