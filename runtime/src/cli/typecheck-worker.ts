// The thread that type-checks for `isogate dev` (background-typecheck.ts): it loads the TypeScript
// compiler once and checks the config each time it is asked, keeping parsed files between runs.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import ts from 'typescript';
import { typecheckConfig, type TypecheckSession, type TypeProblem } from './typecheck-config.ts';

/** A request from the gateway thread. */
export interface TypecheckJob {
  readonly file: string;
}

/** The answer to one job. */
export type TypecheckReport =
  | { readonly ok: true; readonly problems: readonly TypeProblem[]; readonly ms: number; readonly heapMb: number; readonly nice: number | null }
  | { readonly ok: false; readonly error: string };

// On Linux the nice value belongs to the thread, so this lowers only the checker: under CPU
// contention the scheduler prefers the threads serving requests.
try {
  os.setPriority(19);
} catch {
  // not permitted (or not Linux): the check still runs in its own thread
}

/** A source file is parsed again only when its text changed; the program reuses the rest. */
function cachingHost(): ts.CompilerHost {
  const base = ts.createCompilerHost({});
  const parsed = new Map<string, { key: string; text: string; file: ts.SourceFile }>();
  return {
    ...base,
    getSourceFile(fileName, languageVersion, onError, shouldCreateNewSourceFile) {
      const text = ts.sys.readFile(fileName);
      if (text === undefined) return base.getSourceFile(fileName, languageVersion, onError, shouldCreateNewSourceFile);
      const key = JSON.stringify(languageVersion);
      const hit = parsed.get(fileName);
      if (hit && hit.key === key && hit.text === text && !shouldCreateNewSourceFile) return hit.file;
      const file = base.getSourceFile(fileName, languageVersion, onError, shouldCreateNewSourceFile);
      if (file) parsed.set(fileName, { key, text, file });
      return file;
    },
  };
}

const session: TypecheckSession = { host: cachingHost() };

parentPort!.on('message', (job: TypecheckJob) => {
  let report: TypecheckReport;
  try {
    const started = performance.now();
    const problems = typecheckConfig(job.file, session);
    let nice: number | null = null;
    try {
      nice = os.getPriority();
    } catch {
      // unknown
    }
    report = { ok: true, problems, ms: Math.round(performance.now() - started), heapMb: Math.round(process.memoryUsage().heapUsed / 1e6), nice };
  } catch (err) {
    report = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(report);
});
