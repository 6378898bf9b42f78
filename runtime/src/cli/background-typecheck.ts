import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { TypecheckJob, TypecheckReport } from './typecheck-worker.ts';

/**
 * What `isogate dev` pays for its type checks (measured on gateway.config.ts, its three plugins and
 * @types/node: ~300 files, on 2 cores): loading the compiler ~0.9 s and the first check ~2-3 s of
 * one core, then ~0.1-0.5 s per check on an idle machine (unchanged files are not parsed again;
 * longer while other processes want the CPU, since it yields to them), 160-250 MB of heap in the
 * checker's thread (the process's RSS grows by ~400 MB). None of it on the thread that serves: the
 * checker is a worker thread, started after the gateway listens, at the lowest CPU priority
 * (nice 19), and never waited for.
 */
export interface BackgroundTypecheck {
  /** Check again soon: calls within `debounceMs` of each other, or during a check, make one check. */
  schedule(): void;
  /** Stop checking and end the thread (a check in progress is abandoned). */
  close(): Promise<void>;
}

export interface BackgroundTypecheckOptions {
  /** Wait this long after the last `schedule()` before checking (default 250 ms). */
  debounceMs?: number;
  /** The checker's heap limit (default 1024 MB): beyond it the thread ends, not the gateway. */
  maxHeapMb?: number;
  /** Called after each check (tests and tooling). */
  onChecked?: (report: TypecheckReport) => void;
}

/**
 * Type-check the config (and the local plugins it names, which its types import) in a worker
 * thread after each change, and log type errors with `file:line:column`. It never blocks a reload
 * or a request: a reload serves the new config whatever the types say; the check reports after.
 */
export function backgroundTypecheck(configPath: string, logger: Logger, options: BackgroundTypecheckOptions = {}): BackgroundTypecheck {
  const file = path.resolve(configPath);
  const debounceMs = options.debounceMs ?? 250;
  let worker: Worker | null = null;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let closed = false;

  const thread = (): Worker => {
    if (worker) return worker;
    const started = new Worker(new URL('./typecheck-worker.ts', import.meta.url), {
      name: 'isogate type check',
      resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb ?? 1024 },
    });
    // Never what keeps the process alive: a gateway that stops does not wait for a check.
    started.unref();
    started.on('message', (report: TypecheckReport) => finished(report));
    started.on('error', (err) => {
      logger.warn({ err: err.message }, 'type check stopped: its thread failed (the gateway is not affected)');
      worker = null;
      running = false;
    });
    started.on('exit', () => {
      if (worker === started) worker = null;
    });
    return (worker = started);
  };

  const run = () => {
    timer = undefined;
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    again = false;
    const job: TypecheckJob = { file };
    thread().postMessage(job);
  };

  const finished = (report: TypecheckReport) => {
    running = false;
    if (closed) return;
    if (!report.ok) logger.warn({ error: report.error }, `type check failed: ${report.error}`);
    else {
      for (const p of report.problems) {
        const where = `${path.relative(process.cwd(), p.file) || p.file}:${p.line}:${p.column}`;
        logger.warn({ file: p.file, line: p.line, column: p.column }, `type error ${where}: ${p.message}`);
      }
      const count = report.problems.length;
      const summary = count === 0 ? 'type check: no errors' : `type check: ${count} type error${count === 1 ? '' : 's'}`;
      logger[count === 0 ? 'info' : 'warn']({ typeErrors: count, ms: report.ms }, summary);
    }
    options.onChecked?.(report);
    if (again) schedule();
  };

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(run, debounceMs);
    timer.unref();
  };

  return {
    schedule,
    async close() {
      closed = true;
      clearTimeout(timer);
      const w = worker;
      worker = null;
      if (w) await w.terminate();
    },
  };
}
