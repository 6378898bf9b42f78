import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import ts from 'typescript';
import { compose } from '../chain/compose.ts';
import type { GatewayRequest } from '../chain/types.ts';
import { ConfigError } from '../config/config-error.ts';
import { loadConfigFile } from '../config/load-config.ts';
import { resolvePluginSource } from '../isolate/bundle-plugin.ts';
import { createPluginMiddleware } from '../isolate/plugin-middleware.ts';
import { silentLogger } from '../logging/logger.ts';
import { builtinPlugins } from '../plugins/builtins.ts';
import { invalidPackageName, scaffoldPlugin, ScaffoldError } from './new-plugin.ts';
import { typecheckConfig } from './typecheck-config.ts';

// Inside the repository, so the generated package resolves @isogate/sdk and zod like a plugin
// developed in a workspace does.
const root = path.resolve(import.meta.dirname, '../../..');
let tmp: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(root, 'runtime', '.tmp-new-plugin-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const requestIdDir = path.join(root, 'examples/plugin-packages/isogate-plugin-request-id');

/** `node --test` in a package directory, reported in TAP rather than to this test runner. */
async function runPackageTests(dir: string): Promise<string> {
  const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
  return (await promisify(execFile)(process.execPath, ['--test', '--test-reporter=tap'], { cwd: dir, env })).stdout;
}

describe('isogate new plugin', () => {
  it('validates the name as an npm package name', () => {
    for (const good of ['my-plugin', '@acme/isogate-plugin-x', 'a.b_c~d', 'x1']) assert.equal(invalidPackageName(good), null, good);
    for (const bad of ['', 'My-Plugin', '.hidden', '_x', 'a b', 'a/b', '@acme', '@acme/', 'fs', 'node_modules', 'x!', 'é', 'a'.repeat(215)]) {
      assert.notEqual(invalidPackageName(bad), null, bad);
    }
  });

  it('writes a package whose own test passes with @isogate/sdk/testing, and which type-checks', async () => {
    const dir = path.join(tmp, 'hello');
    const files = await scaffoldPlugin({ name: '@acme/isogate-plugin-hello', dir });
    assert.deepEqual(files.map((f) => path.relative(dir, f)).sort(), ['README.md', 'package.json', 'src/index.test.ts', 'src/index.ts', 'tsconfig.json']);

    const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8'));
    assert.equal(pkg.name, '@acme/isogate-plugin-hello');
    assert.equal(pkg.version, '0.1.0');
    assert.equal(pkg.type, 'module');
    assert.deepEqual(pkg.keywords, ['isogate-plugin']);
    assert.deepEqual(pkg.peerDependencies, { '@isogate/sdk': '^0.1.0' });
    assert.equal(pkg.main, './src/index.ts');
    assert.deepEqual(pkg.exports, { '.': './src/index.ts' });
    assert.match(pkg.scripts.test, /^node --test/);
    const readme = await fs.readFile(path.join(dir, 'README.md'), 'utf8');
    assert.match(readme, /usePlugin<typeof import\('@acme\/isogate-plugin-hello'\)>\('@acme\/isogate-plugin-hello'/);

    const run = await runPackageTests(dir);
    assert.match(run, /# pass 3\n/);
    assert.match(run, /# fail 0\n/);

    const parsed = ts.getParsedCommandLineOfConfigFile(path.join(dir, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
    assert.ok(parsed);
    const program = ts.createProgram(parsed.fileNames, parsed.options);
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(problems, []);
  });

  it('defaults the directory to the unscoped name, and never overwrites', async () => {
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      const files = await scaffoldPlugin({ name: '@acme/second' });
      assert.equal(path.dirname(files[0]!), path.join(tmp, 'second'));
      await assert.rejects(scaffoldPlugin({ name: 'second' }), (err: unknown) => err instanceof ScaffoldError && /exists and is not empty/.test(err.message));
    } finally {
      process.chdir(cwd);
    }
    const empty = path.join(tmp, 'empty');
    await fs.mkdir(empty);
    assert.equal((await scaffoldPlugin({ name: 'empty-ok', dir: empty })).length, 5);
    await assert.rejects(scaffoldPlugin({ name: 'Bad Name', dir: path.join(tmp, 'bad') }), ScaffoldError);
    await assert.rejects(fs.access(path.join(tmp, 'bad')));
  });
});

describe('a plugin installed as an npm package (examples/plugin-packages/isogate-plugin-request-id)', () => {
  it('resolves by package name from the config directory, to the package entry', () => {
    assert.equal(resolvePluginSource('isogate-plugin-request-id', tmp), path.join(requestIdDir, 'src/index.ts'));
  });

  it('loads by name from a config, validates its options in the isolate, and serves', async () => {
    const file = path.join(tmp, 'by-name.config.ts');
    await fs.writeFile(
      file,
      `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: { rid: usePlugin<typeof import('isogate-plugin-request-id')>('isogate-plugin-request-id', { header: 'x-correlation-id' }) },
  routes: [{ path: '/a', upstream: 'http://127.0.0.1:9', middleware: ['rid'] }],
});
`,
    );
    assert.deepEqual(typecheckConfig(file), []);
    const loaded = await loadConfigFile(file, builtinPlugins);
    const host = loaded.userPlugins.get('rid')!;
    try {
      assert.equal(host.manifest.name, 'isogate-plugin-request-id');
      assert.ok(loaded.files.includes(path.join(requestIdDir, 'src/index.ts')), 'the package source is watched');
      let seen: string | undefined;
      const handler = compose([{ name: 'rid', middleware: createPluginMiddleware(host, 'rid', 'fail-closed', silentLogger()) }], async (req) => {
        seen = req.headers['x-correlation-id'] as string;
        return { status: 200, headers: {}, body: 'ok' };
      });
      const req = {
        method: 'GET', path: '/a', query: '', headers: {}, params: {}, clientIp: '127.0.0.1', remoteAddress: '127.0.0.1', fromTrustedProxy: false,
        protocol: 'http', body: null, signal: new AbortController().signal, route: { name: '/a' }, state: {}, claims: null, instruments: null, upgrade: false,
      } as unknown as GatewayRequest;
      const res = await handler(req);
      assert.match(seen ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(res.headers['x-correlation-id'], seen);
    } finally {
      for (const h of loaded.userPlugins.values()) h.dispose();
    }
  });

  it('a wrong option type is a type error where the config names the package', async () => {
    const file = path.join(tmp, 'by-name-bad.config.ts');
    await fs.writeFile(
      file,
      `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: { rid: usePlugin<typeof import('isogate-plugin-request-id')>('isogate-plugin-request-id', { echo: 'yes' }) },
  routes: [],
});
`,
    );
    const problems = typecheckConfig(file);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.line, 3);
  });

  it('refuses, naming the package and both versions, an installed plugin whose @isogate/sdk peer range excludes the running SDK', async () => {
    const dir = path.join(tmp, 'peer-range');
    const pkgDir = path.join(dir, 'node_modules', '@acme', 'isogate-plugin-future');
    await fs.mkdir(pkgDir, { recursive: true });
    await fs.writeFile(
      path.join(pkgDir, 'package.json'),
      JSON.stringify({ name: '@acme/isogate-plugin-future', version: '1.0.0', type: 'module', exports: { '.': './index.ts' }, peerDependencies: { '@isogate/sdk': '^0.2.0' } }),
    );
    await fs.writeFile(path.join(pkgDir, 'index.ts'), `import { definePlugin } from '@isogate/sdk';\nexport default definePlugin({ name: 'future', version: '1.0.0', onRequest() {} });\n`);
    const file = path.join(dir, 'gateway.config.ts');
    await fs.writeFile(file, `export default { plugins: { future: { use: '@acme/isogate-plugin-future' } }, routes: [{ path: '/a', upstream: 'http://127.0.0.1:9', middleware: ['future'] }] };\n`);
    await assert.rejects(loadConfigFile(file, builtinPlugins), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => [i.path, i.message]),
        [['plugins.future.use', 'package "@acme/isogate-plugin-future" requires @isogate/sdk ^0.2.0 (peerDependencies), this gateway runs 0.1.0']],
      );
      return true;
    });
  });

  it("the package's own tests pass", async () => {
    const run = await runPackageTests(requestIdDir);
    assert.match(run, /# fail 0\n/);
    assert.doesNotMatch(run, /# pass 0\n/);
  });
});
