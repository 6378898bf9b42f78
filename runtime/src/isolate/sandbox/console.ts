/**
 * The plugin's `console` (the WHATWG Console namespace), written to the log of the hook call in
 * progress, the same log as `ctx.log`: `log`/`info` at info, `debug`/`trace` at debug, `warn`,
 * `error` and a failed `assert` at error. Runs inside the plugin isolate, bundled into the sandbox
 * script (sandbox-entry.ts); never in the host.
 *
 * Each line carries where the plugin called from, as a `line:column` of the plugin's bundle (the
 * first stack frame in it): the host maps that to the plugin's own file through the bundle's
 * source map, as it does for plugin errors. Reading a stack costs a few microseconds, paid only by
 * a plugin that logs through console.
 */

/** The hook runtime's sink: the call in progress gets the line (dropped outside any call). */
export type LogWrite = (level: 'debug' | 'info' | 'warn' | 'error', message: string, where: string | undefined) => void;

/** A console line is cut past this many characters: one log line, not a dump of a body. */
const MAX_MESSAGE = 8_192;
const MAX_DEPTH = 4;
const MAX_ITEMS = 50;

/** Plugin bundles are compiled as `isogate-plugin:<entry>`; the frame's `:line:column` is in the bundle. */
const PLUGIN_FRAME = /isogate-plugin:.*?:(\d+):(\d+)\)?$/;

export function createConsole(write: LogWrite) {
  // Taken now, before plugin code runs and may replace it.
  const captureStackTrace = Error.captureStackTrace;

  function where(): string | undefined {
    const holder: { stack?: unknown } = {};
    captureStackTrace(holder);
    const stack = holder.stack;
    if (typeof stack !== 'string') return undefined;
    for (const line of stack.split('\n')) {
      const m = PLUGIN_FRAME.exec(line);
      if (m) return `${m[1]}:${m[2]}`;
    }
    return undefined;
  }

  function inspect(value: unknown, depth: number, seen: object[]): string {
    switch (typeof value) {
      case 'string':
        return depth === 0 ? value : JSON.stringify(value);
      case 'bigint':
        return `${value}n`;
      case 'symbol':
        return value.toString();
      case 'function':
        return `[Function: ${value.name || '(anonymous)'}]`;
      case 'object':
        break;
      default:
        return String(value);
    }
    if (value === null) return 'null';
    if (value instanceof Error) return value.message ? `${value.name}: ${value.message}` : value.name;
    if (seen.includes(value)) return '[Circular]';
    if (depth >= MAX_DEPTH) return Array.isArray(value) ? '[Array]' : '[Object]';
    seen.push(value);
    try {
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
      if (value instanceof Map) return `Map(${value.size}) {${items([...value].map(([k, v]) => `${inspect(k, depth + 1, seen)} => ${inspect(v, depth + 1, seen)}`))}}`;
      if (value instanceof Set) return `Set(${value.size}) {${items([...value].map((v) => inspect(v, depth + 1, seen)))}}`;
      if (Array.isArray(value) || ArrayBuffer.isView(value)) {
        const list = Array.from(value as ArrayLike<unknown>).slice(0, MAX_ITEMS + 1);
        return `[${items(list.map((v) => inspect(v, depth + 1, seen)), (value as ArrayLike<unknown>).length)}]`;
      }
      const keys = Object.keys(value).slice(0, MAX_ITEMS + 1);
      const body = items(keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${inspect((value as Record<string, unknown>)[k], depth + 1, seen)}`), Object.keys(value).length);
      return body === '' ? '{}' : `{${body}}`;
    } finally {
      seen.pop();
    }
  }

  function items(parts: string[], total = parts.length): string {
    const shown = parts.slice(0, MAX_ITEMS);
    if (total > MAX_ITEMS) shown.push(`... ${total - MAX_ITEMS} more`);
    return shown.length === 0 ? '' : ` ${shown.join(', ')} `;
  }

  /** Node's `util.format` subset: %s %d %i %f %j %o %O %c %% in a leading string, the rest spaced. */
  function format(args: unknown[]): string {
    let out = '';
    let rest = 0;
    const first = args[0];
    if (typeof first === 'string' && args.length > 1 && first.includes('%')) {
      rest = 1;
      out = first.replace(/%[sdifjoOc%]/g, (token) => {
        if (token === '%%') return '%';
        if (rest >= args.length) return token;
        const arg = args[rest++];
        switch (token) {
          case '%s':
            return typeof arg === 'string' ? arg : inspect(arg, 1, []);
          case '%d':
          case '%i': {
            const n = typeof arg === 'bigint' ? arg : Number(arg);
            return typeof n === 'bigint' ? `${n}n` : String(token === '%i' ? Math.trunc(n) : n);
          }
          case '%f':
            return String(Number(arg));
          case '%j':
            try {
              return JSON.stringify(arg) ?? 'undefined';
            } catch {
              return '[Circular]';
            }
          case '%c':
            return '';
          default:
            return inspect(arg, 1, []);
        }
      });
    }
    for (let i = rest; i < args.length; i++) {
      const part = inspect(args[i], 0, []);
      out = i === 0 ? part : `${out} ${part}`;
      if (out.length > MAX_MESSAGE) break;
    }
    return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
  }

  let indent = '';
  const counts = new Map<string, number>();
  const timers = new Map<string, number>();
  const emit = (level: Parameters<LogWrite>[0], message: string) => write(level, indent + message, where());
  const label = (value: unknown) => (value === undefined ? 'default' : String(value));

  const console = {
    log: (...data: unknown[]) => emit('info', format(data)),
    info: (...data: unknown[]) => emit('info', format(data)),
    debug: (...data: unknown[]) => emit('debug', format(data)),
    warn: (...data: unknown[]) => emit('warn', format(data)),
    error: (...data: unknown[]) => emit('error', format(data)),
    trace: (...data: unknown[]) => emit('debug', `Trace${data.length > 0 ? `: ${format(data)}` : ''}`),
    assert: (condition?: unknown, ...data: unknown[]) => {
      if (!condition) emit('error', `Assertion failed${data.length > 0 ? `: ${format(data)}` : ''}`);
    },
    dir: (item?: unknown) => emit('info', inspect(item, 1, [])),
    dirxml: (...data: unknown[]) => emit('info', format(data)),
    table: (data?: unknown) => emit('info', inspect(data, 1, [])),
    count: (name?: unknown) => {
      const key = label(name);
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      emit('info', `${key}: ${n}`);
    },
    countReset: (name?: unknown) => void counts.delete(label(name)),
    group: (...data: unknown[]) => {
      if (data.length > 0) emit('info', format(data));
      indent += '  ';
    },
    groupCollapsed: (...data: unknown[]) => {
      if (data.length > 0) emit('info', format(data));
      indent += '  ';
    },
    groupEnd: () => {
      indent = indent.slice(2);
    },
    time: (name?: unknown) => void timers.set(label(name), Date.now()),
    timeLog: (name?: unknown, ...data: unknown[]) => {
      const started = timers.get(label(name));
      if (started !== undefined) emit('info', `${label(name)}: ${Date.now() - started}ms${data.length > 0 ? ` ${format(data)}` : ''}`);
    },
    timeEnd: (name?: unknown) => {
      const started = timers.get(label(name));
      if (started === undefined) return;
      timers.delete(label(name));
      emit('info', `${label(name)}: ${Date.now() - started}ms`);
    },
    clear: () => {},
  };
  return Object.freeze(console);
}
