import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './config-dir.ts';
import { withTimeout } from './wait.ts';

/** The CLI entry point and the Node 24 running these tests (node_modules/node, not the system v20). */
export const CLI = path.join(REPO_ROOT, 'runtime/bin/isogate.mjs');
export const NODE24 = process.execPath;

/** The environment for children: no test-runner context, no inherited log level or node options. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['NODE_TEST_CONTEXT'];
  delete env['NODE_OPTIONS'];
  delete env['ISOGATE_LOG_LEVEL'];
  return env;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<ChildProcess>();

/** Direct children of `pid` (pid and command line), via `ps --ppid`. */
export function childProcessesOf(pid: number): { pid: number; args: string }[] {
  let out: string;
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return out
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [pidText, ...rest] = line.split(/\s+/);
      return { pid: Number(pidText), args: rest.join(' ') };
    });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL a child and its own children (cluster workers), if still running. */
function killTree(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const descendants = childProcessesOf(pid);
  child.kill('SIGKILL');
  for (const d of descendants) if (isAlive(d.pid)) process.kill(d.pid, 'SIGKILL');
}

/** SIGKILL every child this module started that is still running (for `after()` hooks). */
export function killAllChildren(): void {
  for (const child of live) killTree(child);
  live.clear();
}

/** A running CLI process whose stdout JSON log lines are parsed as they arrive. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<ExitStatus>;
  exitedAt = 0;
  readonly #listeners = new Set<() => void>();

  constructor(args: string[], options: { node?: string; cwd?: string } = {}) {
    this.child = spawn(options.node ?? NODE24, [CLI, ...args], { cwd: options.cwd ?? REPO_ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a JSON log line (e.g. check output); kept in this.stdout
        }
      }
      for (const notify of this.#listeners) notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.child.once('exit', () => {
      this.exitedAt = Date.now();
      live.delete(this.child);
      for (const notify of this.#listeners) notify();
    });
    // 'close' comes after 'exit' once stdout/stderr are drained (and no worker still holds them).
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
  }

  /** SIGKILL this process and its children (idempotent). */
  kill(): void {
    killTree(this.child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** All parsed log lines with this `msg`. */
  logsWith(msg: string): Record<string, unknown>[] {
    return this.logs.filter((l) => l['msg'] === msg);
  }

  /** Resolve with the first `count` log lines with this msg; fail early if the process exits first. */
  waitForLogs(msg: string, count: number, timeoutMs: number): Promise<Record<string, unknown>[]> {
    const found = new Promise<Record<string, unknown>[]>((resolve, reject) => {
      const check = () => {
        const lines = this.logsWith(msg);
        if (lines.length >= count) {
          this.#listeners.delete(check);
          resolve(lines.slice(0, count));
        } else if (!this.running && this.exitedAt !== 0) {
          this.#listeners.delete(check);
          reject(new Error(`isogate exited (${this.child.exitCode ?? this.child.signalCode}) before logging "${msg}" x${count}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
        }
      };
      this.#listeners.add(check);
      check();
    });
    return withTimeout(found, timeoutMs, () => `log "${msg}" x${count}\nstdout so far: ${this.stdout}\nstderr so far: ${this.stderr}`);
  }

  /** The URL from the "gateway listening" log line. */
  async listening(timeoutMs = 20_000): Promise<string> {
    const [line] = await this.waitForLogs('gateway listening', 1, timeoutMs);
    const url = line!['url'];
    if (typeof url !== 'string') throw new Error(`no url in ${JSON.stringify(line)}`);
    return url;
  }

  waitForExit(timeoutMs: number): Promise<ExitStatus> {
    return withTimeout(this.exited, timeoutMs, () => `isogate (pid ${this.pid}) to exit and close its output\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
  }
}

export interface CliResult extends ExitStatus {
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Run the CLI to completion (killed and failed after `timeoutMs`). */
export async function runCli(args: string[], options: { node?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const started = Date.now();
  const proc = new CliProcess(args, { node: options.node });
  try {
    const status = await proc.waitForExit(options.timeoutMs ?? 30_000);
    return { ...status, stdout: proc.stdout, stderr: proc.stderr, durationMs: Date.now() - started };
  } finally {
    proc.kill();
  }
}
