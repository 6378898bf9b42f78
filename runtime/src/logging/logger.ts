import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs to stdout by default (for collectors); human-readable when `pretty` (isogate dev).
 * pino is used because it is the fastest structured logger for Node and its JSON is what log
 * pipelines expect.
 */
export function createLogger(options: { level?: string; pretty?: boolean; destination?: pino.DestinationStream } = {}): Logger {
  const level = options.level ?? process.env['ISOGATE_LOG_LEVEL'] ?? 'info';
  if (options.destination) return pino({ level, base: { name: 'isogate' } }, options.destination);
  if (options.pretty) {
    return pino({ level, base: undefined, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ level, base: { pid: process.pid } });
}

/** A logger that discards everything (library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
