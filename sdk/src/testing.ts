/**
 * `@isogate/sdk/testing`: unit-test a plugin without a gateway.
 *
 * Hooks run the way the gateway runs them: options are validated by the plugin's schema after a
 * JSON round trip, each hook call gets a fresh request object built from JSON (so state and
 * direct responses lose whatever JSON cannot carry), and the result is checked and applied with
 * the gateway's rules (header names and values, path normalisation, direct response status
 * 200–599). The code next to the plugin is the same hook runtime the gateway's isolate runs.
 *
 * What it cannot reproduce: the isolate itself. Plugin code here runs in Node, so a plugin that
 * uses `process`, `fetch`, `crypto` or Node modules passes here and fails to build or run in the
 * gateway; the CPU and memory limits are not enforced (the wall-clock deadline is).
 *
 * Bodies follow the plugin's `requestBody` / `responseBody` declaration as in the gateway: a
 * declared body is handed to the hook (a string for 'text', the parsed value for 'json', a
 * Uint8Array for 'bytes'; `undefined` for a compressed 'text'/'json' body), and what goes on is
 * reported as bytes (`body`) and UTF-8 text (`text`), with the gateway's header fix-ups.
 * @packageDocumentation
 */
import {
  applyHeaderOps,
  bodyFragment,
  directResponseParts,
  headersFromPairs,
  bodyKind,
  bodyless,
  declaredTooLarge,
  fitHeaders,
  hookMessage,
  isIdentityEncoded,
  replacedBytes,
  resolveMaxBodyBytes,
  responseFragment,
  type HookOutput,
} from './internal/hook-wire.ts';
import { createHookRuntime, type HookRuntime } from './internal/hook-runtime.ts';
import { normalizePath } from './internal/normalize-path.ts';
import { SDK_VERSION } from './plugin.ts';
import type { OptionsInputOf, Plugin, PluginFetchInit } from './plugin.ts';
import type { StandardSchemaV1 } from './standard-schema.ts';

/**
 * Header fields by lower-case name; a repeated field (`set-cookie`) is an array. This is what
 * the upstream (or the client) receives.
 * @example
 * const headers: TestHeaderMap = { 'x-request-id': 'abc', 'set-cookie': ['a=1', 'b=2'] };
 */
export type TestHeaderMap = Record<string, string | string[]>;

/**
 * A body to send: a string (its UTF-8 bytes; for a 'json' plugin, the JSON text), a Uint8Array
 * (the bytes as they are) or any other JSON value (sent as its JSON text). `null` or leaving it
 * out: no body. Use the form that matches what the plugin declared — a string for 'text', a
 * value for 'json', bytes for 'bytes' — but any form is sent as the bytes it stands for.
 * @example
 * await t.request({ method: 'POST', headers: { 'content-type': 'application/json' }, body: { a: 1 } });
 */
export type TestBody = string | Uint8Array | number | boolean | object | null;

/**
 * A request as the gateway would hand it to the plugin. Every field is optional.
 * @example
 * await t.request({ method: 'POST', path: '/orders/7', query: 'dry=1', headers: { 'X-Tenant': 'acme' }, state: { user: 'u1' } });
 */
export interface TestRequestInit {
  /** Default `GET`. */
  method?: string;
  /** Default `/`; normalised like the gateway normalises incoming paths. */
  path?: string;
  /** Raw query string, with or without the leading `?`. Default `''`. */
  query?: string;
  /** Names are lower-cased, as Node's HTTP parser does. */
  headers?: Record<string, string | string[]>;
  /** Route params (`/users/:id` → `{ id: '7' }`). Default `{}`. */
  params?: Record<string, string>;
  /** Default `127.0.0.1`. */
  clientIp?: string;
  /** The matched route's name; default: the path. */
  routeName?: string;
  /** Per-request state left by earlier plugins (JSON values). Default `{}`. */
  state?: Record<string, unknown>;
  /** Claims set by authentication. */
  claims?: Record<string, unknown>;
  /**
   * The request body. Handed to `onRequest` only if the plugin declared `requestBody` (then
   * buffered up to `maxBodyBytes`: over it, or a 'json' body that is not JSON, the gateway answers
   * 413 / 400 itself and the harness throws a TypeError saying so).
   */
  body?: TestBody;
}

/**
 * An upstream response for {@link PluginTester.response}.
 * @example
 * await t.response({ status: 200, headers: { server: 'nginx' } }, { path: '/orders/7' });
 */
export interface TestResponseInit {
  /** Default 200. */
  status?: number;
  headers?: Record<string, string | string[]>;
  /**
   * The upstream's body. Handed to `onResponse` only if the plugin declared `responseBody` (over
   * `maxBodyBytes` the gateway answers 502 itself and the harness throws a TypeError saying so;
   * a 'json' body that is not JSON reaches the hook as `undefined`).
   */
  body?: TestBody;
}

/**
 * One `ctx.log` call.
 * @example
 * assert.deepEqual(out.logs, [{ level: 'info', message: 'maintenance bypassed', fields: { route: '/x' } }]);
 */
export interface TestLogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields?: unknown;
}

/**
 * What goes upstream when `onRequest` lets the request through.
 * @example
 * assert.equal(out.forwarded?.headers['x-request-id'], 'abc');
 */
export interface ForwardedRequest {
  path: string;
  query: string;
  headers: TestHeaderMap;
  /** The body that goes upstream (the plugin's replacement, or the original); absent without one. */
  body?: Uint8Array;
  /** `body` as UTF-8 text; absent without a body. */
  text?: string;
}

/**
 * A direct response as the client receives it: `text` is the body sent (a non-string `body` is
 * sent as JSON, with a JSON content type unless the plugin set one).
 * @example
 * assert.equal(out.response?.status, 503);
 * assert.deepEqual(out.response?.body, { error: 'maintenance' });
 */
export interface TestDirectResponse {
  status: number;
  headers: TestHeaderMap;
  /** The body the plugin returned, after the JSON crossing. */
  body: unknown;
  /** The bytes the client gets, as text; null without a body. */
  text: string | null;
}

interface OutcomeBase {
  /** The per-request state after the hook (JSON values: what the next plugin sees). */
  state: Record<string, unknown>;
  logs: TestLogEntry[];
}

/**
 * What `onRequest` did: either the request goes upstream (`forwarded`) or the plugin answered
 * (`response`); never both.
 * @example
 * const out = await t.request({ path: '/x' });
 * if (out.response) assert.equal(out.response.status, 401);
 * else assert.equal(out.forwarded.path, '/x');
 */
export type RequestOutcome = (OutcomeBase & { forwarded: ForwardedRequest; response?: undefined }) | (OutcomeBase & { forwarded?: undefined; response: TestDirectResponse });

/**
 * What `onResponse` left for the client.
 * @example
 * const out = await t.response({ status: 404 });
 * assert.equal(out.status, 410);
 */
export interface ResponseOutcome extends OutcomeBase {
  status: number;
  headers: TestHeaderMap;
  /** The body the client gets (the plugin's replacement, or the upstream's); absent without one. */
  body?: Uint8Array;
  /** `body` as UTF-8 text; absent without a body. */
  text?: string;
}

/**
 * The harness around one plugin instance. Module-level state of the plugin persists between
 * calls, as in one gateway isolate.
 * @example
 * const t = await testPlugin(plugin, { header: 'x-request-id' });
 * const out = await t.request({ headers: { 'x-request-id': 'given' } });
 */
export interface PluginTester<Schema extends StandardSchemaV1 | undefined> {
  readonly plugin: Plugin<Schema>;
  /** Run `onRequest` (when the plugin has one). */
  request(init?: TestRequestInit): Promise<RequestOutcome>;
  /** Run `onResponse` (when the plugin has one) for `req` (the request as it went upstream). */
  response(res?: TestResponseInit, req?: TestRequestInit): Promise<ResponseOutcome>;
  /** Run the `verifier` hook on a token, as the auth built-in would. */
  verify(token: string): Promise<VerifyOutcome>;
}

/**
 * What `verifier` decided: the claims (accepted), or null with the reason (rejected).
 * @example
 * const { claims } = await t.verify('tok-1'); assert.equal(claims?.sub, 'u1');
 */
export interface VerifyOutcome {
  claims: Record<string, unknown> | null;
  reason?: string;
  logs: TestLogEntry[];
}

/**
 * Settings for {@link testPlugin}.
 * @example
 * await testPlugin(plugin, {}, { wallMs: 200 });
 */
export interface TestPluginSettings {
  /** Wall-clock deadline of an async hook, as in the gateway (default 1000 ms). */
  wallMs?: number;
  /**
   * What `ctx.fetch` answers in this test (without it `ctx.fetch` is undefined, as in the gateway
   * when the config allows no origins). Throw to simulate a network failure: the plugin sees the
   * message as a rejected `ctx.fetch`, as in the gateway.
   * @example
   * await testPlugin(plugin, opts, { fetch: async (url, init) => ({ status: 200, body: JSON.stringify({ active: true, sub: 'u1' }) }) });
   */
  fetch?: (url: string, init: PluginFetchInit) => Promise<TestFetchAnswer> | TestFetchAnswer;
}

/**
 * A faked answer to `ctx.fetch` in {@link testPlugin}.
 * @example
 * const answer: TestFetchAnswer = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"active":true}' };
 */
export interface TestFetchAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** The harness side of `ctx.fetch`: the same JSON answer the gateway's host fetch gives the isolate. */
function harnessFetch(fake: NonNullable<TestPluginSettings['fetch']>): (url: string, init: string) => Promise<string> {
  return async (url, init) => {
    try {
      const answer = await fake(url, JSON.parse(init) as PluginFetchInit);
      const headers = Object.fromEntries(Object.entries(answer.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      return JSON.stringify({ status: answer.status, headers, body: answer.body ?? '' });
    } catch (err) {
      return JSON.stringify({ status: 0, headers: {}, body: '', error: err instanceof Error ? err.message : String(err) });
    }
  };
}

/**
 * The plugin's options were rejected by its schema. `issues` have the gateway's shape: a path
 * (keys as strings) and a message.
 * @example
 * await assert.rejects(testPlugin(plugin, { name: 7 }), (err) => err instanceof PluginOptionsError && err.issues[0]?.path[0] === 'name');
 */
export class PluginOptionsError extends Error {
  readonly issues: readonly { path: string[]; message: string }[];
  constructor(plugin: string, issues: { path: string[]; message: string }[]) {
    super(`invalid options for plugin "${plugin}":\n${issues.map((i) => `  ${['options', ...i.path].join('.')}: ${i.message}`).join('\n')}`);
    this.name = 'PluginOptionsError';
    this.issues = issues;
  }
}

/**
 * A hook produced something the gateway refuses (`bad-result`: a bad direct response status, an
 * invalid header or path) or missed its deadline (`deadline`). The gateway answers such a
 * request with a coded 500 (fail-closed) or skips the hook (fail-open).
 * @example
 * await assert.rejects(t.request({ headers: { 'x-mode': 'bad' } }), (err) => err instanceof HookResultError && err.kind === 'bad-result');
 */
export class HookResultError extends Error {
  readonly kind: 'bad-result' | 'deadline' | 'unavailable';
  /** What the hook logged before its result was refused (the gateway logs those too). */
  logs: TestLogEntry[] = [];
  constructor(kind: 'bad-result' | 'deadline' | 'unavailable', message: string) {
    super(message);
    this.name = 'HookResultError';
    this.kind = kind;
  }
}

// The gateway's checks on what a hook hands back, shared with runtime/src/isolate/plugin-middleware.ts.
const refuse = (message: string) => new HookResultError('bad-result', message);

function headerMap(list: [string, string][]): TestHeaderMap {
  return headersFromPairs(list, refuse) as TestHeaderMap;
}

/** Input headers as Node would deliver them: lower-case names, repeats merged into arrays. */
function incomingHeaders(headers: Record<string, string | string[]> = {}): TestHeaderMap {
  const list: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) list.push([name.toLowerCase(), String(v)]);
  }
  return headerMap(list);
}

function directResponse(r: NonNullable<HookOutput['r']>): TestDirectResponse {
  const { status, headers, text } = directResponseParts(r, refuse);
  return { status, headers: headers as TestHeaderMap, body: r.body, text };
}

function logEntries(out: HookOutput): TestLogEntry[] {
  return (out.l ?? []).map(([level, message, fields]) => {
    const entry: TestLogEntry = { level: level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : 'info', message };
    if (fields !== null) entry.fields = fields;
    return entry;
  });
}

/** Apply a hook's output; a refused result carries the hook's logs. */
function withLogs<T>(logs: TestLogEntry[], apply: () => T): T {
  try {
    return apply();
  } catch (err) {
    if (err instanceof HookResultError) err.logs = logs;
    throw err;
  }
}

const EMPTY = new Uint8Array(0);

/** The bytes a {@link TestBody} stands for; null for no body. */
function bodyBytes(body: TestBody | undefined): Uint8Array | null {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  return new TextEncoder().encode(JSON.stringify(body));
}

/** The bytes that go on, and their text, as outcome fields (none without a body). */
function withBody<T extends object>(target: T, bytes: Uint8Array | null): T & { body?: Uint8Array; text?: string } {
  if (bytes === null) return target;
  const copy = new Uint8Array(bytes);
  return Object.assign(target, { body: copy, text: new TextDecoder().decode(copy) });
}

function jsonCopy<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

interface PreparedRequest {
  method: string;
  path: string;
  query: string;
  headers: TestHeaderMap;
  params: Record<string, string>;
  clientIp: string;
  routeName: string;
  state: Record<string, unknown>;
  claims: Record<string, unknown> | null;
}

function prepare(init: TestRequestInit): PreparedRequest {
  const normalized = normalizePath(init.path ?? '/');
  if (!normalized.ok) throw new TypeError(`testPlugin: the gateway would refuse the path ${JSON.stringify(init.path)}: ${normalized.reason}`);
  const req: PreparedRequest = {
    method: (init.method ?? 'GET').toUpperCase(),
    path: normalized.path,
    query: (init.query ?? '').replace(/^\?/, ''),
    headers: incomingHeaders(init.headers),
    params: { ...init.params },
    clientIp: init.clientIp ?? '127.0.0.1',
    routeName: init.routeName ?? normalized.path,
    state: init.state ?? {},
    claims: init.claims ?? null,
  };
  return req;
}

/** The message the gateway sends into the isolate (runtime/src/isolate/plugin-middleware.ts `encodeRequest`). */
function encode(req: PreparedRequest): Record<string, unknown> {
  return { s: req.state, c: req.claims, rq: { m: req.method, p: req.path, q: req.query, pa: req.params, ip: req.clientIp, rn: req.routeName } };
}

/**
 * Load a plugin the way the gateway does — validate `options` with its schema (after a JSON
 * round trip) — and return a harness that runs its hooks. Throws {@link PluginOptionsError} with
 * every issue when the options are rejected.
 * @example
 * import assert from 'node:assert/strict';
 * import { it } from 'node:test';
 * import { testPlugin } from '@isogate/sdk/testing';
 * import plugin from './index.ts';
 *
 * it('adds the header', async () => {
 *   const t = await testPlugin(plugin, { name: 'x-a', value: '1' });
 *   const out = await t.request({ path: '/orders/7' });
 *   assert.equal(out.forwarded?.headers['x-a'], '1');
 * });
 */
export async function testPlugin<Schema extends StandardSchemaV1 | undefined>(
  plugin: Plugin<Schema>,
  options?: OptionsInputOf<Schema>,
  settings: TestPluginSettings = {},
): Promise<PluginTester<Schema>> {
  const rt: HookRuntime = createHookRuntime(settings.fetch ? harnessFetch(settings.fetch) : undefined);
  const manifest = JSON.parse(rt.register(plugin)) as {
    name: string;
    sdkVersion: unknown;
    hooks: string[];
    requestBody: unknown;
    responseBody: unknown;
    maxBodyBytes: unknown;
  };
  if (!sdkCompatible(manifest.sdkVersion)) {
    throw new TypeError(`plugin "${manifest.name}" was built for @isogate/sdk ${String(manifest.sdkVersion)}, this SDK is ${SDK_VERSION}`);
  }
  const answer = rt.configure(JSON.stringify(options ?? {}));
  const configuredText = answer.charCodeAt(0) === 0 ? await rt.settle(Number(answer.slice(1))) : answer;
  const configured = JSON.parse(configuredText) as { ok: boolean; issues?: { path: string[]; message: string }[] };
  if (!configured.ok) throw new PluginOptionsError(manifest.name, configured.issues ?? []);
  const wallMs = settings.wallMs ?? 1_000;
  const hasRequest = manifest.hooks.includes('onRequest');
  const hasResponse = manifest.hooks.includes('onResponse');
  // As in the gateway: a body is only handed to a hook that exists and was declared for.
  const requestKind = hasRequest ? bodyKind(manifest.requestBody) : null;
  const responseKind = hasResponse ? bodyKind(manifest.responseBody) : null;
  const maxBytes = resolveMaxBodyBytes(manifest.maxBodyBytes);

  async function call(hook: 'onRequest' | 'onResponse' | 'verifier', message: string, requestHeaders: string, responseHeaders?: string): Promise<HookOutput> {
    const first = responseHeaders === undefined ? rt.call(hook, message, requestHeaders) : rt.call(hook, message, requestHeaders, responseHeaders);
    if (first.charCodeAt(0) !== 0) return JSON.parse(first) as HookOutput;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const text = await Promise.race([
        rt.settle(Number(first.slice(1))),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HookResultError('deadline', `hook ${hook} exceeded its ${wallMs} ms deadline`)), wallMs);
        }),
      ]);
      return JSON.parse(text) as HookOutput;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    plugin,

    async request(init: TestRequestInit = {}): Promise<RequestOutcome> {
      const req = prepare(init);
      const forwarded: ForwardedRequest = { path: req.path, query: req.query, headers: req.headers };
      let bytes = bodyBytes(init.body);
      if (!hasRequest) return { forwarded: withBody(forwarded, bytes), state: jsonCopy(req.state), logs: [] };
      const input = encode(req);
      let fragment: string | undefined;
      // Whether the gateway buffered the body (and forwards it from memory, with its own length).
      let held = false;
      if (requestKind) {
        (input['rq'] as Record<string, unknown>)['k'] = requestKind;
        if (bytes === null) fragment = bodyFragment(requestKind, EMPTY);
        else if (requestKind === 'bytes' || isIdentityEncoded(req.headers)) {
          if (declaredTooLarge(req.headers, maxBytes) || bytes.byteLength > maxBytes) {
            throw new TypeError(`testPlugin: the gateway would answer 413: the request body is over the plugin's maxBodyBytes (${maxBytes})`);
          }
          try {
            fragment = bodyFragment(requestKind, bytes);
          } catch {
            throw new TypeError('testPlugin: the gateway would answer 400: the request body is not JSON');
          }
          held = true;
          req.headers['content-length'] = String(bytes.byteLength);
          delete req.headers['transfer-encoding'];
        }
      }
      const out = await call('onRequest', hookMessage(input, 'qb', fragment), JSON.stringify(req.headers));
      const result = { state: out.s ?? jsonCopy(req.state), logs: logEntries(out) };
      return withLogs(result.logs, () => {
        if (out.r) return { ...result, response: directResponse(out.r) };
        if (out.p !== undefined) {
          const normalized = normalizePath(out.p);
          if (!normalized.ok) throw new HookResultError('bad-result', `path ${JSON.stringify(out.p)} is not acceptable: ${normalized.reason}`);
          forwarded.path = normalized.path;
        }
        if (out.q !== undefined) forwarded.query = out.q.replace(/^\?/, '').replace(/[#\s]/g, encodeURIComponent);
        const replaced = requestKind && out.b !== undefined ? replacedBytes(out.b) : null;
        if (out.h) forwarded.headers = applyHeaderOps(forwarded.headers, out.h, (m) => new HookResultError('bad-result', m)) as TestHeaderMap;
        if (replaced && requestKind) {
          bytes = replaced.bytes;
          fitHeaders(forwarded.headers, requestKind, bytes.byteLength, replaced.json, true);
        } else if (out.h && held) {
          // The plugin rewrote the header list: the length of the body held stays the truth.
          forwarded.headers['content-length'] = String(bytes!.byteLength);
          delete forwarded.headers['transfer-encoding'];
        }
        return { ...result, forwarded: withBody(forwarded, bytes) };
      });
    },

    async response(resInit: TestResponseInit = {}, init: TestRequestInit = {}): Promise<ResponseOutcome> {
      const req = prepare(init);
      const status = resInit.status ?? 200;
      const headers = incomingHeaders(resInit.headers);
      let bytes = bodyBytes(resInit.body);
      if (!hasResponse) return withBody({ status, headers, state: jsonCopy(req.state), logs: [] }, bytes);
      const input = encode(req);
      let fragment: string | undefined;
      if (responseKind) {
        input['rs'] = { st: status, k: responseKind };
        if (responseKind === 'bytes' || isIdentityEncoded(headers)) {
          // A HEAD answer or a 204/304 has no body whatever its Content-Length says.
          const declaredOver = req.method !== 'HEAD' && !bodyless(status) && declaredTooLarge(headers, maxBytes);
          if (declaredOver || (bytes !== null && bytes.byteLength > maxBytes)) {
            throw new TypeError(`testPlugin: the gateway would answer 502: the response body is over the plugin's maxBodyBytes (${maxBytes})`);
          }
          fragment = responseFragment(responseKind, bytes ?? EMPTY);
        }
      } else input['rs'] = { st: status };
      const out = await call('onResponse', hookMessage(input, 'sb', fragment), JSON.stringify(req.headers), JSON.stringify(headers));
      const result: ResponseOutcome = { status, headers, state: out.s ?? jsonCopy(req.state), logs: logEntries(out) };
      if (typeof out.st === 'number' && Number.isInteger(out.st) && out.st >= 200 && out.st <= 599) result.status = out.st;
      return withLogs(result.logs, () => {
        if (out.rh) result.headers = applyHeaderOps(result.headers, out.rh, (m) => new HookResultError('bad-result', m)) as TestHeaderMap;
        const replaced = responseKind && out.rb !== undefined ? replacedBytes(out.rb) : null;
        if (replaced && responseKind) {
          bytes = replaced.bytes;
          fitHeaders(result.headers, responseKind, bytes.byteLength, replaced.json, !bodyless(result.status));
        }
        return withBody(result, bytes);
      });
    },

    async verify(token: string): Promise<VerifyOutcome> {
      if (!manifest.hooks.includes('verifier')) throw new TypeError(`plugin "${manifest.name}" has no verifier hook`);
      const out = await call('verifier', JSON.stringify({ t: token }), '{}');
      if (out.x) throw new HookResultError('bad-result', out.x);
      // As in the gateway, where the auth built-in answers 503: the verifier could not decide.
      if (out.u !== undefined) throw new HookResultError('unavailable', `the verifier's fetch failed: ${out.u}`);
      const logs = logEntries(out);
      return out.v ? { claims: out.v, logs } : { claims: null, reason: out.e ?? 'rejected', logs };
    },
  };
}

/** The gateway's rule: same major, and the same minor while the major is 0. */
function sdkCompatible(pluginSdk: unknown): boolean {
  if (typeof pluginSdk !== 'string') return false;
  const [maj, min] = pluginSdk.split('.').map(Number);
  const [hostMaj, hostMin] = SDK_VERSION.split('.').map(Number);
  return maj === hostMaj && (hostMaj !== 0 || min === hostMin);
}
