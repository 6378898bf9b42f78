/**
 * The plugin side of the hook protocol: what runs next to a plugin's code, in the gateway's
 * isolate and in `@isogate/sdk/testing`. Requests arrive as one JSON string, hook results leave
 * as one JSON string; plugin code only ever sees plain objects built here.
 *
 * `createHookRuntime` is self-contained on purpose: it refers to nothing outside itself and only
 * to V8 built-ins, so its source text (`createHookRuntime.toString()`) can be evaluated in an
 * isolate that has no module system. It is a faithful copy of the body of the runtime's
 * `runtime/src/isolate/prelude.ts`; `sdk/src/testing.test.ts` runs one fixture through both and
 * compares what comes out.
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
  /** Validate the options (JSON text) with the plugin's Standard Schema; `{"ok":true}` or the issues. */
  configure(input: string): string | Promise<string>;
  /** Run a hook; a result starting with `\u0000` names a pending promise to `settle`. */
  call(hook: string, input: string): string;
  settle(id: number): Promise<string>;
}

/**
 * Build a hook runtime around one plugin.
 * @internal
 * @example
 * const rt = createHookRuntime();
 * rt.register(plugin);
 * rt.configure('{}');
 */
export function createHookRuntime(): HookRuntime {
  type Fields = Record<string, string[]>;
  type LogEntry = [level: string, message: string, fields: unknown];

  class Headers {
    readonly f: Fields;
    changed = false;
    constructor(pairs: [string, string][]) {
      const f: Fields = Object.create(null);
      for (const [k, v] of pairs) (f[k] ??= []).push(v);
      this.f = f;
    }
    get(name: string): string | undefined {
      const v = this.f[String(name).toLowerCase()];
      return v === undefined ? undefined : v.join(', ');
    }
    getAll(name: string): string[] {
      return [...(this.f[String(name).toLowerCase()] ?? [])];
    }
    has(name: string): boolean {
      return String(name).toLowerCase() in this.f;
    }
    set(name: string, value: string): void {
      this.f[String(name).toLowerCase()] = [String(value)];
      this.changed = true;
    }
    append(name: string, value: string): void {
      (this.f[String(name).toLowerCase()] ??= []).push(String(value));
      this.changed = true;
    }
    delete(name: string): void {
      delete this.f[String(name).toLowerCase()];
      this.changed = true;
    }
    entries(): [string, string][] {
      const out: [string, string][] = [];
      for (const k in this.f) for (const v of this.f[k]!) out.push([k, v]);
      return out;
    }
  }

  let plugin: Record<string, unknown> | null = null;
  let options: unknown = {};
  const pending = new Map<number, Promise<string>>();
  let nextId = 1;

  function makeLog(entries: LogEntry[]) {
    const at = (level: string) => (message: unknown, fields?: unknown) => {
      if (entries.length < 100) entries.push([level, String(message), fields === undefined ? null : fields]);
    };
    return Object.freeze({ debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') });
  }

  function run(hook: string, input: string): string {
    const msg = JSON.parse(input);
    const logs: LogEntry[] = [];
    const ctx = Object.freeze({ options, state: msg.s ?? {}, log: makeLog(logs), claims: msg.c ?? undefined });
    const rq = msg.rq;
    const reqHeaders = new Headers(rq.h);
    const req: Record<string, unknown> = {
      method: rq.m,
      path: rq.p,
      query: rq.q,
      params: Object.freeze(rq.pa),
      clientIp: rq.ip,
      routeName: rq.rn,
      headers: reqHeaders,
    };
    if ('b' in rq) req['body'] = rq.b;
    let res: { status: number; headers: Headers; body?: unknown } | null = null;
    if (hook === 'onResponse') {
      res = { status: msg.rs.st, headers: new Headers(msg.rs.h) };
      if ('b' in msg.rs) res.body = msg.rs.b;
    }
    const finish = (direct: unknown): string => {
      const out: Record<string, unknown> = { s: ctx.state, l: logs };
      if (req['path'] !== rq.p) out['p'] = String(req['path']);
      if (req['query'] !== rq.q) out['q'] = String(req['query']);
      if (reqHeaders.changed) out['h'] = reqHeaders.entries();
      if (res) {
        out['st'] = res.status;
        if (res.headers.changed) out['rh'] = res.headers.entries();
        if ('b' in msg.rs && res.body !== msg.rs.b) out['rb'] = res.body;
      }
      if (direct !== undefined && direct !== null) out['r'] = direct;
      return JSON.stringify(out);
    };
    const fn = plugin![hook] as (...args: unknown[]) => unknown;
    const result = hook === 'onResponse' ? fn.call(plugin, res, req, ctx) : fn.call(plugin, req, ctx);
    if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
      const id = nextId++;
      pending.set(id, Promise.resolve(result).then(finish));
      return `\u0000${id}`;
    }
    return finish(result);
  }

  return Object.freeze({
    register(value: unknown): string {
      const p = (value as { default?: unknown })?.default ?? value;
      if (!p || typeof p !== 'object' || (p as { kind?: unknown }).kind !== 'isogate-plugin') {
        throw new TypeError('the plugin module must `export default definePlugin({...})`');
      }
      plugin = p as Record<string, unknown>;
      const hooks = ['onRequest', 'onResponse'].filter((h) => typeof plugin![h] === 'function');
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
    configure(input: string): string | Promise<string> {
      const raw = JSON.parse(input);
      const schema = (plugin!['options'] as { '~standard'?: { validate(v: unknown): unknown } } | undefined)?.['~standard'];
      if (!schema) {
        options = Object.freeze(raw ?? {});
        return '{"ok":true}';
      }
      type Result = { value?: unknown; issues?: { message: string; path?: unknown[] }[] };
      const report = (result: Result) => {
        if (result.issues) {
          const issues = result.issues.map((i) => ({
            message: String(i.message),
            path: (i.path ?? []).map((seg) => (seg !== null && typeof seg === 'object' ? (seg as { key: unknown }).key : seg)).map(String),
          }));
          return JSON.stringify({ ok: false, issues });
        }
        options = result.value;
        return '{"ok":true}';
      };
      const result = schema.validate(raw) as Result | Promise<Result>;
      return result instanceof Promise ? result.then(report) : report(result);
    },
    call: run,
    settle(id: number): Promise<string> {
      const p = pending.get(id)!;
      pending.delete(id);
      return p;
    },
  });
}
