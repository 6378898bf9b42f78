/**
 * The plugin side of the hook protocol: what runs next to a plugin's code, in the gateway's
 * isolate and in `@isogate/sdk/testing`. Requests arrive as one JSON string, hook results leave
 * as one JSON string; plugin code only ever sees plain objects built here.
 *
 * `createHookRuntime` is self-contained on purpose: it refers to nothing outside itself and only
 * to V8 built-ins, so its source text (`createHookRuntime.toString()`) can be evaluated in an
 * isolate that has no module system. It is the only copy: the gateway's `PluginHost` evaluates that
 * text before each plugin bundle (as the non-enumerable global `__isogateHost`), and the test
 * harness calls the function directly. Type-only syntax is fine (type stripping leaves blanks);
 * imports, module-level constants and helpers are not. `sdk/src/testing.test.ts` runs one fixture
 * through the harness and through the real isolate and compares what comes out.
 *
 * Exported as `@isogate/sdk/internal/hook-runtime` for the runtime only: not a public API.
 * @internal
 */

/**
 * The four entry points the host calls; each takes and returns JSON text.
 * @internal
 * @example
 * const manifest = JSON.parse(runtime.register(pluginModule));
 */
export interface HookRuntime {
  /** Register the plugin module's default export; returns its manifest as JSON. */
  register(value: unknown): string;
  /**
   * Validate the options (JSON text) with the plugin's Standard Schema, and refuse keys it does not
   * know (unless the plugin set `allowUnknownOptions`); `{"ok":true}` or the issues. An async schema answers `\u0000<id>` like a hook: `settle(id)` gives the result, so
   * the host calls it synchronously like any hook and only an async schema costs a round trip.
   */
  configure(input: string): string;
  /**
   * Run a hook; a result starting with `\u0000` names a pending promise to `settle`. Header maps
   * travel as separate JSON strings (request, then response for onResponse), so they are parsed
   * only if the hook reads them.
   */
  call(hook: string, input: string, requestHeaders: string, responseHeaders?: string, requestOps?: string, responseOps?: string): string;
  /**
   * `call` with its arguments in one string (`packHookCall` in hook-wire.ts), as the gateway
   * sends them: each argument that crosses into an isolate costs, one costs least.
   */
  callPacked(packed: string): string;
  /**
   * The answer parked as `\u0000<id>` if its promise has settled: its text, or its rejection
   * thrown; `\u0000` while it is still pending (then `settle`). The host calls it right after the
   * call that answered `\u0000<id>`: a hook that is async but awaits nothing that takes time (an
   * `async onRequest` that only sets headers) has settled by then, since the isolate runs its
   * promise jobs before the call returns, and costs one more synchronous call, not a round trip.
   */
  take(id: number): string;
  /** The answer parked as `\u0000<id>`, when it comes. */
  settle(id: number): Promise<string>;
  /**
   * Drop the answer the last call parked. The host calls it when that call threw instead of
   * answering (isolated-vm throws a rejection the plugin left unhandled at the end of the call,
   * after the hook's own promise was parked): nobody would ever take or settle it.
   */
  forgetLast(): void;
  /**
   * Add a line to the log of the hook call in progress, as `ctx.log` does (the isolate's `console`
   * writes here; a line outside any call is dropped). `where` is the caller's `line:column` in the
   * plugin's bundle, which the host maps to the plugin's source. Uses no `this`.
   */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, where?: string): void;
}

/**
 * Build a hook runtime around one plugin.
 * @internal
 * @example
 * const rt = createHookRuntime();
 * rt.register(plugin);
 * rt.configure('{}');
 */
export function createHookRuntime(fetchOverride?: (url: string, init: string) => Promise<string>): HookRuntime {
  type Fields = Record<string, string[]>;
  type LogEntry = [level: string, message: string, fields: unknown, where?: string];

  // `ctx.fetch` exists only where the gateway installed an allow-listed host fetch for this plugin
  // (a frozen closure; the plugin never sees the isolated-vm reference behind it).
  // The test harness passes its own (it runs this runtime in the test's process, not an isolate).
  // ctx.fetch's own failures: a verifier that lets one escape could not reach its identity
  // provider, which is an outage (503), not a verdict on the token (401).
  const fetchFailures = new WeakSet<object>();
  const hostFetch = fetchOverride ?? (globalThis as { __isogateHostFetch?: (url: string, init: string) => Promise<string> }).__isogateHostFetch;
  const pluginFetch = hostFetch
    ? Object.freeze(async (url: unknown, init?: { method?: unknown; headers?: unknown; body?: unknown }) => {
        const caller = current;
        const reply = await hostFetch(String(url), JSON.stringify(init ?? {}));
        // The host's answer resumes this call alone (a task of its own): its console lines are its own again.
        current = caller;
        const answer = JSON.parse(reply) as { status: number; headers: Record<string, string>; body: string; error?: string };
        if (answer.error !== undefined) {
          const failure = new Error(answer.error);
          fetchFailures.add(failure);
          throw failure;
        }
        const body = answer.body;
        return Object.freeze({ status: answer.status, headers: Object.freeze(answer.headers), text: () => body, json: () => JSON.parse(body) as unknown });
      })
    : undefined;

  // Headers arrive as JSON text (`{"name": "value" | ["v1", "v2"]}`) parsed only on the first
  // read: a hook that only sets or deletes headers never pays for parsing them. Writes are recorded
  // as operations, and only the operations cross back to the host.
  class Headers {
    readonly ops: (['s' | 'a', string, string] | ['d', string])[] = [];
    #source: string;
    /** Changes made before this hook that the source does not hold yet (JSON text), applied on the first read like the hook's own. */
    #inherited: string | undefined;
    #fields: Fields | null = null;
    constructor(source: string, inherited?: string) {
      this.#source = source;
      this.#inherited = inherited;
    }
    get changed(): boolean {
      return this.ops.length > 0;
    }
    #read(): Fields {
      if (this.#fields) return this.#fields;
      const f: Fields = Object.create(null);
      const raw = JSON.parse(this.#source) as Record<string, string | string[]>;
      for (const k in raw) {
        const v = raw[k]!;
        f[k] = Array.isArray(v) ? v.map(String) : [String(v)];
      }
      const inherited = this.#inherited === undefined ? [] : (JSON.parse(this.#inherited) as Headers['ops']);
      for (const op of [...inherited, ...this.ops]) {
        if (op[0] === 's') f[op[1]] = [op[2]];
        else if (op[0] === 'a') (f[op[1]] ??= []).push(op[2]);
        else delete f[op[1]];
      }
      return (this.#fields = f);
    }
    get(name: string): string | undefined {
      const v = this.#read()[String(name).toLowerCase()];
      return v === undefined ? undefined : v.join(', ');
    }
    getAll(name: string): string[] {
      return [...(this.#read()[String(name).toLowerCase()] ?? [])];
    }
    has(name: string): boolean {
      return String(name).toLowerCase() in this.#read();
    }
    set(name: string, value: string): void {
      const k = String(name).toLowerCase();
      const v = String(value);
      if (this.#fields) this.#fields[k] = [v];
      this.ops.push(['s', k, v]);
    }
    append(name: string, value: string): void {
      const k = String(name).toLowerCase();
      const v = String(value);
      if (this.#fields) (this.#fields[k] ??= []).push(v);
      this.ops.push(['a', k, v]);
    }
    delete(name: string): void {
      const k = String(name).toLowerCase();
      if (this.#fields) delete this.#fields[k];
      this.ops.push(['d', k]);
    }
    entries(): [string, string][] {
      const f = this.#read();
      const out: [string, string][] = [];
      for (const k in f) for (const v of f[k]!) out.push([k, v]);
      return out;
    }
  }

  // Bytes cross as base64 inside the JSON message. Plain V8 has no atob/btoa, TextEncoder or
  // Uint8Array.fromBase64, so the runtime carries its own codec.
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const B64_CODES = new Uint8Array(64);
  const B64_VALUES = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) {
    B64_CODES[i] = B64.charCodeAt(i);
    B64_VALUES[B64.charCodeAt(i)] = i;
  }

  function toBase64(bytes: Uint8Array): string {
    const n = bytes.length;
    const out = new Uint8Array(Math.ceil(n / 3) * 4);
    let o = 0;
    let i = 0;
    for (; i + 2 < n; i += 3) {
      const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
      out[o++] = B64_CODES[v >> 18]!;
      out[o++] = B64_CODES[(v >> 12) & 63]!;
      out[o++] = B64_CODES[(v >> 6) & 63]!;
      out[o++] = B64_CODES[v & 63]!;
    }
    if (i < n) {
      const two = i + 1 < n;
      const v = (bytes[i]! << 16) | (two ? bytes[i + 1]! << 8 : 0);
      out[o++] = B64_CODES[v >> 18]!;
      out[o++] = B64_CODES[(v >> 12) & 63]!;
      out[o++] = two ? B64_CODES[(v >> 6) & 63]! : 61; // '='
      out[o] = 61;
    }
    // fromCharCode in slices: one call with a megabyte of arguments would overflow the stack.
    let s = '';
    for (let k = 0; k < out.length; k += 8192) s += String.fromCharCode.apply(null, out.subarray(k, k + 8192) as unknown as number[]);
    return s;
  }

  function fromBase64(s: string): Uint8Array {
    let end = s.length;
    while (end > 0 && s.charCodeAt(end - 1) === 61) end--;
    const out = new Uint8Array(Math.floor((end * 3) / 4));
    let o = 0;
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < end; i++) {
      const c = s.charCodeAt(i);
      const v = c < 128 ? B64_VALUES[c]! : -1;
      if (v < 0) throw new TypeError('invalid base64 body');
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 255;
      }
    }
    return o === out.length ? out : out.subarray(0, o);
  }

  type BodyKind = 'text' | 'json' | 'bytes';
  /** A body as the hook first saw it: the value, and what tells an in-place change apart. */
  interface BodyIn {
    kind: BodyKind;
    value: unknown;
    print: string | undefined;
  }

  function bodyIn(kind: BodyKind, present: boolean, payload: unknown): BodyIn {
    if (!present) return { kind, value: undefined, print: undefined };
    if (kind === 'bytes') return { kind, value: fromBase64(payload as string), print: payload as string };
    // JSON objects and arrays may be edited in place: remember their serialization to compare.
    const print = kind === 'json' && payload !== null && typeof payload === 'object' ? JSON.stringify(payload) : undefined;
    return { kind, value: payload, print };
  }

  /**
   * The body to report after the hook, as `[tag, payload]`, or undefined when it is unchanged.
   * Tags: 't' a string sent as is, 'j' JSON text, 'b' base64 bytes, 'e' no body (null/undefined).
   */
  function bodyOut(before: BodyIn, now: unknown): [string, string] | undefined {
    const { kind, value, print } = before;
    // Strings and other primitives cannot change in place; objects and bytes can, so those are compared by content.
    if (now === value && (value === null || typeof value !== 'object')) return undefined;
    if (now === undefined || now === null) return ['e', ''];
    if (typeof now === 'string') return ['t', now];
    let bytes: Uint8Array | null = null;
    if (now instanceof Uint8Array) bytes = now;
    else if (now instanceof ArrayBuffer) bytes = new Uint8Array(now);
    else if (ArrayBuffer.isView(now)) bytes = new Uint8Array(now.buffer, now.byteOffset, now.byteLength);
    if (bytes) {
      const b64 = toBase64(bytes);
      return kind === 'bytes' && b64 === print ? undefined : ['b', b64];
    }
    const text = JSON.stringify(now) as string | undefined;
    if (text === undefined) return ['e', ''];
    return kind === 'json' && text === print ? undefined : ['j', text];
  }

  let plugin: Record<string, unknown> | null = null;
  let options: unknown = {};
  /** An answer still to come: `\u0000<id>` names it to the host; `state` 0 pending, 1 fulfilled, 2 rejected. */
  type Pending = { promise: Promise<string>; state: 0 | 1 | 2; value: unknown };
  const pending = new Map<number, Pending>();
  let nextId = 1;
  /** The answer the call in progress parked, until the next call starts (see `forgetLast`). */
  let lastDeferred = 0;

  function thenable(value: unknown): value is PromiseLike<unknown> {
    return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
  }

  /** Park an answer that is a promise: the host takes it at once if it settled with the call, or waits (`take`, `settle`). */
  function defer(promise: Promise<string>): string {
    const id = nextId++;
    const entry: Pending = { promise, state: 0, value: undefined };
    pending.set(id, entry);
    lastDeferred = id;
    promise.then(
      (text) => {
        entry.state = 1;
        entry.value = text;
      },
      (err: unknown) => {
        entry.state = 2;
        entry.value = err;
      },
    );
    return `\u0000${id}`;
  }

  /**
   * The log of the call that last entered the isolate, for `console`. Exact: a call's synchronous
   * part and the promise jobs it queued all run before the host can start another call, and the
   * only other way in, ctx.fetch's answer, sets it back to the call that asked.
   */
  let current: LogEntry[] | null = null;

  function makeLog(entries: LogEntry[]) {
    const at = (level: string) => (message: unknown, fields?: unknown) => {
      if (entries.length < 100) entries.push([level, String(message), fields === undefined ? null : fields]);
    };
    return Object.freeze({ debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') });
  }

  /** `verifier(token, ctx)`: answers `{v: claims}` or `{v: null, e: why}`; only a limit breach escapes as a failure. */
  function verify(msg: { t: string }, logs: LogEntry[], ctx: unknown): string {
    const done = (claims: unknown): string => {
      const out: Record<string, unknown> = { v: null };
      if (logs.length > 0) out['l'] = logs;
      if (claims !== null && typeof claims === 'object' && !Array.isArray(claims)) out['v'] = claims;
      else if (claims !== null && claims !== undefined) out['x'] = 'verifier returned neither claims nor null';
      return JSON.stringify(out);
    };
    const rejected = (err: unknown): string => {
      const message = String((err as { message?: unknown } | null)?.message ?? err);
      const outage = err !== null && typeof err === 'object' && (fetchFailures.has(err) || (err as Record<symbol, unknown>)[Symbol.for('isogate.unavailable')] === true);
      const out: Record<string, unknown> = outage ? { v: null, u: message } : { v: null, e: message };
      if (logs.length > 0) out['l'] = logs;
      return JSON.stringify(out);
    };
    let result: unknown;
    try {
      result = (plugin!['verifier'] as (t: string, c: unknown) => unknown).call(plugin, msg.t, ctx);
    } catch (err) {
      return rejected(err);
    }
    if (thenable(result)) return defer(Promise.resolve(result).then(done, rejected));
    return done(result);
  }

  function run(hook: string, input: string, requestHeaders: string, responseHeaders?: string, requestOps?: string, responseOps?: string): string {
    lastDeferred = 0;
    const msg = JSON.parse(input);
    const logs: LogEntry[] = [];
    current = logs;
    const ctx = Object.freeze({ options, state: msg.s ?? {}, log: makeLog(logs), claims: msg.c ?? undefined, fetch: pluginFetch });
    if (hook === 'verifier') return verify(msg, logs, ctx);
    // [method, path, query, params, clientIp, routeName, bodyKind?] (requestMessage in hook-wire.ts).
    const rq = msg.rq as [string, string, string, Record<string, string>, string, string, BodyKind?];
    const reqHeaders = new Headers(requestHeaders, requestOps);
    const req: Record<string, unknown> = {
      method: rq[0],
      path: rq[1],
      query: rq[2],
      params: Object.freeze(rq[3]),
      clientIp: rq[4],
      routeName: rq[5],
      headers: reqHeaders,
    };
    // The request body reaches onRequest only: by onResponse it has gone upstream.
    const reqBody = hook === 'onRequest' && rq[6] ? bodyIn(rq[6], 'qb' in msg, msg.qb) : null;
    if (reqBody) req['body'] = reqBody.value;
    let res: { status: number; headers: Headers; body?: unknown } | null = null;
    let resBody: BodyIn | null = null;
    if (hook === 'onResponse') {
      res = { status: msg.rs.st, headers: new Headers(responseHeaders ?? '{}', responseOps) };
      if (msg.rs.k) {
        resBody = bodyIn(msg.rs.k, 'sb' in msg, msg.sb);
        res.body = resBody.value;
      }
    }
    const finish = (direct: unknown): string => {
      // Empty state and logs stay home: the host keeps the state it sent when none comes back.
      const out: Record<string, unknown> = {};
      if (msg.s !== undefined || Object.keys(ctx.state).length > 0) out['s'] = ctx.state;
      if (logs.length > 0) out['l'] = logs;
      if (req['path'] !== rq[1]) out['p'] = String(req['path']);
      if (req['query'] !== rq[2]) out['q'] = String(req['query']);
      if (reqHeaders.changed) out['h'] = reqHeaders.ops;
      if (reqBody) {
        const b = bodyOut(reqBody, req['body']);
        if (b) out['b'] = b;
      }
      if (res) {
        out['st'] = res.status;
        if (res.headers.changed) out['rh'] = res.headers.ops;
        if (resBody) {
          const rb = bodyOut(resBody, res.body);
          if (rb) out['rb'] = rb;
        }
      }
      if (direct !== undefined && direct !== null) out['r'] = direct;
      return JSON.stringify(out);
    };
    const fn = plugin![hook] as (...args: unknown[]) => unknown;
    const result = hook === 'onResponse' ? fn.call(plugin, res, req, ctx) : fn.call(plugin, req, ctx);
    if (thenable(result)) return defer(Promise.resolve(result).then(finish));
    return finish(result);
  }

  type OptionIssue = { message: string; path: string[] };

  /**
   * Option keys the schema neither declared nor used. Standard Schema cannot be asked which keys
   * it declares, so the options given are walked beside the value the schema produced: a key that
   * is missing from the output at the same place (zod's default object drops it silently) is a
   * suspect. A suspect is confirmed by validating the options without it: an unchanged output
   * means the key did nothing; a transform that renamed or consumed it changes the output, so it
   * is kept. Records and loose objects keep unknown keys, so they never raise a suspect; a value
   * a transform turned into something else (a Map, a Date, a shorter array) is not walked into.
   */
  function unknownOptions(input: string, output: unknown, validate: (value: unknown) => unknown): OptionIssue[] | Promise<OptionIssue[]> {
    const plain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
    const suspects: { path: string[]; near: string[] }[] = [];
    const walk = (given: unknown, kept: unknown, at: string[]): void => {
      if (Array.isArray(given)) {
        if (Array.isArray(kept) && kept.length === given.length) given.forEach((g, i) => walk(g, kept[i], [...at, String(i)]));
      } else if (plain(given) && plain(kept)) {
        for (const key of Object.keys(given)) {
          if (Object.hasOwn(kept, key)) walk(given[key], kept[key], [...at, key]);
          else if (suspects.length < 20) suspects.push({ path: [...at, key], near: Object.keys(kept) });
        }
      }
    };
    walk(JSON.parse(input), output, []);
    if (suspects.length === 0) return [];
    const same = (a: unknown, b: unknown, depth: number): boolean => {
      if (Object.is(a, b)) return true;
      if (depth > 64 || a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
      if (a instanceof Date) return a.getTime() === (b as Date).getTime();
      if (a instanceof Map || a instanceof Set) return same([...a], [...(b as Map<unknown, unknown>)], depth + 1);
      const ka = Object.keys(a);
      return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], depth + 1));
    };
    // Validate the options without these keys: true when the schema produces the same value.
    const idle = (paths: string[][]): boolean | Promise<boolean> => {
      const probe = JSON.parse(input) as Record<string, unknown>;
      for (const p of paths) {
        let at: Record<string, unknown> = probe;
        for (const seg of p.slice(0, -1)) at = at[seg] as Record<string, unknown>;
        delete at[p[p.length - 1]!];
      }
      const judge = (r: { value?: unknown; issues?: unknown }) => !r.issues && same(r.value, output, 0);
      const result = validate(probe) as { value?: unknown; issues?: unknown } | Promise<{ value?: unknown; issues?: unknown }>;
      return result instanceof Promise ? result.then(judge, () => false) : judge(result);
    };
    const distance = (a: string, b: string): number => {
      let row = Array.from({ length: b.length + 1 }, (_, j) => j);
      for (let i = 1; i <= a.length; i++) {
        const next = [i];
        for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
        row = next;
      }
      return row[b.length]!;
    };
    const issue = (s: { path: string[]; near: string[] }): OptionIssue => {
      const key = s.path[s.path.length - 1]!;
      const guess = s.near.filter((k) => distance(key, k) <= Math.max(1, Math.floor(k.length / 3))).sort((x, y) => distance(key, x) - distance(key, y))[0];
      return { message: `unknown option: the plugin's options schema does not declare it${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`, path: s.path };
    };
    // Usually every suspect is a typo: one validation confirms them all. Otherwise one each.
    const pick = (verdicts: boolean[]) => suspects.filter((_, i) => verdicts[i]).map(issue);
    const each = (): OptionIssue[] | Promise<OptionIssue[]> => {
      const verdicts = suspects.map((s) => idle([s.path]));
      return verdicts.some((v) => v instanceof Promise) ? Promise.all(verdicts).then(pick) : pick(verdicts as boolean[]);
    };
    const all = idle(suspects.map((s) => s.path));
    if (all instanceof Promise) return all.then((yes) => (yes ? suspects.map(issue) : each()));
    return all ? suspects.map(issue) : each();
  }

  return Object.freeze({
    register(value: unknown): string {
      const p = (value as { default?: unknown })?.default ?? value;
      if (!p || typeof p !== 'object' || (p as { kind?: unknown }).kind !== 'isogate-plugin') {
        throw new TypeError('the plugin module must `export default definePlugin({...})`');
      }
      plugin = p as Record<string, unknown>;
      const hooks = ['onRequest', 'onResponse', 'verifier'].filter((h) => typeof plugin![h] === 'function');
      return JSON.stringify({
        name: plugin['name'],
        version: plugin['version'],
        sdkVersion: plugin['sdkVersion'],
        hooks,
        requestBody: plugin['requestBody'] ?? null,
        responseBody: plugin['responseBody'] ?? null,
        maxBodyBytes: plugin['maxBodyBytes'] ?? null,
        hasSchema: !!(plugin['options'] as Record<string, unknown> | undefined)?.['~standard'],
      });
    },
    configure(input: string): string {
      const raw = JSON.parse(input);
      const schema = (plugin!['options'] as { '~standard'?: { validate(v: unknown): unknown } } | undefined)?.['~standard'];
      // `allowUnknownOptions`: the plugin passes options through; otherwise a key nobody reads is a mistake.
      const open = plugin!['allowUnknownOptions'] === true;
      if (!schema) {
        const unknown = open || raw === null || typeof raw !== 'object' ? [] : Object.keys(raw).map((key) => ({ message: 'unknown option: the plugin declares no options (a plugin that reads options without a schema sets allowUnknownOptions)', path: [key] }));
        if (unknown.length > 0) return JSON.stringify({ ok: false, issues: unknown });
        options = Object.freeze(raw ?? {});
        return '{"ok":true}';
      }
      type Result = { value?: unknown; issues?: { message: string; path?: unknown[] }[] };
      const report = (result: Result): string | Promise<string> => {
        if (result.issues) {
          const issues = result.issues.map((i) => ({
            message: String(i.message),
            path: (i.path ?? []).map((seg) => (seg !== null && typeof seg === 'object' ? (seg as { key: unknown }).key : seg)).map(String),
          }));
          return JSON.stringify({ ok: false, issues });
        }
        const accept = (unknown: OptionIssue[]) => {
          if (unknown.length > 0) return JSON.stringify({ ok: false, issues: unknown });
          options = result.value;
          return '{"ok":true}';
        };
        const unknown = open ? [] : unknownOptions(input, result.value, (v) => schema.validate(v));
        return unknown instanceof Promise ? unknown.then(accept) : accept(unknown);
      };
      const result = schema.validate(raw) as Result | Promise<Result>;
      const answer = result instanceof Promise ? result.then(report) : report(result);
      if (typeof answer === 'string') return answer;
      return defer(answer);
    },
    call: run,
    callPacked(packed: string): string {
      // `<hook>\0<input length>\0<request headers length>\0` then the texts back to back: only the
      // short prefix is searched. The hook's name is mapped to a literal: a name sliced out of
      // the string would be looked up on the plugin as a new key on every call.
      const a = packed.indexOf('\u0000');
      const b = packed.indexOf('\u0000', a + 1);
      const c = packed.indexOf('\u0000', b + 1);
      const sent = packed.slice(0, a);
      const hook = sent === 'onRequest' ? 'onRequest' : sent === 'onResponse' ? 'onResponse' : sent === 'verifier' ? 'verifier' : sent;
      const inputEnd = c + 1 + Number(packed.slice(a + 1, b));
      const headersEnd = inputEnd + Number(packed.slice(b + 1, c));
      const input = packed.slice(c + 1, inputEnd);
      const requestHeaders = packed.slice(inputEnd, headersEnd);
      return headersEnd === packed.length ? run(hook, input, requestHeaders) : run(hook, input, requestHeaders, packed.slice(headersEnd));
    },
    forgetLast(): void {
      if (lastDeferred !== 0) pending.delete(lastDeferred);
      lastDeferred = 0;
    },
    take(id: number): string {
      const entry = pending.get(id);
      if (entry === undefined || entry.state === 0) return '\u0000';
      pending.delete(id);
      if (entry.state === 2) throw entry.value;
      return entry.value as string;
    },
    settle(id: number): Promise<string> {
      const entry = pending.get(id);
      // Plugin code can reach this runtime and take an answer itself: that fails its own call.
      if (entry === undefined) return Promise.reject(new Error(`the hook's answer ${id} is gone (taken by something other than the gateway)`));
      pending.delete(id);
      return entry.promise;
    },
    log(level: 'debug' | 'info' | 'warn' | 'error', message: string, where?: string): void {
      if (current && current.length < 100) current.push(where === undefined ? [level, String(message), null] : [level, String(message), null, where]);
    },
  });
}
