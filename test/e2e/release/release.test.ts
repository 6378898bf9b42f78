/**
 * The whole product path, as a team outside this repository would take it (issue 12): release the
 * three packages to a private registry, `npm create isogate@latest` a project in an empty directory,
 * install it, check it, test it, serve requests with it; scaffold a plugin package, test it,
 * publish it, install it into the project by name and see it run in the gateway; and a wrong
 * option in the project's config fails `isogate check` with its key path.
 *
 * Loopback only: verdaccio (registry.ts) has no uplink, and the third-party packages the project
 * installs are seeded into it from the npm cache this machine already has (seed-registry.ts; a
 * missing tarball fails the test saying how to fill the cache). Every command runs with the
 * machine's PATH without any node_modules/.bin, so npm runs on the system Node (20 here) and the
 * project's scripts on the Node 24 of its own `node` devDependency.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type PrivateRegistry, startRegistry } from './registry.ts';
import { dependencyNames, seedRegistry } from './seed-registry.ts';

const REPO = path.resolve(import.meta.dirname, '../../..');
const OWN_PACKAGES = ['@isogate/sdk', 'isogate', 'create-isogate'];
const INSTALL_MS = 300_000;
const COMMAND_MS = 120_000;

let tmp: string;
let registry: PrivateRegistry;
let env: NodeJS.ProcessEnv;
let project: string;
let pluginDir: string;
let upstream: http.Server;
let upstreamUrl: string;
const seen: { path: string; headers: http.IncomingHttpHeaders }[] = [];
const gateways = new Set<ChildProcess>();
const timings: string[] = [];
const started = performance.now();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to its end (at most `timeout` ms); its exit code and output, whatever the code. */
function sh(command: string, args: string[], cwd: string, timeout = COMMAND_MS, extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...env, ...extraEnv }, timeout, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      timings.push(`${command} ${args.join(' ')}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr: err && code === 1 && !stderr ? String(err) : stderr });
    });
  });
}

/** `sh` that must succeed. */
async function ok(command: string, args: string[], cwd: string, timeout = COMMAND_MS, extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
  const res = await sh(command, args, cwd, timeout, extraEnv);
  assert.equal(res.code, 0, `${command} ${args.join(' ')} in ${cwd} exited ${res.code}:\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `npx isogate start` in the project, until /healthz answers (at most 60 s). */
async function startGateway(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  // Its own process group, so stopping it reaches npx's shell and the gateway behind it.
  const child = spawn('npx', ['isogate', 'start'], { cwd: project, env: { ...env, ISOGATE_PORT: String(port), UPSTREAM_URL: upstreamUrl }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  gateways.add(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, 'SIGTERM');
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    gateways.delete(child);
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`isogate start exited ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return { url, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`isogate start did not answer /healthz within 60 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'isogate-release-e2e-'));
  const templatePackage = path.join(REPO, 'create-isogate/template/package.json');
  const roots = [
    ...dependencyNames(path.join(REPO, 'runtime/package.json')),
    ...dependencyNames(path.join(REPO, 'sdk/package.json')),
    ...dependencyNames(templatePackage),
    // what `isogate new plugin` writes (runtime/src/cli/templates/plugin.ts)
    'zod', 'typescript', '@types/node', 'node',
  ];
  const t0 = performance.now();
  const seeded = seedRegistry({ storage: path.join(tmp, 'registry/storage'), lockfile: path.join(REPO, 'package-lock.json'), roots, skip: OWN_PACKAGES });
  timings.push(`seed ${seeded.packages} packages, ${seeded.tarballs} tarballs: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  registry = await startRegistry(path.join(tmp, 'registry'));
  // The machine as a user has it: no node_modules/.bin of this repository on PATH.
  const systemPath = (process.env['PATH'] ?? '').split(path.delimiter).filter((dir) => dir && !dir.includes('node_modules')).join(path.delimiter);
  env = { ...registry.env, PATH: systemPath };

  upstream = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url }));
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
});

after(async () => {
  for (const child of gateways) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  upstream?.closeAllConnections();
  await new Promise((resolve) => (upstream ? upstream.close(resolve) : resolve(undefined)));
  await registry?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  process.stderr.write(`# release e2e timings (total ${((performance.now() - started) / 1000).toFixed(0)} s):\n${timings.map((t) => `#   ${t}`).join('\n')}\n`);
});

describe('isogate as a product: release, npm create, install, check, test, serve, a plugin package from the registry', () => {
  it('npm run release -- --registry <url> publishes @isogate/sdk, isogate and create-isogate at one version', { timeout: INSTALL_MS }, async () => {
    const out = await ok('npm', ['run', 'release', '--', '--registry', registry.url], REPO, INSTALL_MS);
    const version = JSON.parse(await readFile(path.join(REPO, 'runtime/package.json'), 'utf8')).version as string;
    for (const name of OWN_PACKAGES) assert.match(out, new RegExp(`published ${name}@${version.replaceAll('.', '\\.')} to ${registry.url}`));
    for (const name of OWN_PACKAGES) assert.equal(JSON.parse(await ok('npm', ['view', name, 'version', '--json'], tmp)), version, name);
  });

  it('npm create isogate@latest my-gateway writes the project into an empty directory', async () => {
    const work = path.join(tmp, 'work');
    await mkdir(work);
    const out = await ok('npm', ['--yes', 'create', 'isogate@latest', 'my-gateway'], work);
    assert.match(out, /Created an Isogate gateway in my-gateway/);
    project = path.join(work, 'my-gateway');
    for (const file of ['package.json', 'gateway.config.ts', 'plugins/greeting.ts', 'plugins/greeting.test.ts', 'tsconfig.json', '.gitignore', 'Dockerfile', 'README.md']) {
      assert.ok(existsSync(path.join(project, file)), file);
    }
  });

  it('npm install installs isogate and @isogate/sdk from the registry, and Node 24 for the scripts', { timeout: INSTALL_MS }, async () => {
    await ok('npm', ['install'], project, INSTALL_MS);
    // The installed tarballs are the registry's: the lockfile records their integrity (not always their URL: a user's
    // npmrc may set omit-lockfile-registry-resolved, as this machine's does), and it must equal what the registry serves.
    const lock = JSON.parse(await readFile(path.join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string; integrity?: string }> };
    for (const name of ['isogate', '@isogate/sdk']) {
      const entry = lock.packages[`node_modules/${name}`];
      assert.ok(entry, `${name} is in the project's lockfile`);
      if (entry.resolved !== undefined) assert.ok(entry.resolved.startsWith(registry.url), `${name} resolved from ${entry.resolved}`);
      const served = JSON.parse(await ok('npm', ['view', name, 'dist.integrity', '--json'], tmp)) as string;
      assert.equal(entry.integrity, served, `${name}: the installed tarball is the one the registry serves`);
    }
    assert.match(await ok(path.join(project, 'node_modules/.bin/node'), ['--version'], project), /^v24\./);
    assert.match(await ok('node', ['--version'], project), /^v20\./, 'npm itself runs on the machine Node');
  });

  it('npx isogate check type-checks and validates the config', async () => {
    const out = await ok('npx', ['isogate', 'check'], project);
    assert.match(out, /gateway\.config\.ts: OK \(1 routes\)/);
  });

  it("npm test runs the plugin's tests on Node 24", async () => {
    const out = await ok('npm', ['test'], project);
    assert.match(out, /^ℹ pass 4$/m);
    assert.match(out, /^ℹ fail 0$/m);
  });

  it('npx isogate start serves: /api/* goes upstream through the greeting plugin', async () => {
    const gateway = await startGateway();
    try {
      seen.length = 0;
      const res = await fetch(`${gateway.url}/api/users/1`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { path: '/users/1' });
      assert.equal(res.headers.get('x-greeted'), 'yes');
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.headers['x-greeting'], 'hello from isogate');
      const missing = await fetch(`${gateway.url}/nowhere`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(missing.status, 404);
    } finally {
      await gateway.stop();
    }
  });

  it('isogate new plugin scaffolds a package whose install and tests work outside the repository', { timeout: INSTALL_MS }, async () => {
    pluginDir = path.join(tmp, 'work', 'isogate-plugin-stamp');
    const out = await ok('npx', ['isogate', 'new', 'plugin', 'isogate-plugin-stamp', '--dir', pluginDir], project);
    assert.match(out, /npm install .*\n.*npm test/);
    await ok('npm', ['install'], pluginDir, INSTALL_MS);
    const tests = await ok('npm', ['test', '--', '--test-reporter=tap'], pluginDir);
    assert.match(tests, /# pass 3\n/);
    assert.match(tests, /# fail 0\n/);
  });

  it("npm run verify (isogate plugin verify, as the scaffold's CI workflow runs it) passes outside the repository", { timeout: INSTALL_MS }, async () => {
    const out = await ok('npm', ['run', 'verify'], pluginDir, INSTALL_MS);
    for (const step of ['pack', 'peer', 'load', 'tests', 'types']) assert.match(out, new RegExp(`✔ ${step}`), step);
    assert.match(out, /isogate-plugin-stamp@0\.1\.0: OK/);
  });

  it('npm publish builds the plugin (prepack) and publishes it with dist/ as its entry', { timeout: INSTALL_MS }, async () => {
    await ok('npm', ['publish'], pluginDir, INSTALL_MS);
    const published = JSON.parse(await ok('npm', ['view', 'isogate-plugin-stamp@0.1.0', '--json'], tmp)) as { main: string; types: string };
    assert.equal(published.main, './dist/index.js');
    assert.equal(published.types, './dist/index.d.ts');
    // What the tarball holds: the next test installs it and lists the files.
  });

  it('installed into the project by name (README, package.json and dist JS/d.ts/map only), the plugin is type-checked in the config and runs in the gateway', { timeout: INSTALL_MS }, async () => {
    await ok('npm', ['install', 'isogate-plugin-stamp'], project, INSTALL_MS);
    const installed = path.join(project, 'node_modules/isogate-plugin-stamp');
    assert.deepEqual((await readdir(installed)).sort(), ['README.md', 'dist', 'package.json']);
    assert.deepEqual((await readdir(path.join(installed, 'dist'))).sort(), ['index.d.ts', 'index.js', 'index.js.map']);
    const configFile = path.join(project, 'gateway.config.ts');
    const config = await readFile(configFile, 'utf8');
    const withStamp = config
      .replace('  plugins: {\n', "  plugins: {\n    stamp: usePlugin(() => import('isogate-plugin-stamp'), { header: 'x-stamp', value: 'from-the-registry' }),\n")
      .replace("middleware: ['greeting']", "middleware: ['greeting', 'stamp']");
    assert.notEqual(withStamp, config);
    await writeFile(configFile, withStamp);
    assert.match(await ok('npx', ['isogate', 'check'], project), /OK \(1 routes\)/);

    const gateway = await startGateway();
    try {
      seen.length = 0;
      const res = await fetch(`${gateway.url}/api/orders/7`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.path, '/orders/7');
      assert.equal(seen[0]!.headers['x-stamp'], 'from-the-registry');
      assert.equal(seen[0]!.headers['x-greeting'], 'hello from isogate');
    } finally {
      await gateway.stop();
    }
  });

  it("a wrong option in the project's config fails isogate check with its key path", async () => {
    const configFile = path.join(project, 'gateway.config.ts');
    const config = await readFile(configFile, 'utf8');
    const wrong = config.replace("{ header: 'x-stamp', value: 'from-the-registry' }", "{ header: 'x-stamp', valeu: 'from-the-registry' }");
    assert.notEqual(wrong, config);
    await writeFile(configFile, wrong);
    const res = await sh('npx', ['isogate', 'check'], project);
    assert.notEqual(res.code, 0);
    assert.match(`${res.stdout}\n${res.stderr}`, /plugins\.stamp\.options\.valeu/);
    process.stderr.write(`# isogate check on the wrong option:\n${`${res.stdout}${res.stderr}`.replace(/^/gm, '#   ')}\n`);
  });
});
