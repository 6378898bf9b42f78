import pino, { type Logger } from 'pino';
import { constants, fstatSync, openSync } from 'node:fs';
import sonicBoom, { type SonicBoomOpts, type SonicBoom as SonicBoomStream } from 'sonic-boom';

// sonic-boom is CommonJS: its class is the default export at run time (the types also declare it as a named one).
const SonicBoom = sonicBoom as unknown as new (options: SonicBoomOpts) => SonicBoomStream;

export type { Logger };

/**
 * JSON logs to stdout by default (for collectors); human-readable when `pretty` (isogate dev), one
 * line per entry so an access log reads as one line per request.
 * pino is used because it is the fastest structured logger for Node and its JSON is what log
 * pipelines expect.
 */
export function createLogger(options: { level?: string; pretty?: boolean; destination?: pino.DestinationStream } = {}): Logger {
  const level = options.level ?? process.env['ISOGATE_LOG_LEVEL'] ?? 'info';
  if (options.destination) return pino({ level, base: { name: 'isogate' } }, options.destination);
  if (options.pretty) {
    return pino({ level, base: undefined, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true } } });
  }
  return pino({ level, base: { pid: process.pid } }, stdoutDestination());
}

/** A logger that discards everything (library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Lines held for a stdout that does not keep up; beyond this they are dropped, never the heap. */
const STDOUT_BACKLOG_CHARS = 16 * 1024 * 1024;
/** At exit, how long a stdout that answers EAGAIN is retried before the last lines are given up. */
const EXIT_FLUSH_MS = 500;

/**
 * stdout as an asynchronous, bounded destination. pino's own (`pino.destination`) holds every line
 * while the reader of a pipe stalls (a blocked container log driver) and, at exit, retries the
 * final flush into the full pipe for ever, so a stopped gateway never exits. Here the backlog is
 * capped (lines beyond it are dropped and counted on stderr) and the exit flush has a deadline:
 * losing the last lines beats hanging until SIGKILL.
 */
function stdoutDestination(): pino.DestinationStream {
  let exitDeadline = 0;
  let dropped = 0;
  let lastReport = 0;
  const dest = new SonicBoom({
    fd: stdoutFd(),
    sync: false,
    maxLength: STDOUT_BACKLOG_CHARS,
    retryEAGAIN: () => exitDeadline === 0 || Date.now() < exitDeadline,
  });
  dest.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - lastReport < 10_000) return;
    lastReport = now;
    process.stderr.write(`isogate: stdout is not keeping up; ${dropped} log lines dropped so far\n`);
  });
  dest.on('error', () => {}); // EPIPE and the like: the gateway goes on without its log
  process.once('exit', () => {
    exitDeadline = Date.now() + EXIT_FLUSH_MS;
    try {
      dest.flushSync();
    } catch {
      // still full at the deadline, a write in flight, or stdout gone: nothing more to do at exit
    }
  });
  return dest;
}

/**
 * A pipe as stdout is reopened non-blocking (a new open file description: fd 1 itself keeps its
 * flags, which Node wants blocking). A full pipe then answers EAGAIN, retried later, instead of
 * parking a threadpool thread in write(2) for as long as the reader stalls; such a thread would
 * also keep the process from exiting (libuv joins its threads at exit). Files, terminals and
 * sockets keep fd 1.
 */
function stdoutFd(): number {
  try {
    if (fstatSync(1).isFIFO()) return openSync('/proc/self/fd/1', constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    // no /proc, or stdout closed: fall back to fd 1
  }
  return 1;
}
