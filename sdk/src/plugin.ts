import type { SchemaInput, SchemaOutput, StandardSchemaV1 } from './standard-schema.ts';

/**
 * Header access inside a hook. Names are case-insensitive; repeated fields read as one
 * comma-joined value (`set-cookie` values are kept separate by `getAll`).
 * @example
 * onRequest(req) { if (!req.headers.has('x-api-key')) return { status: 401 }; req.headers.delete('cookie'); }
 */
export interface PluginHeaders {
  get(name: string): string | undefined;
  getAll(name: string): string[];
  has(name: string): boolean;
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  delete(name: string): void;
  /** Every field as `[lower-case name, value]`. */
  entries(): [string, string][];
}

/**
 * The request as a plugin sees it. `path`, `query` and headers may be changed before the
 * request goes upstream.
 * @example
 * onRequest(req) { req.headers.set('x-user-route', `${req.method} ${req.routeName}`); }
 */
export interface PluginRequest {
  readonly method: string;
  /** Normalised path; assign to change what is forwarded. */
  path: string;
  /** Raw query string without `?`; assign to change what is forwarded. */
  query: string;
  readonly params: Readonly<Record<string, string>>;
  readonly clientIp: string;
  /** The matched route's name (its pattern unless named). */
  readonly routeName: string;
  readonly headers: PluginHeaders;
  /**
   * The body, in `onRequest` only and only when the plugin declared `requestBody`: a string for
   * `'text'`, the parsed value for `'json'` (undefined when empty), a Uint8Array for `'bytes'`;
   * undefined for a compressed body with 'text'/'json'. Edit in place or assign: a string is sent
   * as is, bytes as bytes, null/undefined as no body, anything else as JSON.
   */
  body?: unknown;
}

/**
 * The upstream's response as `onResponse` sees it: status and headers may be changed; `body`
 * is present (and may be replaced) only when the plugin declared `responseBody`.
 * @example
 * onResponse(res) { res.headers.delete('server'); if (res.status === 404) res.status = 410; }
 */
export interface PluginResponse {
  status: number;
  readonly headers: PluginHeaders;
  /**
   * Present only when the plugin declared `responseBody` (undefined for invalid JSON or a
   * compressed body with 'text'/'json'). Assign to replace what the client receives.
   */
  body?: unknown;
}

/**
 * What `onRequest` returns to answer by itself, without calling the upstream.
 * @example
 * return { status: 503, headers: { 'retry-after': '60' }, body: { error: 'maintenance' } };
 */
export interface DirectResponse {
  status: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
}

/**
 * Structured logging from a plugin: entries go to the gateway's log with the plugin's name.
 * @example
 * ctx.log.info('key accepted', { keyId: 'k1' });
 */
export interface PluginLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Everything a hook gets besides the request: its validated options, per-request state shared
 * along the chain (JSON values only: it crosses isolates), and a logger.
 * @example
 * onRequest(req, ctx) { ctx.state['tenant'] = req.headers.get('x-tenant') ?? ctx.options.defaultTenant; }
 */
export interface PluginContext<Options> {
  readonly options: Options;
  readonly state: Record<string, unknown>;
  readonly log: PluginLogger;
  /** Claims set by authentication (the auth plugin or a verifier), when present. */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
  /**
   * HTTP from inside the plugin, only to the origins the config allows for this instance
   * (`usePlugin(..., { fetch: { allow: ['https://idp.example.com'] } })`); undefined otherwise.
   * The response body is buffered (bounded) and the call counts against the hook's `wallMs`.
   * @example
   * const res = await ctx.fetch!('https://idp.example.com/introspect', { method: 'POST', body: `token=${t}` });
   * if (res.status !== 200 || !(res.json() as { active?: boolean }).active) return { status: 401 };
   */
  readonly fetch: PluginFetch | undefined;
}

/**
 * The request a plugin may send with `ctx.fetch` (method defaults to `GET`; the body is a string).
 * @example
 * const init: PluginFetchInit = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) };
 */
export interface PluginFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * The answer to `ctx.fetch`: status, lower-case headers and the buffered body.
 * @example
 * const res = await ctx.fetch!('https://users.example.com/users/42');
 * const user = res.headers['content-type']?.startsWith('application/json') ? res.json() : res.text();
 */
export interface PluginFetchResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  text(): string;
  json(): unknown;
}

/**
 * `ctx.fetch`: allow-listed, bounded HTTP for plugins; the type to give a helper that takes it.
 * @example
 * async function lookup(fetch: PluginFetch, id: string): Promise<unknown> {
 *   return (await fetch(`https://users.example.com/users/${id}`)).json();
 * }
 */
export type PluginFetch = (url: string, init?: PluginFetchInit) => Promise<PluginFetchResponse>;

/**
 * How a plugin wants a buffered body (`requestBody` / `responseBody`): a string for `'text'`, the
 * parsed value for `'json'`, a Uint8Array for `'bytes'`.
 * @example
 * definePlugin({ name: 'wrap', version: '1.0.0', responseBody: 'json', onResponse(res) { res.body = { data: res.body }; } });
 */
export type BodyKind = 'text' | 'json' | 'bytes';
type Awaitable<T> = T | Promise<T>;

/**
 * What a plugin author writes: name, version, optional options schema and hooks.
 * @example
 * const definition: PluginDefinition<undefined> = { name: 'no-server', version: '1.0.0', onResponse(res) { res.headers.delete('server'); } };
 * export default definePlugin(definition);
 */
export interface PluginDefinition<Schema extends StandardSchemaV1 | undefined> {
  /** Package-style name, shown in logs and metrics. */
  name: string;
  version: string;
  /**
   * Standard Schema (zod, valibot, …) for the options; validated before the plugin serves. An
   * option key the schema does not know (a typo like `headr`) is a load error naming
   * `plugins.<instance>.options.headr`, whatever the library does with it (zod's default object
   * drops it silently).
   */
  options?: Schema;
  /**
   * Accept option keys the schema does not declare (default false): for a plugin that passes
   * options through to something else. Keys the schema drops are then dropped silently, so
   * declare the schema loose (zod's `z.looseObject`) to see them in `ctx.options`.
   * @example
   * definePlugin({ name: 'forward-settings', version: '1.0.0', options: z.looseObject({ header: z.string() }), allowUnknownOptions: true,
   *   onRequest(req, ctx) { req.headers.set(ctx.options.header, JSON.stringify(ctx.options)); } });
   */
  allowUnknownOptions?: boolean;
  /** Ask for the request body (buffered up to `maxBodyBytes`) before `onRequest`. */
  requestBody?: BodyKind;
  /** Ask for the response body (buffered up to `maxBodyBytes`) before `onResponse`. */
  responseBody?: BodyKind;
  /** Upper bound for buffered bodies (default 1 MiB); larger bodies answer 413 / 502. */
  maxBodyBytes?: number;
  onRequest?(req: PluginRequest, ctx: PluginContext<OptionsOf<Schema>>): Awaitable<DirectResponse | void>;
  onResponse?(res: PluginResponse, req: PluginRequest, ctx: PluginContext<OptionsOf<Schema>>): Awaitable<void>;
  /**
   * Replace the built-in JWT check: the `auth` built-in with `verifier: '<this instance>'` hands
   * the bearer token here. Return the claims to accept it; return `null` (or throw) to reject it
   * with a 401. A timeout, out-of-memory or deadline is a plugin failure: the client gets a 503,
   * and so does a failed `ctx.fetch` the hook lets escape (the identity provider is unreachable:
   * that is no verdict on the token). Catch it yourself to decide otherwise.
   * `ctx.state` and `ctx.claims` are empty here; `ctx.fetch` works as in the other hooks.
   * @example
   * async verifier(token, ctx) {
   *   const res = await ctx.fetch!('https://idp.example.com/introspect', { method: 'POST', body: `token=${token}` });
   *   const body = res.json() as { active: boolean; sub?: string };
   *   return body.active ? { sub: body.sub } : null;
   * }
   */
  verifier?(token: string, ctx: PluginContext<OptionsOf<Schema>>): Awaitable<Record<string, unknown> | null | undefined>;
}

/**
 * The options type the hooks see as `ctx.options`: the schema's output (defaults filled), or an
 * empty object for a plugin without an options schema.
 * @example
 * const schema = z.object({ header: z.string().default('x-request-id') });
 * const options: OptionsOf<typeof schema> = { header: 'x-trace-id' }; // OptionsOf<undefined> is {}
 */
export type OptionsOf<Schema> = Schema extends StandardSchemaV1 ? SchemaOutput<Schema> : Record<string, never>;
/**
 * The options type {@link usePlugin} accepts in `gateway.config.ts`: the schema's input, so fields
 * with a default may be left out; an empty object for a plugin without an options schema.
 * @example
 * const schema = z.object({ header: z.string().default('x-request-id') });
 * const options: OptionsInputOf<typeof schema> = {}; // `header` has a default
 */
export type OptionsInputOf<Schema> = Schema extends StandardSchemaV1 ? SchemaInput<Schema> : Record<string, never>;

/**
 * A defined plugin: plain data the gateway loads into its own isolate.
 * @example
 * const plugin: Plugin<undefined> = definePlugin({ name: 'noop', version: '1.0.0' });
 * plugin.kind; // 'isogate-plugin'
 */
export interface Plugin<Schema extends StandardSchemaV1 | undefined = StandardSchemaV1 | undefined> extends PluginDefinition<Schema> {
  readonly kind: 'isogate-plugin';
  /** The SDK version the plugin was built against (checked against the gateway's). */
  readonly sdkVersion: string;
}

/**
 * The version of this SDK; plugins record it and the gateway checks it.
 * @example
 * import plugin from './plugins/add-header.ts';
 * if (plugin.sdkVersion !== SDK_VERSION) console.warn(`add-header was built against SDK ${plugin.sdkVersion}`);
 */
export const SDK_VERSION = '0.1.0';

/**
 * Define a plugin. The default export of a plugin module.
 * @example
 * import { definePlugin } from '@isogate/sdk';
 * import { z } from 'zod';
 * export default definePlugin({
 *   name: 'add-header',
 *   version: '1.0.0',
 *   options: z.object({ name: z.string(), value: z.string() }),
 *   onRequest(req, ctx) { req.headers.set(ctx.options.name, ctx.options.value); },
 * });
 */
export function definePlugin<Schema extends StandardSchemaV1 | undefined = undefined>(definition: PluginDefinition<Schema>): Plugin<Schema> {
  return { ...definition, kind: 'isogate-plugin', sdkVersion: SDK_VERSION };
}

/**
 * How a plugin failure reaches the client: `'fail-closed'` (default) answers 500, `'fail-open'`
 * skips the failed hook and logs it.
 * @example
 * // A cosmetic header may be skipped when its plugin fails; an access check should not.
 * const policy: FailurePolicy = 'fail-open';
 */
export type FailurePolicy = 'fail-closed' | 'fail-open';

/**
 * Limits of one plugin instance's isolate.
 * @example
 * const limits: PluginLimits = { memoryMb: 32, cpuMs: 20, wallMs: 200 };
 */
export interface PluginLimits {
  /** Isolate heap limit (default 64 MB). */
  memoryMb?: number;
  /** CPU time one synchronous hook run may take (default 50 ms). */
  cpuMs?: number;
  /** Wall-clock deadline of a hook, including awaits (default 1000 ms). */
  wallMs?: number;
}

declare const userPluginSource: unique symbol;
/**
 * A plugin path or package name that went through {@link usePlugin} (so its options were type-checked).
 * @example
 * const source: UserPluginSource = usePlugin(() => import('./plugins/add-header.ts'), { name: 'x-a', value: '1' }).use;
 */
export type UserPluginSource = string & { readonly [userPluginSource]: true };

/**
 * Which origins a plugin instance may reach with `ctx.fetch` (default: none: no `ctx.fetch`).
 * @example
 * const fetch: PluginFetchSettings = { allow: ['https://idp.example.com'], timeoutMs: 2000 };
 */
export interface PluginFetchSettings {
  /** Origins (`scheme://host[:port]`) the plugin may call. */
  allow: string[];
  /** Per call (default 5000 ms; the hook's `wallMs` still bounds the whole hook). */
  timeoutMs?: number;
  /** Largest response body buffered (default 1 MiB). */
  maxResponseBytes?: number;
}

/**
 * A user plugin instance in `gateway.config.ts`; build it with {@link usePlugin}.
 * @example
 * const tag: UserPluginInstance = usePlugin(() => import('./plugins/add-header.ts'),
 *   { name: 'x-tag', value: 'v1' }, { failurePolicy: 'fail-open', limits: { wallMs: 200 } });
 */
export interface UserPluginInstance {
  /** A user plugin: `use` is loaded as a path or package, even one named like a built-in (`logging`). */
  readonly kind: 'user';
  readonly use: UserPluginSource;
  readonly options?: unknown;
  readonly failurePolicy?: FailurePolicy;
  readonly limits?: PluginLimits;
  readonly fetch?: PluginFetchSettings;
  readonly isolation?: PluginIsolation;
}

/**
 * How a user plugin instance may run (see {@link usePlugin}).
 * @example
 * const settings: UserPluginSettings = { failurePolicy: 'fail-open', limits: { wallMs: 200 }, fetch: { allow: ['https://idp.example.com'] } };
 */
export interface UserPluginSettings {
  failurePolicy?: FailurePolicy;
  limits?: PluginLimits;
  fetch?: PluginFetchSettings;
  isolation?: PluginIsolation;
}

/**
 * Where a user plugin instance runs. `'own'` (the default): an isolate of its own, so nothing it
 * does reaches another plugin. `'shared'`: one isolate for every `'shared'` instance of the
 * config, each in a context of its own (no shared globals), with consecutive shared instances on a
 * route running their hooks in one crossing into it — cheaper per request, for plugins you trust
 * together. What they give up: the isolate's memory limit is the sum of theirs, and a CPU, clock
 * or memory stop in one, or a reload that changes one, restarts them all (with their state).
 * @example
 * const isolation: PluginIsolation = 'shared';
 */
export type PluginIsolation = 'own' | 'shared';

type DefaultExport<M> = M extends { default: infer P } ? P : M;
type SchemaOfModule<M> = DefaultExport<M> extends Plugin<infer S> ? S : never;

/**
 * The options type {@link usePlugin} checks for a plugin module: its schema's input, or a message
 * (a string literal type, which the compiler prints) saying what is missing.
 * @example
 * const options: UsePluginOptions<typeof import('./plugins/add-header.ts')> = { name: 'x-a', value: '1' };
 */
export type UsePluginOptions<Module> = unknown extends Module
  ? "usePlugin cannot see the plugin's types: write usePlugin(() => import('./plugins/x.ts'), options), or name the module twice: usePlugin<typeof import('./plugins/x.ts')>('./plugins/x.ts', options)"
  : [SchemaOfModule<Module>] extends [never]
    ? 'usePlugin: this module is not a plugin (it needs `export default definePlugin({...})`)'
    : OptionsInputOf<SchemaOfModule<Module>>;

/**
 * Reference a plugin from `gateway.config.ts`, with its options type-checked against the plugin's
 * schema. Name the plugin once, as a function returning `import()` of its module (a path relative
 * to the file that writes it, or an installed package): TypeScript reads the plugin's types from
 * it, editors follow and rename it, and the gateway reads the path from the function's text. The
 * function is never called: the plugin's code never runs in the gateway process; it is bundled and
 * run in its own isolate. The result is marked `kind: 'user'`, so a package named like a built-in
 * (`logging`) is loaded as that package.
 *
 * The older form names the module twice, as a type and as a path
 * (`usePlugin<typeof import('./p.ts')>('./p.ts', options)`); `isogate check` reports the two when
 * they differ. A string without the type argument is a type error that says so.
 * @example
 * plugins: {
 *   'add-header': usePlugin(() => import('./plugins/add-header.ts'), { name: 'x-a', value: '1' }),
 *   'request-id': usePlugin(() => import('isogate-plugin-request-id'), { echo: true }, { failurePolicy: 'fail-open' }),
 * }
 */
export function usePlugin<Module>(plugin: (() => Promise<Module>) | string, options: UsePluginOptions<Module>, settings: UserPluginSettings = {}): UserPluginInstance {
  const use = typeof plugin === 'string' ? plugin : moduleSpecifier(plugin);
  return { kind: 'user', use: use as UserPluginSource, options, ...settings };
}

/**
 * The specifier in `() => import('./p.ts')`, read from the function's text, never by calling it.
 * `isogate` bundles the config with esbuild, which leaves these imports in place with the path
 * made absolute (runtime/src/config/load-config.ts), so a path is relative to the file that wrote it.
 */
function moduleSpecifier(load: () => Promise<unknown>): string {
  const text = Function.prototype.toString.call(load);
  const imports = [...text.matchAll(/\b(?:import|require)\s*\(\s*(["'`])([^"'`$]+)\1\s*\)/g)];
  if (typeof load !== 'function' || load.length !== 0 || imports.length !== 1) {
    throw new TypeError(`usePlugin: name the plugin as () => import('./plugins/x.ts') (one import of a literal path; it is never called), not ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`);
  }
  return imports[0]![2]!;
}

/**
 * An error a `verifier` throws when it cannot decide (the identity provider answered 5xx, or
 * refused the gateway's client credentials): the client gets a 503, not a 401. A failed
 * `ctx.fetch` that escapes the verifier counts as such already.
 * @example
 * if (res.status !== 200) throw unavailable(`introspection answered ${res.status}`);
 */
export function unavailable(message: string): Error {
  const error = new Error(message);
  // A registry symbol: the hook runtime recognises it without sharing a class with the plugin's bundle.
  Object.defineProperty(error, Symbol.for('isogate.unavailable'), { value: true });
  return error;
}
