import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { cleanupStack } from './helpers/cleanup.ts';
import { childEnv } from './helpers/cli.ts';
import { configSource, makeConfigDir, REPO_ROOT, type ConfigDir } from './helpers/config-dir.ts';
import { httpGet, probeConnect } from './helpers/http-client.ts';
import { startHoldingUpstream, type HoldingUpstream } from './helpers/upstream.ts';
import { waitFor, withTimeout } from './helpers/wait.ts';

/**
 * `npx isogate start`, as the README recommends, run by the machine's own npx (on the machine's
 * Node, outside node_modules): SIGTERM to the npx process must drain the gateway and end it.
 * npm passes the signal to the `sh -c` it runs the bin through, and dash (/bin/sh here) died of
 * it without passing it on: npx exited and the gateway went on serving.
 */

/** PATH without node_modules directories: what a user's shell has. */
const SYSTEM_PATH = (process.env['PATH'] ?? '')
  .split(path.delimiter)
  .filter((dir) => dir && !dir.includes('node_modules'))
  .join(path.delimiter);

function findSystemBin(name: string): string | null {
  for (const dir of SYSTEM_PATH.split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Running, and not a zombie (the orphaned gateway's new parent reaps it, perhaps not at once). */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync('/proc/self/stat')) return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let upstream: HoldingUpstream;
let dir: ConfigDir;
const started: ChildProcess[] = [];
const gatewayPids: number[] = [];

before(async () => {
  upstream = await startHoldingUpstream();
  dir = await makeConfigDir('os');
});

after(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of gatewayPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  upstream?.release();
  await upstream?.close();
  await dir?.remove();
});

test('SIGTERM to `npx isogate start` drains the gateway, which exits and frees its port', { timeout: 120_000 }, async (t) => {
  const npx = findSystemBin('npx');
  assert.ok(npx, 'npx must be on PATH outside node_modules (it comes with npm)');
  const defer = cleanupStack(t);
  const file = await dir.write('gateway.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: upstream.url }] }));
  const child = spawn(npx, ['isogate', 'start', '--config', file, '--port', '0', '--host', '127.0.0.1'], {
    cwd: REPO_ROOT,
    env: { ...childEnv(), PATH: SYSTEM_PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  const npxExited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const logs: Record<string, unknown>[] = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  // The gateway keeps writing to this pipe after npx has exited; it closes when the gateway exits.
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // npm's own output
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const output = () => `stdout: ${stdout}\nstderr: ${stderr}`;
  const logged = (msg: string) => logs.find((l) => l['msg'] === msg);

  const listening = await waitFor(() => logged('gateway listening'), { timeoutMs: 60_000, message: `the gateway to listen\n${output()}` });
  const url = listening['url'] as string;
  const gatewayPid = listening['pid'] as number;
  gatewayPids.push(gatewayPid);
  defer(() => {
    if (isAlive(gatewayPid)) process.kill(gatewayPid, 'SIGKILL');
  });
  assert.notEqual(gatewayPid, child.pid, 'the gateway is not the npx process itself');
  const parent = execFileSync('ps', ['-o', 'args=', '-p', execFileSync('ps', ['-o', 'ppid=', '-p', String(gatewayPid)], { encoding: 'utf8' }).trim()], { encoding: 'utf8' }).trim();
  t.diagnostic(`npx ${child.pid} → gateway ${gatewayPid}, whose parent is: ${parent}`);
  assert.equal((await httpGet(`${url}/v/x`)).body, 'up');

  const slow = httpGet(`${url}/v/slow`, { timeoutMs: 30_000 });
  slow.catch(() => {}); // awaited below; a failure before that must not surface as unhandled
  await withTimeout(upstream.slowArrived, 10_000, 'the in-flight request to reach the upstream');
  child.kill('SIGTERM');
  t.diagnostic(`npx exited: ${JSON.stringify(await withTimeout(npxExited, 30_000, 'npx to exit'))}`);

  await waitFor(() => logged('draining: finishing in-flight requests'), { timeoutMs: 15_000, message: `the gateway to start draining\n${output()}` });
  upstream.release();
  const finished = await slow;
  assert.equal(finished.status, 200);
  assert.equal(finished.body, 'slow');
  await waitFor(() => !isAlive(gatewayPid), { timeoutMs: 30_000, message: `the gateway (pid ${gatewayPid}) to exit\n${output()}` });
  assert.ok(logged('stopped'), `the gateway logged "stopped"\n${output()}`);
  assert.equal(await probeConnect(Number(new URL(url).port)), 'refused');
});

test('SIGTERM to `npm start` stops the example gateway and its services', { timeout: 120_000 }, async () => {
  const npm = findSystemBin('npm');
  assert.ok(npm, 'npm must be on PATH outside node_modules');
  const child = spawn(npm, ['start'], {
    cwd: REPO_ROOT,
    env: { ...childEnv(), PATH: SYSTEM_PATH, ISOGATE_PORT: '0', USERS_URL: 'http://127.0.0.1:0', ORDERS_URL: 'http://127.0.0.1:0', BILLING_URL: 'http://127.0.0.1:0', PREFERENCES_URL: 'http://127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const closed = new Promise<void>((resolve) => child.stdout.once('close', () => resolve()));
  const listening = /Isogate is listening on http:\/\/127\.0\.0\.1:(\d+) {2}\(example services: ([^)]*)\)/;
  await waitFor(() => listening.test(output), {
    timeoutMs: 60_000,
    message: `npm start to listen\n${output}`,
  });
  const [, gatewayPort, list] = listening.exec(output)!;
  const ports = [Number(gatewayPort), ...[...list!.matchAll(/:(\d+)/g)].map((m) => Number(m[1]))];
  assert.equal(ports.length, 5, `the gateway and four example services: ${list}`);
  assert.equal((await httpGet(`http://127.0.0.1:${ports[0]}/healthz`)).status, 200);
  child.kill('SIGTERM');
  // The gateway holds the pipe's write end until it exits, whatever npm does.
  await withTimeout(closed, 30_000, `the example gateway to exit\n${output}`);
  for (const port of ports) assert.equal(await probeConnect(port!), 'refused', `port ${port} is freed`);
});
