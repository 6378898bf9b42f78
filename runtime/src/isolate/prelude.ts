/**
 * Trusted code evaluated in every plugin isolate before the plugin's bundle. It is the only code
 * that talks to the host: requests arrive as one JSON string, hook results leave as one JSON
 * string (one crossing each way, no isolated-vm objects ever reach plugin code). It is written as
 * a self-contained function whose source text is evaluated in the isolate: it must not refer to
 * anything outside itself.
 */
export function isolatePrelude(): void {
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

  const g = globalThis as unknown as Record<string, unknown>;
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

  const host = Object.freeze({
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
  Object.defineProperty(g, '__isogateHost', { value: host, enumerable: false, configurable: false, writable: false });
}
