/// <reference lib="esnext.disposable" preserve="true" />
// (above) PluginTester is AsyncDisposable (`await using`): its declarations need the lib that defines Symbol.asyncDispose, whatever lib the consumer compiles with.
/**
 * `@isogate/sdk/testing`: unit-test a plugin without a gateway, in the gateway's sandbox.
 *
 * `testPlugin(() => import('./index.ts'), options)` bundles the plugin with the gateway's bundler
 * and runs it in a V8 isolate with the gateway's prelude, globals and limits (memory, CPU time,
 * wall-clock deadline): a plugin whose test passes cannot then fail in the gateway for a missing
 * global, a Node built-in, a limit or something that does not survive the JSON crossing. Options
 * are validated by the plugin's schema in the isolate; each hook call sends the gateway's message
 * and its result is checked and applied with the gateway's rules (header names and values, path
 * normalisation, direct response status 200–599).
 *
 * The isolate comes from the runtime package, `isogate` (it has isolated-vm and esbuild): install
 * it as a devDependency next to this SDK. The SDK loads it only when a test runs and never falls
 * back to Node silently: without it, `testPlugin` throws a {@link PluginLoadError} that says what
 * to install.
 *
 * `{ mode: 'node' }` runs the same hook runtime in the test's own process instead, for debugging
 * (a debugger, a hook's real exception and stack): no isolate, Node's globals, no CPU or memory
 * limit (the wall-clock deadline still applies). `isogate plugin verify` runs every test in the
 * sandbox whatever its mode says.
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
  requestMessage,
  responseFragment,
  type HookOutput,
  type HookRequestFields,
} from './internal/hook-wire.ts';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getCallSites } from 'node:util';
import { after } from 'node:test';
import { createHookRuntime, type HookRuntime } from './internal/hook-runtime.ts';
import { normalizePath } from './internal/normalize-path.ts';
import { SDK_VERSION } from './plugin.ts';
import type { OptionsInputOf, Plugin, PluginFetchInit, PluginLimits, UsePluginOptions } from './plugin.ts';
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
  /** Where a `console` line was written (the plugin's `file:line:column`, in the sandbox); `ctx.log` lines have none. */
  source?: string;
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
 * calls, as in one gateway isolate (which is replaced, state and all, after a CPU, memory or
 * deadline failure, as in the gateway).
 *
 * Under `node:test` the isolate is disposed when the test (or suite) that created it ends; elsewhere
 * call `dispose()`, or create it with `await using`.
 * @example
 * await using t = await testPlugin(() => import('./index.ts'), { header: 'x-request-id' });
 * const out = await t.request({ headers: { 'x-request-id': 'given' } });
 */
export interface PluginTester {
  /** The plugin's name, from its definition. */
  readonly name: string;
  /** Where its hooks run: the gateway's sandbox (default) or, for debugging, Node. */
  readonly mode: TestMode;
  /** The file that was bundled into the isolate (absent in `'node'` mode with a plugin object). */
  readonly entry: string | undefined;
  /** Run `onRequest` (when the plugin has one). */
  request(init?: TestRequestInit): Promise<RequestOutcome>;
  /** Run `onResponse` (when the plugin has one) for `req` (the request as it went upstream). */
  response(res?: TestResponseInit, req?: TestRequestInit): Promise<ResponseOutcome>;
  /** Run the `verifier` hook on a token, as the auth built-in would. */
  verify(token: string): Promise<VerifyOutcome>;
  /** Dispose the isolate (idempotent). Calls after it reject. */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Where {@link testPlugin} runs the hooks: `'sandbox'` (default), the gateway's isolate with its
 * bundle, globals and limits; `'node'`, the test's own process, for debugging only.
 * @example
 * const t = await testPlugin(() => import('./index.ts'), {}, { mode: 'node' });
 */
export type TestMode = 'sandbox' | 'node';

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
 * await testPlugin(() => import('./index.ts'), {}, { limits: { cpuMs: 20, wallMs: 200 } });
 */
export interface TestPluginSettings {
  /** Where the hooks run (default `'sandbox'`). `isogate plugin verify` forces `'sandbox'`. */
  mode?: TestMode;
  /**
   * The instance's limits, as in `usePlugin(..., { limits })`; the gateway's defaults otherwise
   * (64 MB, 50 ms of CPU per synchronous run, 1000 ms wall-clock per hook). In `'node'` mode only
   * `wallMs` applies.
   */
  limits?: PluginLimits;
  /** Wall-clock deadline of a hook; the same as `limits.wallMs`. */
  wallMs?: number;
  /**
   * The file a relative plugin path is written in (`import.meta.url`). Default: the file that
   * calls `testPlugin`, which is right unless the `() => import(...)` was written in another file.
   */
  from?: string | URL;
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
  constructor(plugin: string, issues: readonly { path: string[]; message: string }[]) {
    super(`invalid options for plugin "${plugin}":\n${issues.map((i) => `  ${['options', ...i.path].join('.')}: ${i.message}`).join('\n')}`);
    this.name = 'PluginOptionsError';
    this.issues = issues;
  }
}

/**
 * How a hook call failed, with the gateway's names: `throw` (the hook threw; in `'node'` mode the
 * hook's own error reaches the test instead), `timeout` (it used its `cpuMs`), `memory` (its
 * isolate ran out of `memoryMb`), `deadline` (it did not settle within `wallMs`), `bad-result`
 * (something the gateway refuses: a bad direct response status, an invalid header or path, a
 * result that does not survive the crossing), `unavailable` (a verifier could not decide).
 * @example
 * const kind: HookFailureKind = 'timeout';
 */
export type HookFailureKind = 'throw' | 'timeout' | 'memory' | 'deadline' | 'bad-result' | 'unavailable';

/**
 * A hook failed the way it would fail in the gateway, which answers such a request with a coded
 * 500 (fail-closed) or skips the hook (fail-open); a verifier's `unavailable` is a 503.
 * @example
 * await assert.rejects(t.request({ headers: { 'x-mode': 'bad' } }), (err) => err instanceof HookResultError && err.kind === 'bad-result');
 */
export class HookResultError extends Error {
  readonly kind: HookFailureKind;
  /** Where in the plugin's source it failed (`file:line:column`), when the isolate's stack says so. */
  location: string | null = null;
  /** What the hook logged before its result was refused (the gateway logs those too). */
  logs: TestLogEntry[] = [];
  constructor(kind: HookFailureKind, message: string) {
    super(message);
    this.name = 'HookResultError';
    this.kind = kind;
  }
}

/**
 * Why {@link testPlugin} could not load the plugin, as the gateway would refuse it at start:
 * `build` (bundling failed: a Node built-in, a missing file or package), `load` (its top-level
 * code threw in the isolate), `sdk` (built for another SDK, or a peer range this SDK does not
 * satisfy), `sandbox-unavailable` (the `isogate` package, which runs the sandbox, is not installed
 * or does not match this SDK), `source` (the plugin's path could not be worked out).
 * @example
 * await assert.rejects(testPlugin(() => import('./uses-fs.ts')), (err) => err instanceof PluginLoadError && err.kind === 'build');
 */
export class PluginLoadError extends Error {
  readonly kind: 'build' | 'load' | 'sdk' | 'sandbox-unavailable' | 'source';
  /** `file:line:column` in the plugin's source, when known. */
  readonly location: string | null;
  constructor(kind: PluginLoadError['kind'], message: string, location: string | null = null) {
    super(message);
    this.name = 'PluginLoadError';
    this.kind = kind;
    this.location = location;
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
  return (out.l ?? []).map(([level, message, fields, source]) => {
    const entry: TestLogEntry = { level: level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : 'info', message };
    if (fields !== null) entry.fields = fields;
    if (source !== undefined) entry.source = source;
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

/** A request as the harness holds it: what the hook message carries (requestMessage), and its headers. */
interface PreparedRequest extends HookRequestFields {
  headers: TestHeaderMap;
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

/**
 * The options {@link testPlugin} accepts for a plugin module: its schema's input, as in `usePlugin`.
 * @example
 * const options: TestPluginOptions<typeof import('./index.ts')> = { header: 'x-request-id' };
 */
export type TestPluginOptions<Module> = unknown extends Module ? unknown : UsePluginOptions<Module>;

/** What the hook runtime's `register` reports about a plugin (the subset the harness reads). */
interface Manifest {
  name: string;
  sdkVersion: unknown;
  hooks: string[];
  requestBody: unknown;
  responseBody: unknown;
  maxBodyBytes: unknown;
}

/** Where the hooks run: the sandbox (the runtime's isolate) or the hook runtime in this process. */
interface HookRunner {
  readonly manifest: Manifest;
  readonly entry: string | undefined;
  /** One hook call: the gateway's message in, the hook's output back. Rejects with HookResultError (or, in Node, the hook's own error). */
  call(hook: 'onRequest' | 'onResponse' | 'verifier', message: string, requestHeaders: string, responseHeaders?: string): Promise<HookOutput>;
  dispose(): Promise<void>;
}

/**
 * What `isogate/testing` (runtime/src/testing/sandbox-runner.ts) provides, as this SDK uses it.
 * Declared here rather than imported: the SDK must not depend on the runtime, which depends on it.
 * `sdk/src/testing.test.ts` checks that the runtime's module fits this shape.
 * @internal
 */
export interface SandboxRunnerModule {
  TEST_RUNNER_PROTOCOL: number;
  loadSandboxedPlugin(request: {
    specifier: string;
    baseDir: string;
    options: unknown;
    limits?: PluginLimits;
    fetch?: ((url: string, init: string) => Promise<string>) | null;
  }): Promise<{
    readonly entry: string;
    readonly manifest: Manifest;
    call(hook: 'onRequest' | 'onResponse' | 'verifier', message: string, requestHeaders: string, responseHeaders?: string): Promise<string>;
    source(where: string): string | null;
    dispose(): Promise<void>;
  }>;
}

/** The protocol this SDK speaks with `isogate/testing`. */
const RUNNER_PROTOCOL = 1;
/** A variable, not a literal: the SDK is compiled on its own, without the runtime's types. */
const RUNNER_MODULE = 'isogate/testing';
/** Set by `isogate plugin verify`: every test runs in the sandbox, whatever its `mode` says. */
const FORCE_SANDBOX_ENV = 'ISOGATE_TEST_SANDBOX';

const ownUrl = import.meta.url;

/**
 * The file that called testPlugin (its first stack frame outside this module). Must run
 * synchronously inside testPlugin, while the caller is on the stack.
 */
function callingFile(): string | undefined {
  for (const site of getCallSites(32)) {
    const name = site.scriptName;
    if (!name || name === ownUrl || name.startsWith('node:')) continue;
    return name.startsWith('file:') ? fileURLToPath(name) : name;
  }
  return undefined;
}

/**
 * Testers not yet disposed. A live isolate keeps the CPU watchdog, and with it the process,
 * running: a test file that forgot one would never exit.
 */
const live = new Set<PluginTester>();

// Under `node --test` (each file in a child process that says so in NODE_TEST_CONTEXT), one
// `after` registered while this module is imported, at the file's top level, belongs to the
// file's root: it disposes whatever is still live once every test of the file has run. (An
// `after` registered later, from inside a `before` hook, would belong to that hook and run as
// soon as the hook ends.)
if (process.env['NODE_TEST_CONTEXT'] !== undefined) {
  after(() => Promise.all([...live].map((t) => t.dispose())).then(() => undefined));
}

/**
 * Run directly (`node x.test.ts`, no child process): whether this call comes from inside a test
 * body, where an `after` disposes the tester when that test ends. Not from a hook (see above):
 * there, and outside node:test, the caller disposes.
 */
function insideNodeTestBody(): boolean {
  if (process.env['NODE_TEST_CONTEXT'] !== undefined) return false;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 64;
  try {
    const stack = new Error().stack ?? '';
    return /node:internal\/test_runner\//.test(stack) && !/TestHook\.run/.test(stack);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The specifier in `() => import('./x.ts')`, read from the function's text as `usePlugin` does; never called for it. */
function loaderSpecifier(load: () => Promise<unknown>): string {
  const text = Function.prototype.toString.call(load);
  const imports = [...text.matchAll(/\b(?:import|require)\s*\(\s*(["'`])([^"'`$]+)\1\s*\)/g)];
  if (load.length !== 0 || imports.length !== 1) {
    throw new PluginLoadError('source', `testPlugin: name the plugin as () => import('./index.ts') (one import of a literal path), not ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`);
  }
  return imports[0]![2]!;
}

const isRelative = (specifier: string) => specifier.startsWith('./') || specifier.startsWith('../');

/**
 * Where the plugin is, as the runtime resolves a `use`: an absolute path, or a relative path or
 * package name with the directory to resolve it from.
 */
function locate(source: (() => Promise<unknown>) | URL | string, from: string | URL | undefined, caller: string | undefined): { specifier: string; baseDir: string } {
  let specifier = typeof source === 'function' ? loaderSpecifier(source) : source instanceof URL ? fileURLToPath(source) : source;
  if (specifier.startsWith('file:')) specifier = fileURLToPath(specifier);
  if (path.isAbsolute(specifier)) return { specifier, baseDir: path.dirname(specifier) };
  const base = from !== undefined ? (String(from).startsWith('file:') ? fileURLToPath(from) : String(from)) : caller;
  if (base === undefined) {
    if (!isRelative(specifier)) return { specifier, baseDir: process.cwd() };
    throw new PluginLoadError('source', `testPlugin: cannot tell which file '${specifier}' is relative to; pass { from: import.meta.url }`);
  }
  if (from === undefined && isRelative(specifier)) {
    // The path is relative to the file that wrote it; the caller is only a good guess for that
    // file if the path is written there.
    let text = '';
    try {
      text = readFileSync(base, 'utf8');
    } catch {
      // not a readable file: say so below
    }
    if (!text.includes(specifier)) {
      throw new PluginLoadError('source', `testPlugin: '${specifier}' is not written in ${base}, the file that called testPlugin, so it cannot be resolved from there; pass { from: import.meta.url } from the file that names it`);
    }
  }
  return { specifier, baseDir: path.dirname(base) };
}

/** `isogate/testing`, from this SDK's location or else from the project under test; never a silent fallback to Node. */
async function loadRunner(baseDir: string): Promise<SandboxRunnerModule> {
  const missing = (detail: string) =>
    new PluginLoadError(
      'sandbox-unavailable',
      `testPlugin runs plugins in the gateway's sandbox, which comes with the package "isogate" (${detail}). ` +
        'Install it next to @isogate/sdk: npm install --save-dev isogate. ' +
        "To run the hooks in Node instead, without the sandbox's globals and limits (for debugging only), pass { mode: 'node' }.",
    );
  let runner: SandboxRunnerModule | undefined;
  const problems: string[] = [];
  for (const load of [
    () => import(RUNNER_MODULE) as Promise<SandboxRunnerModule>,
    () => import(pathToFileURL(createRequire(path.join(baseDir, 'noop.js')).resolve(RUNNER_MODULE)).href) as Promise<SandboxRunnerModule>,
  ]) {
    try {
      runner = await load();
      break;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Only "not there" falls through: a runner that is installed but broken is reported as is.
      if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') {
        if (!/['"]isogate['"]|isogate\/testing/.test(e.message)) throw err;
        problems.push('not installed');
      } else if (e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') problems.push('the installed version has no isogate/testing: update it');
      else throw err;
    }
  }
  if (!runner) throw missing(problems.includes('not installed') && problems.length === 2 ? 'not installed' : problems.find((p) => p !== 'not installed') ?? 'not installed');
  if (runner.TEST_RUNNER_PROTOCOL !== RUNNER_PROTOCOL) {
    throw missing(`the installed isogate speaks test-runner protocol ${String(runner.TEST_RUNNER_PROTOCOL)}, this @isogate/sdk ${SDK_VERSION} speaks ${RUNNER_PROTOCOL}: install matching versions`);
  }
  return runner;
}

/** The plugin's hooks in the gateway's isolate, through `isogate/testing`. */
async function sandboxRunner(where: { specifier: string; baseDir: string }, options: unknown, settings: TestPluginSettings): Promise<HookRunner> {
  const runner = await loadRunner(where.baseDir);
  const limits: PluginLimits = { ...settings.limits };
  if (limits.wallMs === undefined && settings.wallMs !== undefined) limits.wallMs = settings.wallMs;
  let loaded: Awaited<ReturnType<SandboxRunnerModule['loadSandboxedPlugin']>>;
  try {
    // A JSON round trip, as the config's options take on their way to the isolate.
    loaded = await runner.loadSandboxedPlugin({ ...where, options: JSON.parse(JSON.stringify(options ?? {})), limits, fetch: settings.fetch ? harnessFetch(settings.fetch) : null });
  } catch (err) {
    const e = err as { name?: unknown; kind?: unknown; message?: unknown; issues?: { path: string[]; message: string }[]; plugin?: unknown; location?: unknown };
    if (e?.name !== 'SandboxLoadError') throw err;
    if (e.kind === 'options') throw new PluginOptionsError(typeof e.plugin === 'string' ? e.plugin : where.specifier, e.issues ?? []);
    const kind = e.kind === 'build' || e.kind === 'load' || e.kind === 'sdk' ? e.kind : 'load';
    throw new PluginLoadError(kind, String(e.message), typeof e.location === 'string' ? e.location : null);
  }
  return {
    manifest: loaded.manifest,
    entry: loaded.entry,
    async call(hook, message, requestHeaders, responseHeaders) {
      let text: string;
      try {
        text = await loaded.call(hook, message, requestHeaders, responseHeaders);
      } catch (err) {
        const e = err as { name?: unknown; kind?: unknown; message?: unknown; location?: unknown };
        if (e?.name !== 'SandboxHookError') throw err;
        const failure = new HookResultError(e.kind as HookFailureKind, String(e.message));
        failure.location = typeof e.location === 'string' ? e.location : null;
        throw failure;
      }
      const out = JSON.parse(text) as HookOutput;
      // A console line says where in the bundle it was written: the plugin's own file, as the gateway logs it.
      if (out.l) out.l = out.l.map((entry) => (entry[3] === undefined ? entry : [entry[0], entry[1], entry[2], loaded.source(entry[3]) ?? entry[3]]));
      return out;
    },
    dispose: () => loaded.dispose(),
  };
}

/** The plugin's hooks run by the same hook runtime in this process (`mode: 'node'`). */
async function nodeRunner(plugin: unknown, entry: string | undefined, options: unknown, settings: TestPluginSettings): Promise<HookRunner> {
  const rt: HookRuntime = createHookRuntime(settings.fetch ? harnessFetch(settings.fetch) : undefined);
  const manifest = JSON.parse(rt.register(plugin)) as Manifest;
  if (!sdkCompatible(manifest.sdkVersion)) {
    throw new PluginLoadError('sdk', `plugin "${manifest.name}" was built for @isogate/sdk ${String(manifest.sdkVersion)}, this SDK is ${SDK_VERSION}`);
  }
  const answer = rt.configure(JSON.stringify(options ?? {}));
  const configuredText = answer.charCodeAt(0) === 0 ? await rt.settle(Number(answer.slice(1))) : answer;
  const configured = JSON.parse(configuredText) as { ok: boolean; issues?: { path: string[]; message: string }[] };
  if (!configured.ok) throw new PluginOptionsError(manifest.name, configured.issues ?? []);
  const wallMs = settings.limits?.wallMs ?? settings.wallMs ?? 1_000;
  return {
    manifest,
    entry,
    async call(hook, message, requestHeaders, responseHeaders) {
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
    },
    dispose: async () => {},
  };
}

/** The plugin module's default export (or the module itself when it is the plugin). */
function defaultExport(mod: unknown): unknown {
  return mod !== null && typeof mod === 'object' && 'default' in mod ? (mod as { default: unknown }).default : mod;
}

/**
 * Load a plugin the way the gateway does and return a harness that runs its hooks.
 *
 * Name the plugin's module as in `usePlugin`: `() => import('./index.ts')` (never called in the
 * sandbox mode: the path is read from its text, relative to the file that calls testPlugin; the
 * options are typed by the plugin's schema), or a path or `file:` URL (`new URL('./index.ts',
 * import.meta.url)`), or an installed package name. The module is bundled by the gateway's
 * bundler and loaded into an isolate with the gateway's globals and limits (`settings.limits`,
 * default the gateway's), its options validated by its schema there.
 *
 * Throws {@link PluginOptionsError} with every issue when the options are rejected, and
 * {@link PluginLoadError} when the gateway would not load the plugin (a Node built-in, top-level
 * code that throws in the isolate, another SDK) or the sandbox is not installed.
 *
 * `{ mode: 'node' }` runs the hooks in this process instead (debugging only); it also accepts
 * the plugin object itself.
 * @example
 * import assert from 'node:assert/strict';
 * import { it } from 'node:test';
 * import { testPlugin } from '@isogate/sdk/testing';
 *
 * it('adds the header', async () => {
 *   const t = await testPlugin(() => import('./index.ts'), { name: 'x-a', value: '1' });
 *   const out = await t.request({ path: '/orders/7' });
 *   assert.equal(out.forwarded?.headers['x-a'], '1');
 * });
 */
export function testPlugin<Module>(plugin: () => Promise<Module>, options?: TestPluginOptions<Module>, settings?: TestPluginSettings): Promise<PluginTester>;
export function testPlugin(entry: URL | string, options?: unknown, settings?: TestPluginSettings): Promise<PluginTester>;
export function testPlugin<Schema extends StandardSchemaV1 | undefined>(plugin: Plugin<Schema>, options: OptionsInputOf<Schema> | undefined, settings: TestPluginSettings & { mode: 'node' }): Promise<PluginTester>;
export function testPlugin(source: unknown, options?: unknown, settings: TestPluginSettings = {}): Promise<PluginTester> {
  // Both need the caller's stack, which is only there before the first await.
  const caller = settings.from === undefined ? callingFile() : undefined;
  const disposeWithTest = insideNodeTestBody();
  return startTester(source, options, settings, caller, disposeWithTest);
}

async function startTester(source: unknown, options: unknown, settings: TestPluginSettings, caller: string | undefined, disposeWithTest: boolean): Promise<PluginTester> {
  const forced = process.env[FORCE_SANDBOX_ENV] === '1';
  const mode: TestMode = forced ? 'sandbox' : (settings.mode ?? 'sandbox');
  const named = typeof source === 'function' || typeof source === 'string' || source instanceof URL;
  let runner: HookRunner;
  if (mode === 'sandbox') {
    if (!named) {
      throw new PluginLoadError(
        'source',
        forced
          ? `${FORCE_SANDBOX_ENV}=1 (isogate plugin verify) runs every test in the sandbox, and testPlugin(plugin, ..., { mode: 'node' }) names no module to bundle: write testPlugin(() => import('./index.ts'), options)`
          : "testPlugin needs the plugin's module, to bundle it into the sandbox as the gateway does: testPlugin(() => import('./index.ts'), options). To run a plugin object in Node instead (debugging only: no sandbox), pass { mode: 'node' }",
      );
    }
    runner = await sandboxRunner(locate(source as (() => Promise<unknown>) | URL | string, settings.from, caller), options, settings);
  } else if (typeof source === 'function') {
    runner = await nodeRunner(defaultExport(await (source as () => Promise<unknown>)()), undefined, options, settings);
  } else if (named) {
    const { specifier, baseDir } = locate(source as URL | string, settings.from, caller);
    const file = path.isAbsolute(specifier) ? specifier : isRelative(specifier) ? path.resolve(baseDir, specifier) : createRequire(path.join(baseDir, 'noop.js')).resolve(specifier);
    runner = await nodeRunner(defaultExport(await import(pathToFileURL(file).href)), file, options, settings);
  } else runner = await nodeRunner(source, undefined, options, settings);
  const tester = harness(runner, mode);
  live.add(tester);
  if (disposeWithTest) after(() => tester.dispose());
  return tester;
}

/** The tester around a runner: requests encoded and results applied with the gateway's rules. */
function harness(runner: HookRunner, mode: TestMode): PluginTester {
  const { manifest } = runner;
  const hasRequest = manifest.hooks.includes('onRequest');
  const hasResponse = manifest.hooks.includes('onResponse');
  // As in the gateway: a body is only handed to a hook that exists and was declared for.
  const requestKind = hasRequest ? bodyKind(manifest.requestBody) : null;
  const responseKind = hasResponse ? bodyKind(manifest.responseBody) : null;
  const maxBytes = resolveMaxBodyBytes(manifest.maxBodyBytes);
  let disposed: Promise<void> | null = null;

  function call(hook: 'onRequest' | 'onResponse' | 'verifier', message: string, requestHeaders: string, responseHeaders?: string): Promise<HookOutput> {
    if (disposed) return Promise.reject(new Error(`testPlugin: plugin "${manifest.name}" was disposed`));
    return runner.call(hook, message, requestHeaders, responseHeaders);
  }

  const dispose = (): Promise<void> => {
    live.delete(tester);
    return (disposed ??= runner.dispose());
  };

  const tester: PluginTester = {
    name: manifest.name,
    mode,
    entry: runner.entry,
    dispose,
    [Symbol.asyncDispose]: dispose,

    async request(init: TestRequestInit = {}): Promise<RequestOutcome> {
      const req = prepare(init);
      const forwarded: ForwardedRequest = { path: req.path, query: req.query, headers: req.headers };
      let bytes = bodyBytes(init.body);
      if (!hasRequest) return { forwarded: withBody(forwarded, bytes), state: jsonCopy(req.state), logs: [] };
      const input = requestMessage(req, requestKind); // as the gateway's plugin middleware sends it
      let fragment: string | undefined;
      // Whether the gateway buffered the body (and forwards it from memory, with its own length).
      let held = false;
      if (requestKind) {
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
      const input = requestMessage(req, null);
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
  return tester;
}

/** The gateway's rule: same major, and the same minor while the major is 0. */
function sdkCompatible(pluginSdk: unknown): boolean {
  if (typeof pluginSdk !== 'string') return false;
  const [maj, min] = pluginSdk.split('.').map(Number);
  const [hostMaj, hostMin] = SDK_VERSION.split('.').map(Number);
  return maj === hostMaj && (hostMaj !== 0 || min === hostMin);
}
