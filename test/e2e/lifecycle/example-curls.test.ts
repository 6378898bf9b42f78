/**
 * `npm start` prints curl commands for the example gateway: each one must answer what it promises.
 * The script runs as a newcomer runs it (`npm start`, in its own process group like a terminal's
 * foreground job) with every port set to 0 through the variables it reads, and each printed line
 * runs as printed, in bash, with the real curl (and npx for the token), on the user's PATH.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from './helpers/config-dir.ts';
import { probeConnect } from './helpers/http-client.ts';
import { terminalEnv } from './helpers/terminal-env.ts';
import { waitFor, withTimeout } from './helpers/wait.ts';

/** A terminal's environment, less the variables that change what the example does. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = terminalEnv(extra);
  for (const name of ['NODE_ENV', 'ISOGATE_LOG_LEVEL', 'ISOGATE_HOST', 'ISOGATE_JWT_SECRET', 'ISOGATE_TRACES_EXPORTER', 'REDIS_URL', 'MAINTENANCE']) delete env[name];
  return env;
}

const ENV = userEnv({ ISOGATE_PORT: '0', USERS_URL: 'http://127.0.0.1:0', ORDERS_URL: 'http://127.0.0.1:0', BILLING_URL: 'http://127.0.0.1:0', PREFERENCES_URL: 'http://127.0.0.1:0' });

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** SIGKILL a process group (the leader's pid), if anything is left in it. */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/** Run one printed line in bash, as pasted into a terminal; `onStdout` sees the output as it grows. */
async function runLine(line: string, options: { timeoutMs: number; onStdout?: (stdout: string) => void }): Promise<Finished> {
  const child = spawn('bash', ['-c', line], { cwd: REPO_ROOT, env: ENV, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    options.onStdout?.(stdout);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<Finished>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  try {
    return await withTimeout(closed, options.timeoutMs, () => `${line}\nstdout: ${stdout}\nstderr: ${stderr}`);
  } finally {
    killGroup(child);
  }
}

interface IncludedResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** The responses `curl -i` printed, one after another (`curl -i a ; curl -i b` prints two). */
function responsesOf(stdout: string): IncludedResponse[] {
  const responses: IncludedResponse[] = [];
  let rest = stdout;
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine, ...fields] = rest.slice(0, end).split('\r\n');
    const headers = new Map(fields.map((field) => [field.slice(0, field.indexOf(':')).toLowerCase(), field.slice(field.indexOf(':') + 1).trim()]));
    const length = headers.has('content-length') ? Number(headers.get('content-length')) : rest.length - end - 4;
    responses.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return responses;
}

function describeRun(line: string, run: Finished): string {
  return `${line}\nexit ${run.code ?? run.signal}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
}

/** One response with this status and a JSON body. */
function jsonResponse(line: string, run: Finished, status: number): unknown {
  assert.equal(run.code, 0, describeRun(line, run));
  const responses = responsesOf(run.stdout);
  assert.deepEqual(
    responses.map((r) => r.status),
    [status],
    describeRun(line, run),
  );
  assert.match(responses[0]!.headers.get('content-type') ?? '', /^application\/json/, describeRun(line, run));
  return JSON.parse(responses[0]!.body);
}

interface PrintedLine {
  /** The command with the gateway's URL replaced by `{gateway}`, to match against the checks. */
  shape: string;
  command: string;
  /** The `# ...` line printed above it, if any. */
  comment: string | null;
}

interface LineCheck {
  name: string;
  shape: RegExp;
  timeoutMs?: number;
  verify(line: string, run: Finished, firstEvent: string | null): void;
}

/** What each printed line promises, in the order they are printed (the metrics line counts the ones above it). */
const CHECKS: LineCheck[] = [
  {
    name: 'GET /api/users lists the users',
    shape: /^curl -i \{gateway\}\/api\/users$/,
    verify(line, run) {
      const users = jsonResponse(line, run, 200) as { id: string; name: string }[];
      assert.ok(users.some((u) => u.id === '1' && u.name === 'Ada Lovelace'), describeRun(line, run));
    },
  },
  {
    name: 'GET /api/users/1 answers user 1',
    shape: /^curl -i \{gateway\}\/api\/users\/1$/,
    verify(line, run) {
      assert.deepEqual(jsonResponse(line, run, 200), { id: '1', name: 'Ada Lovelace' });
    },
  },
  {
    name: 'POST /api/users creates a user: 201',
    shape: /^curl -i -X POST \{gateway\}\/api\/users /,
    verify(line, run) {
      const user = jsonResponse(line, run, 201) as { id: string; name: string };
      assert.equal(user.name, 'Alan Turing');
      assert.match(user.id, /^\d+$/);
    },
  },
  {
    name: 'GET /api/orders/o-1 answers the order',
    shape: /^curl -i \{gateway\}\/api\/orders\/o-1$/,
    verify(line, run) {
      assert.deepEqual(jsonResponse(line, run, 200), { id: 'o-1', userId: '1', total: 42 });
    },
  },
  {
    name: 'GET /api/v1/user-profile/1 merges users, billing and preferences into one object',
    shape: /^curl -s \{gateway\}\/api\/v1\/user-profile\/1$/,
    verify(line, run) {
      assert.equal(run.code, 0, describeRun(line, run));
      assert.deepEqual(JSON.parse(run.stdout), {
        user: { id: '1', name: 'Ada Lovelace' },
        subscription_plan: 'pro',
        preferences: { language: 'en-GB', theme: 'dark', newsletter: false },
      });
    },
  },
  {
    name: 'the echo shows what the upstream received: X-Forwarded-*, Via',
    shape: /^curl -s '\{gateway\}\/api\/echo\/anything\?x=1'$/,
    verify(line, run) {
      assert.equal(run.code, 0, describeRun(line, run));
      const echo = JSON.parse(run.stdout) as { method: string; url: string; headers: Record<string, string> };
      assert.equal(echo.url, '/echo/anything?x=1');
      assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(echo.headers['x-forwarded-proto'], 'http');
      assert.match(echo.headers['x-forwarded-host'] ?? '', /^127\.0\.0\.1:\d+$/);
      assert.match(echo.headers['via'] ?? '', /isogate/);
    },
  },
  {
    name: 'GET /api/events streams the server-sent events as they are sent',
    shape: /^curl -N \{gateway\}\/api\/events$/,
    // The upstream sends ten events a second apart, then ends the stream.
    timeoutMs: 90_000,
    verify(line, run, firstEvent) {
      assert.equal(run.code, 0, describeRun(line, run));
      const ids = [...run.stdout.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      assert.deepEqual(ids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], describeRun(line, run));
      const data = [...run.stdout.matchAll(/^data: (.+)$/gm)].map((m) => (JSON.parse(m[1]!) as { n: number }).n);
      assert.deepEqual(data, ids);
      // Streamed, not buffered: the first event reached curl nine seconds before the last was sent.
      assert.ok(firstEvent !== null && !/^id: 10$/m.test(firstEvent), `the first event arrived with the last one:\n${firstEvent}`);
    },
  },
  {
    name: 'GET /api/me with a token from `npx isogate token --sub 1` answers user 1',
    shape: /^curl -i \{gateway\}\/api\/me -H "authorization: Bearer \$\(npx isogate token --sub 1\)"$/,
    timeoutMs: 120_000,
    verify(line, run) {
      assert.deepEqual(jsonResponse(line, run, 200), { id: '1', name: 'Ada Lovelace' });
    },
  },
  {
    name: 'the metrics line finds gateway_requests_total counting the requests above',
    shape: /^curl -s \{gateway\}\/metrics \| grep gateway_requests_total$/,
    verify(line, run) {
      assert.equal(run.code, 0, `grep found nothing: ${describeRun(line, run)}`);
      assert.match(run.stdout, /^# TYPE gateway_requests_total counter$/m);
      assert.match(run.stdout, /^gateway_requests_total\{method="GET",route="\/api\/users",status="200"\} [1-9]\d*$/m, describeRun(line, run));
    },
  },
  {
    name: '/healthz and /readyz answer 200',
    shape: /^curl -i \{gateway\}\/healthz ; curl -i \{gateway\}\/readyz$/,
    verify(line, run) {
      assert.equal(run.code, 0, describeRun(line, run));
      assert.deepEqual(
        responsesOf(run.stdout).map((r) => r.status),
        [200, 200],
        describeRun(line, run),
      );
    },
  },
];

describe('the curl lines `npm start` prints', () => {
  let script: ChildProcess;
  let output = '';
  let gateway = '';
  const lines: PrintedLine[] = [];

  before(async () => {
    // detached: its own process group, which Ctrl-C signals as a whole (npm, sh, node).
    script = spawn('npm', ['start'], { cwd: REPO_ROOT, env: ENV, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    script.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    script.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const banner = new Promise<void>((resolve, reject) => {
      script.stdout!.on('data', () => {
        if (output.includes('Ctrl-C drains in-flight requests and stops.')) resolve();
      });
      script.once('exit', (code, signal) => reject(new Error(`npm start exited (${code ?? signal}) before printing its curl lines:\n${output}`)));
    });
    await withTimeout(banner, 90_000, () => `npm start to print its curl lines; output so far:\n${output}`);
    gateway = /^Isogate is listening on (http:\/\/127\.0\.0\.1:\d+) /m.exec(output)?.[1] ?? '';
    assert.ok(gateway, output);
    let comment: string | null = null;
    for (const text of output.slice(output.indexOf('\nTry:\n')).split('\n')) {
      const commented = /^\s+# (.+)$/.exec(text);
      const command = /^\s+(curl .+?)\s*$/.exec(text);
      if (commented) comment = commented[1]!;
      else if (command) {
        lines.push({ shape: command[1]!.replaceAll(gateway, '{gateway}'), command: command[1]!, comment });
        comment = null;
      } else comment = null;
    }
  });

  after(() => {
    if (script) killGroup(script);
  });

  test('every printed curl line is one this test checks, and every check has its line', () => {
    assert.ok(lines.length > 0, output);
    for (const line of lines) {
      assert.equal(CHECKS.filter((c) => c.shape.test(line.shape)).length, 1, `no check (or several) for the printed line:\n  ${line.shape}`);
    }
    for (const check of CHECKS) assert.ok(lines.some((l) => check.shape.test(l.shape)), `no printed line for: ${check.name}`);
    // Each command stands alone (a trailing `# ...` or an unquoted `?` breaks it in interactive zsh).
    for (const line of lines) assert.doesNotMatch(line.command.replaceAll(/'[^']*'|"[^"]*"/g, "''"), /[#?*[]/, line.command);
  });

  for (const check of CHECKS) {
    test(check.name, { timeout: (check.timeoutMs ?? 30_000) + 10_000 }, async () => {
      const printed = lines.find((l) => check.shape.test(l.shape));
      assert.ok(printed, `no printed line for: ${check.name}`);
      let firstEvent: string | null = null;
      const run = await runLine(printed.command, {
        timeoutMs: check.timeoutMs ?? 30_000,
        onStdout: (stdout) => {
          if (firstEvent === null && /^id: 1$/m.test(stdout)) firstEvent = stdout;
        },
      });
      check.verify(printed.command + (printed.comment ? `    # ${printed.comment}` : ''), run, firstEvent);
    });
  }

  test('Ctrl-C stops the gateway', { timeout: 60_000 }, async () => {
    const port = Number(new URL(gateway).port);
    process.kill(-script.pid!, 'SIGINT');
    await waitFor(async () => (await probeConnect(port)) === 'refused', { timeoutMs: 30_000, intervalMs: 200, message: `the gateway on port ${port} to stop after SIGINT` });
  });
});
