import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cleanupStack } from './helpers/cleanup.ts';
import { CliProcess, childProcessesOf, killAllChildren, runCli } from './helpers/cli.ts';
import { configSource, makeConfigDir, REPO_ROOT, type ConfigDir } from './helpers/config-dir.ts';
import { freePort, httpGet, probeConnect } from './helpers/http-client.ts';
import { startTextUpstream, type TestUpstream } from './helpers/upstream.ts';
import { waitFor } from './helpers/wait.ts';

/** No stack traces for expected failures: the CLI reports them as messages. */
const STACK_FRAME = /\n\s+at .+:\d+:\d+/;

describe('isogate CLI', () => {
  let upstream: TestUpstream;
  let project: ConfigDir;
  let tmp: ConfigDir;
  const workerPids: number[] = [];

  before(async () => {
    upstream = await startTextUpstream('up');
    project = await makeConfigDir('project');
    tmp = await makeConfigDir('os');
  });

  after(async () => {
    killAllChildren();
    for (const pid of workerPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await upstream?.close();
    await project?.remove();
    await tmp?.remove();
  });

  const relative = (file: string) => path.relative(REPO_ROOT, file);

  test('--help exits 0 and lists start, dev and check', { timeout: 30_000 }, async () => {
    const res = await runCli(['--help']);
    assert.equal(res.code, 0, res.stderr);
    for (const command of ['start', 'dev', 'check']) assert.match(res.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `lists ${command}`);
  });

  test('start --port abc is a usage error: exit 2', { timeout: 30_000 }, async () => {
    const res = await runCli(['start', '--port', 'abc']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /--port <port>.*'abc' is invalid\. expected an integer from 0 to 65535/);
    assert.doesNotMatch(res.stdout, /gateway listening/);
  });

  test('check: a valid config exits 0 and prints the routing table', { timeout: 60_000 }, async () => {
    const file = await project.write(
      'valid.config.ts',
      configSource({
        sdk: true,
        routes: [
          { path: '/api/users/:id', methods: ['GET'], upstream: `${upstream.url}/users/{id}` },
          { path: '/v/*', upstream: upstream.url },
        ],
      }),
    );
    const res = await runCli(['check', '--config', file]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^METHODS\s+PATH\s+UPSTREAM\s+MIDDLEWARE$/m);
    assert.match(res.stdout, new RegExp(`^GET\\s+/api/users/:id\\s+${upstream.url}/users/\\{id\\}\\s+—$`, 'm'));
    assert.match(res.stdout, new RegExp(`^\\*\\s+/v/\\*\\s+${upstream.url}\\s+—$`, 'm'));
    assert.match(res.stdout, /: OK \(2 routes\)$/m);
    assert.equal(res.stderr, '');
  });

  test('check: an invalid value exits 1 naming its key path', { timeout: 60_000 }, async () => {
    const file = await tmp.write('invalid.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: 'not a url' }] }));
    const res = await runCli(['check', '--config', file]);
    assert.equal(res.code, 1);
    assert.ok(res.stderr.includes(`invalid config ${file} (1 problem):\n  routes[0].upstream: expected an http(s) URL`), res.stderr);
    assert.doesNotMatch(res.stderr, STACK_FRAME);
    assert.doesNotMatch(res.stdout, /OK \(/);
  });

  test('check: a type error (valid at run time) exits 1 with file:line:col', { timeout: 60_000 }, async () => {
    const file = await project.write(
      'typed.config.ts',
      `import { defineConfig } from '@isogate/sdk';\nconst port: number = 'eighty';\nexport default defineConfig({ routes: [{ path: '/v/*', upstream: '${upstream.url}' }] });\nvoid port;\n`,
    );
    const res = await runCli(['check', '--config', file]);
    assert.equal(res.code, 1, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
    assert.ok(res.stderr.includes(`${relative(file)}:2:7 - type error: Type 'string' is not assignable to type 'number'.`), res.stderr);
    assert.match(res.stderr, /1 type error\(s\)/);
    assert.doesNotMatch(res.stdout, /OK \(/);
  });

  test('check: a missing config file exits 1 with a clear message', { timeout: 60_000 }, async () => {
    const file = tmp.path('does-not-exist.config.ts');
    const res = await runCli(['check', '--config', file]);
    assert.equal(res.code, 1);
    assert.ok(res.stderr.includes('does-not-exist.config.ts'), `names the file: ${res.stderr}`);
    assert.match(res.stderr, /not found|could not resolve|no such file/i);
    assert.doesNotMatch(res.stderr, STACK_FRAME);
  });

  test('check: an unknown middleware name exits 1', { timeout: 60_000 }, async () => {
    const file = await tmp.write(
      'middleware.config.ts',
      `export default { routes: [{ path: '/v/*', upstream: '${upstream.url}', middleware: ['nope'] }] };\n`,
    );
    const res = await runCli(['check', '--config', file]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /routes\[0\]\.middleware\[0\]: no plugin instance named "nope"/);
  });

  test('start: an invalid config exits 1 and serves nothing', { timeout: 60_000 }, async () => {
    const file = await tmp.write('start-invalid.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: 'not a url' }] }));
    const port = await freePort();
    const res = await runCli(['start', '--config', file, '--port', String(port), '--host', '127.0.0.1'], { timeoutMs: 30_000 });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /routes\[0\]\.upstream: expected an http\(s\) URL/);
    assert.doesNotMatch(res.stdout, /gateway listening/);
    assert.equal(await probeConnect(port), 'refused');
  });

  test('start --workers 2: an invalid config exits 1 before forking', { timeout: 60_000 }, async () => {
    const file = await tmp.write('workers-invalid.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: 'not a url' }] }));
    const res = await runCli(['start', '--config', file, '--port', '0', '--host', '127.0.0.1', '--workers', '2'], { timeoutMs: 30_000 });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /routes\[0\]\.upstream/);
    assert.doesNotMatch(res.stdout, /gateway listening/);
  });

  test('start --workers 2: both workers listen on one port, serve, and SIGTERM exits 0', { timeout: 90_000 }, async (t) => {
    const defer = cleanupStack(t);
    const file = await tmp.write('workers.config.ts', configSource({ sdk: false, routes: [{ path: '/v/*', upstream: upstream.url }] }));
    const cli = new CliProcess(['start', '--config', file, '--port', '0', '--host', '127.0.0.1', '--workers', '2']);
    defer(() => cli.kill());
    const listening = await cli.waitForLogs('gateway listening', 2, 30_000);
    const urls = new Set(listening.map((l) => l['url']));
    assert.equal(urls.size, 1, `one shared address: ${[...urls].join(', ')}`);
    const pids = new Set(listening.map((l) => l['pid']));
    assert.equal(pids.size, 2, 'logged by two different processes');
    const url = [...urls][0] as string;

    const workers = childProcessesOf(cli.pid).filter((p) => p.args.includes('isogate.mjs'));
    workerPids.push(...workers.map((w) => w.pid));
    assert.equal(workers.length, 2, `two worker processes: ${JSON.stringify(workers)}`);
    assert.deepEqual(new Set(workers.map((w) => w.pid)), pids);

    for (let i = 0; i < 20; i++) {
      const res = await httpGet(`${url}/v/${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.body, 'up');
    }

    cli.child.kill('SIGTERM');
    assert.deepEqual(await cli.waitForExit(30_000), { code: 0, signal: null });
    assert.equal(cli.logsWith('stopped').length, 2, 'both workers drained');
    await waitFor(
      () =>
        workers.every((w) => {
          try {
            process.kill(w.pid, 0);
            return false;
          } catch {
            return true;
          }
        }),
      { timeoutMs: 5_000, message: 'worker processes to be gone' },
    );
    assert.equal(await probeConnect(Number(new URL(url).port)), 'refused');
  });

  for (const workers of [1, 2]) {
    test(`start${workers > 1 ? ` --workers ${workers}` : ''}: a port already in use exits 3`, { timeout: 60_000 }, async (t) => {
      const defer = cleanupStack(t);
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
      defer(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
      const port = (blocker.address() as net.AddressInfo).port;
      const file = await tmp.write(`busy-${workers}.config.ts`, configSource({ sdk: false, routes: [{ path: '/v/*', upstream: upstream.url }] }));
      const res = await runCli(['start', '--config', file, '--port', String(port), '--host', '127.0.0.1', '--workers', String(workers)], { timeoutMs: 15_000 });
      assert.equal(res.code, 3, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
      assert.match(res.stdout, /cannot listen: .*EADDRINUSE/);
    });
  }
});
