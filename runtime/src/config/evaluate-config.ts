import path from 'node:path';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { ConfigError, formatPath } from './config-error.ts';

/** How long a config may take to evaluate (its top level, and the packages it requires). */
export const CONFIG_EVALUATION_DEADLINE_MS = 10_000;

/** What the evaluator thread is given: the bundled config (CommonJS) and the file it came from. */
export interface ConfigEvaluationJob {
  readonly code: string;
  readonly file: string;
}

/** The one message the evaluator thread posts back. */
export type ConfigEvaluationReport =
  | { readonly kind: 'exported'; readonly value: unknown }
  | { readonly kind: 'threw'; readonly message: string; readonly code: string | undefined }
  | { readonly kind: 'no-default-export' }
  | { readonly kind: 'not-plain-data'; readonly path: readonly (string | number)[]; readonly found: string };

/** Plain JavaScript, so that the thread does not start a TypeScript type stripper of its own. */
const EVALUATOR_ENTRY = new URL('./evaluate-config-worker.mjs', import.meta.url);

/**
 * Run a bundled config and return its default export (plain data, checked).
 *
 * A config is a program, and it runs in a worker thread rather than in this one so that a deadline
 * can stop it: a `while (true) {}` at its top level would otherwise hold this thread for good, and
 * under --watch that is the thread that serves requests, /healthz and SIGTERM. `vm`'s `timeout`
 * is no substitute: it covers only the script's synchronous run, not the promise callbacks and
 * timers the config leaves behind (they would run, and could spin, in this thread), nor a
 * blocking native call. Terminating the thread ends all of that. A fresh thread per evaluation also keeps the packages a config requires out of this process's
 * module cache, so a reload sees their current versions. The thread shares this process's
 * environment (SHARE_ENV), as the config did when it ran here: `env()` reads it as it is at each
 * load, and a variable the config sets is seen by the gateway.
 *
 * Rejects with a ConfigError when the config throws (`env()`'s missing variable is located at
 * `(environment)`), exports nothing, exports something that is not plain data, ends its thread,
 * or misses the deadline; and with `signal.reason` when `signal` aborts (a shutdown must not
 * wait for a config that does not finish).
 */
export function evaluateConfig(
  code: string,
  file: string,
  options: { deadlineMs?: number; signal?: AbortSignal } = {},
): Promise<unknown> {
  const { deadlineMs = CONFIG_EVALUATION_DEADLINE_MS, signal } = options;
  const name = path.basename(file);
  if (signal?.aborted) return Promise.reject(signal.reason);
  const job: ConfigEvaluationJob = { code, file };
  const worker = new Worker(EVALUATOR_ENTRY, { workerData: job, env: SHARE_ENV, name: `isogate config ${name}` });

  return new Promise((resolve, reject) => {
    const onAbort = () => finish(() => reject(signal!.reason));
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      worker.removeAllListeners();
      // Late events from a thread being torn down are of no interest, but an 'error' without a
      // listener would be thrown in this thread.
      worker.on('error', () => {});
      // Not awaited: a thread blocked in a synchronous native call (an execSync in the config)
      // ends only when that call returns, and nothing here should wait for it.
      void worker.terminate();
      worker.unref();
      settle();
    };
    const timer = setTimeout(
      () => finish(() => reject(issue(name, file, `evaluating ${name} did not finish within ${deadlineMs / 1000} s (an endless loop at its top level?)`))),
      deadlineMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (report: ConfigEvaluationReport) =>
      finish(() => {
        try {
          resolve(exportedValue(report, name, file));
        } catch (err) {
          reject(err);
        }
      }),
    );
    // Only the thread's own start-up can fail this way; the config's errors come as a report.
    worker.once('error', (err) => finish(() => reject(err)));
    worker.once('exit', (exitCode) =>
      finish(() => reject(issue(name, file, `evaluating the config failed: it ended its thread (process.exit(${exitCode})?) before exporting a config`))),
    );
  });
}

function exportedValue(report: ConfigEvaluationReport, name: string, file: string): unknown {
  switch (report.kind) {
    case 'exported':
      return report.value;
    case 'threw':
      throw new ConfigError(
        [{ path: report.code === 'ISOGATE_ERR_CONFIG_ENV' ? '(environment)' : name, message: `evaluating the config failed: ${report.message}` }],
        file,
      );
    case 'no-default-export':
      throw issue(name, file, 'the config must `export default defineConfig({...})`');
    case 'not-plain-data':
      throw new ConfigError(
        [{ path: formatPath(report.path), message: `${report.found} cannot be part of a config: it must be plain data (strings, numbers, booleans, null, arrays and plain objects)` }],
        file,
      );
  }
}

function issue(name: string, file: string, message: string): ConfigError {
  return new ConfigError([{ path: name, message }], file);
}
