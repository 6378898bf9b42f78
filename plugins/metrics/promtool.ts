import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

/**
 * Prometheus' own linter on an exposition text, for the tests: `promtool check metrics` parses
 * the page as Prometheus would and applies its naming rules (counter and unit suffixes, HELP,
 * reserved names and labels). It must be installed; a test that needs it fails, never skips,
 * when it is not (the project's rule for the real parts a test relies on, as for Redis).
 */

export const PROMTOOL_INSTALL_HINT =
  'promtool (Prometheus\' linter) is required by the metrics tests and was not found on PATH: install it with `apt-get install -y prometheus` (Debian, Ubuntu), or put the promtool binary from https://prometheus.io/download/ on PATH';

export interface PromtoolResult {
  /** promtool's exit code: 0 when the page is clean. */
  readonly code: number;
  /** What it printed: one line per problem (`name message`), or a parse error. */
  readonly output: string;
}

/** Run `promtool check metrics` with `text` on stdin. Rejects with the install hint when promtool is missing. */
export function promtoolCheckMetrics(text: string, timeoutMs = 30_000): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`promtool check metrics did not finish within ${timeoutMs} ms; output so far: ${output}`));
    }, timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' ? new Error(PROMTOOL_INSTALL_HINT) : err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), output: output.trim() });
    });
    // promtool may exit on a parse error before reading everything: that is its answer, not ours to fail on.
    child.stdin.once('error', () => {});
    child.stdin.end(text);
  });
}

/**
 * Assert that promtool finds nothing at all in a scrape: no problem, no parse error. An empty text
 * passes promtool, so the page must have families in it to count.
 */
export async function assertPromtoolAccepts(text: string, what: string): Promise<void> {
  assert.match(text, /^# TYPE /m, `${what}: no metric families to check`);
  const { code, output } = await promtoolCheckMetrics(text);
  assert.ok(code === 0 && output === '', `promtool check metrics found problems in ${what} (exit ${code}):\n${output}`);
}
