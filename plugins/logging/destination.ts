import { close, mkdirSync, openSync, write, writeSync } from 'node:fs';
import path from 'node:path';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Closable, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { LogLevel } from './options.ts';

/** Lines are written in batches of at least this many characters (a write per line would cost a syscall each)… */
const BATCH_CHARS = 64 * 1024;
/** …or after this long, so that a quiet gateway's lines still reach the file promptly. */
const FLUSH_INTERVAL_MS = 1000;
/** A disk that stalls must not grow the heap without bound: beyond this backlog, lines are dropped (and counted). */
const MAX_BACKLOG_CHARS = 16 * 1024 * 1024;
/** Write errors and drops are reported at most this often. */
const REPORT_INTERVAL_MS = 10_000;

/**
 * An append-only file fed whole lines by pino, written asynchronously in batches: lines are
 * joined while a write is in flight and written together when it completes, so a busy gateway
 * makes one `write(2)` per event-loop turn at most, and a quiet one at most one per second.
 *
 * Written here rather than with pino.destination (sonic-boom): sonic-boom measures the byte
 * length of its growing buffer on every line, which cost 3 µs per request more in bench.ts; and
 * with its 16 KiB write cap a busy loop outran the disk and dropped lines.
 */
/** Takes whole lines, newline included. */
export interface LineWriter {
  write(line: string): void;
}

class BatchedFile implements LineWriter {
  readonly #fd: number;
  readonly #onProblem: (kind: 'error' | 'drop', code?: string) => void;
  #chunks: string[] = [];
  #pending = 0;
  #writing = false;
  #closed = false;
  readonly #timer: NodeJS.Timeout;
  #idle: (() => void) | null = null;
  // Lines still buffered when the process exits without closing the gateway are written synchronously.
  readonly #onExit = (): void => this.#flushSync();

  constructor(fd: number, onProblem: (kind: 'error' | 'drop', code?: string) => void) {
    this.#fd = fd;
    this.#onProblem = onProblem;
    this.#timer = setInterval(() => this.#flush(), FLUSH_INTERVAL_MS);
    this.#timer.unref();
    process.once('exit', this.#onExit);
  }

  write(line: string): void {
    if (this.#closed) return;
    if (this.#pending > MAX_BACKLOG_CHARS) {
      this.#onProblem('drop');
      return;
    }
    this.#chunks.push(line);
    this.#pending += line.length;
    if (!this.#writing && this.#pending >= BATCH_CHARS) this.#flush();
  }

  /** Write what is buffered, wait for it, and close the file. */
  async end(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    process.off('exit', this.#onExit);
    if (this.#writing) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.#flushSync();
    await new Promise<void>((resolve) => close(this.#fd, () => resolve()));
  }

  #flush(): void {
    if (this.#writing || this.#chunks.length === 0) return;
    const data = this.#chunks.length === 1 ? this.#chunks[0]! : this.#chunks.join('');
    this.#chunks = [];
    this.#pending = 0;
    this.#writing = true;
    this.#writeOut(Buffer.from(data, 'utf8'));
  }

  #writeOut(data: Buffer): void {
    write(this.#fd, data, 0, data.length, null, (err, written) => {
      if (err) {
        // The batch is lost (a full or vanished disk); later lines are still tried.
        this.#onProblem('error', err.code);
      } else if (written < data.length) {
        this.#writeOut(data.subarray(written));
        return;
      }
      this.#writing = false;
      if (this.#idle !== null) {
        const idle = this.#idle;
        this.#idle = null;
        idle();
      } else if (this.#pending >= BATCH_CHARS) this.#flush();
    });
  }

  #flushSync(): void {
    if (this.#chunks.length === 0) return;
    const data = this.#chunks.join('');
    this.#chunks = [];
    this.#pending = 0;
    try {
      writeSync(this.#fd, data);
    } catch (err) {
      this.#onProblem('error', (err as NodeJS.ErrnoException).code);
    }
  }
}

/**
 * One access-log file, shared by every logging instance (of every routing table) that names the
 * same path: the key of `ctx.shared` is the resolved path, so a reload keeps writing through the
 * same stream and never reopens, truncates or interleaves two buffers. Instances hold a reference
 * while they may still log; the file is flushed and closed when the last one lets go (a reload
 * that moved the log elsewhere) and in any case when the gateway closes. A later `acquire`
 * (a reload back to this path) opens it again, in append mode.
 */
export class LogFile implements Closable {
  readonly path: string;
  readonly #problems: Logger;
  #file: BatchedFile | null = null;
  #refs = 0;
  readonly #closing = new Set<Promise<void>>();
  #dropped = 0;
  #errors = 0;
  #lastReport = 0;

  constructor(file: string, problems: Logger) {
    this.path = file;
    this.#problems = problems;
  }

  /** The file's line writer, opened now if needed. Throws (failing the load or reload) when the file cannot be opened. */
  acquire(): LineWriter {
    if (this.#file === null) this.#open();
    this.#refs++;
    return this.#file!;
  }

  /** One holder is done logging; the last one flushes and closes the file. */
  release(): void {
    if (this.#refs > 0 && --this.#refs === 0) this.#end();
  }

  /** Gateway close: flush what is buffered and close, whoever still holds it. */
  async close(): Promise<void> {
    this.#refs = 0;
    this.#end();
    await Promise.all(this.#closing);
  }

  get open(): boolean {
    return this.#file !== null;
  }

  #open(): void {
    let fd: number;
    try {
      mkdirSync(path.dirname(this.path), { recursive: true });
      // Opened synchronously here so that a bad path fails the config load with a clear message
      // instead of surfacing later as failed writes. Access logs hold client addresses: not world-readable.
      fd = openSync(this.path, 'a', 0o640);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new Error(`cannot open the access log file ${this.path} (${code})`, { cause: err });
    }
    this.#file = new BatchedFile(fd, (kind, code) => {
      if (kind === 'drop') this.#dropped++;
      else this.#errors++;
      this.#report(code);
    });
  }

  #end(): void {
    const file = this.#file;
    if (file === null) return;
    this.#file = null;
    const closed = file.end();
    this.#closing.add(closed);
    void closed.then(() => this.#closing.delete(closed));
  }

  #report(code: string | undefined): void {
    const now = Date.now();
    if (now - this.#lastReport < REPORT_INTERVAL_MS) return;
    this.#lastReport = now;
    this.#problems.error({ file: this.path, code, writeErrors: this.#errors, droppedLines: this.#dropped }, 'access log file: lines could not be written');
  }
}

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** Writes one access line: the fields, and a message for people. */
export type WriteLine = (fields: object, msg: string) => void;

export interface AccessDestination {
  readonly write: WriteLine;
  /** False when the destination drops lines of the configured level anyway. */
  readonly enabled: boolean;
  /** The instance will write no more lines. */
  release(): void;
}

/**
 * Where access lines go: the gateway's own logger (JSON in `isogate start`, pretty in `isogate
 * dev`), or a file shared across reloads. File lines have pino's layout (`level` number, `time`
 * in ms, `pid`, `hostname`, then the fields and `msg`) so pino tooling reads them, but are built
 * here with one JSON.stringify of the flat line object: pino's key-by-key serialiser cost about
 * 2 µs more per line in bench.ts. Every value goes through JSON.stringify, so escaping is V8's.
 */
export function accessDestination(file: string | undefined, level: LogLevel, ctx: PluginFactoryContext): AccessDestination {
  if (file === undefined) {
    const logger = ctx.logger;
    const method = logger[level];
    return { write: (fields, msg) => method.call(logger, fields, msg), enabled: logger.isLevelEnabled(level), release() {} };
  }
  const resolved = path.resolve(file);
  const shared = ctx.shared(`logging:file:${resolved}`, () => new LogFile(resolved, ctx.logger));
  const out = shared.acquire();
  const head = `{"level":${LEVELS[level]},"time":`;
  const bindings = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())},"plugin":${JSON.stringify(ctx.instanceName)},`;
  let released = false;
  return {
    write(fields, msg) {
      const json = JSON.stringify(fields);
      out.write(`${head}${Date.now()}${bindings}${json.slice(1, -1)},"msg":${JSON.stringify(msg)}}\n`);
    },
    enabled: true,
    release() {
      if (released) return;
      released = true;
      shared.release();
    },
  };
}
