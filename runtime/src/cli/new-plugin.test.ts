import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
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
import { buildSdkPackage } from '../../../sdk/scripts/build-package.ts';
import { isogateVersion } from './version.ts';

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

/** `tsc -p config` as the package's typecheck script runs it: its problems as `file: message`. */
function typecheckProject(config: string): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(config, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  assert.ok(parsed);
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? path.relative(path.dirname(config), d.file.fileName) : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

/** This process's environment without the test runner's marker, for the commands it runs. */
function childEnv(): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
  return env;
}

/** `node --test` in a package directory, reported in TAP rather than to this test runner. */
async function runPackageTests(dir: string): Promise<string> {
  return (await promisify(execFile)(process.execPath, ['--test', '--test-reporter=tap'], { cwd: dir, env: childEnv() })).stdout;
}

/** `npm <args>` in `dir`; npm runs on whatever Node the PATH gives it. */
async function npm(dir: string, args: string[], env: NodeJS.ProcessEnv = childEnv()): Promise<string> {
  return (await promisify(execFile)('npm', args, { cwd: dir, env, maxBuffer: 16 * 1024 * 1024 })).stdout;
}

/** The scaffold with its options schema moved to a second file, which index.ts imports and re-exports. */
async function splitIntoTwoFiles(dir: string): Promise<void> {
  const index = path.join(dir, 'src/index.ts');
  const source = await fs.readFile(index, 'utf8');
  const schema = / {2}options: (z\.object\(\{\n[\s\S]*?\n {2}\}\)),\n/.exec(source);
  assert.ok(schema, 'the scaffold writes its options inline');
  await fs.writeFile(path.join(dir, 'src/options.ts'), `import { z } from 'zod';\n\nexport const options = ${schema[1]};\n`);
  const split = source
    .replace("import { z } from 'zod';\n", "import { options } from './options.ts';\n")
    .replace(schema[0], '  options,\n')
    .concat("\nexport { options } from './options.ts';\n");
  await fs.writeFile(index, split);
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
    assert.deepEqual(files.map((f) => path.relative(dir, f)).sort(), [
      '.github/workflows/ci.yml', '.gitignore', '.npmrc', 'README.md', 'package.json', 'src/index.test.ts', 'src/index.ts', 'tsconfig.build.json', 'tsconfig.json', 'tsconfig.test.json',
    ]);

    const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8'));
    assert.equal(pkg.name, '@acme/isogate-plugin-hello');
    assert.equal(pkg.version, '0.1.0');
    assert.equal(pkg.type, 'module');
    assert.deepEqual(pkg.keywords, ['isogate-plugin']);
    assert.deepEqual(pkg.peerDependencies, { '@isogate/sdk': '^0.1.0' });
    // Published built: JavaScript and declarations in dist/, built by npm pack / npm publish.
    assert.equal(pkg.main, './dist/index.js');
    assert.equal(pkg.types, './dist/index.d.ts');
    assert.deepEqual(pkg.exports, { '.': { types: './dist/index.d.ts', default: './dist/index.js' } });
    assert.deepEqual(pkg.files, ['dist']);
    assert.equal(pkg.scripts.prepack, 'npm run build');
    assert.equal(pkg.scripts.build, 'tsc -p tsconfig.build.json');
    assert.match(pkg.scripts.test, /^node --test/);
    // Node 24 and the tooling the way this repository brings them; isogate at this runtime's version for testPlugin's sandbox.
    const repo = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.engines, repo.engines);
    assert.deepEqual(pkg.devDependencies, {
      '@isogate/sdk': '^0.1.0',
      '@types/node': repo.devDependencies['@types/node'],
      isogate: `^${isogateVersion()}`,
      node: repo.devDependencies.node,
      typescript: repo.devDependencies.typescript,
    });
    assert.deepEqual(pkg.allowScripts, repo.allowScripts);
    assert.deepEqual((await fs.readFile(path.join(dir, '.gitignore'), 'utf8')).split('\n').filter(Boolean), ['node_modules/', 'dist/', '*.tgz']);
    const readme = await fs.readFile(path.join(dir, 'README.md'), 'utf8');
    assert.match(readme, /usePlugin\(\(\) => import\('@acme\/isogate-plugin-hello'\), \{/);

    const run = await runPackageTests(dir);
    assert.match(run, /# pass 3\n/);
    assert.match(run, /# fail 0\n/);

    // npm run typecheck: the plugin in its sandbox's environment, the tests in Node's; and the build's.
    for (const config of ['tsconfig.json', 'tsconfig.test.json', 'tsconfig.build.json']) assert.deepEqual(typecheckProject(path.join(dir, config)), [], config);
  });

  it("npm test, with npm on the machine's older Node, runs the tests on a Node 24 from node_modules/.bin", async () => {
    const dir = path.join(tmp, 'old-npm');
    await scaffoldPlugin({ name: 'old-npm', dir });
    // The machine's PATH without any node_modules/.bin: npm and its Node are the system's (20
    // here). Inside this repository npm finds the Node 24 of the repository's own `node`
    // devDependency in an ancestor's node_modules/.bin, as a plugin project finds its own; the
    // release end-to-end test does it outside the repository (test/e2e/release).
    const systemPath = (process.env['PATH'] ?? '').split(path.delimiter).filter((d) => !d.includes('node_modules')).join(path.delimiter);
    const out = await npm(dir, ['test', '--', '--test-reporter=tap'], { ...childEnv(), PATH: systemPath });
    assert.match(out, /# pass 3\n/);
    assert.match(out, /# fail 0\n/);
  });

  it('npm pack builds dist/ and packs only its JavaScript, declarations and source maps, the README and package.json', async () => {
    const dir = path.join(tmp, 'packed');
    await scaffoldPlugin({ name: '@acme/packed', dir });
    await splitIntoTwoFiles(dir);
    const dest = path.join(tmp, 'tarballs');
    await fs.mkdir(dest, { recursive: true });
    const [packed] = JSON.parse(await npm(dir, ['pack', '--json', '--pack-destination', dest])) as [{ filename: string; files: { path: string }[] }];
    assert.deepEqual(packed.files.map((f) => f.path).sort(), [
      'README.md',
      'dist/index.d.ts',
      'dist/index.js',
      'dist/index.js.map',
      'dist/options.d.ts',
      'dist/options.js',
      'dist/options.js.map',
      'package.json',
    ]);
    // The imports name the built files, and the maps carry the sources that are not published.
    const built = await fs.readFile(path.join(dir, 'dist/index.js'), 'utf8');
    assert.match(built, /from "\.\/options\.js"/);
    assert.doesNotMatch(built, /\.ts['"]/);
    const map = JSON.parse(await fs.readFile(path.join(dir, 'dist/index.js.map'), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
    assert.deepEqual(map.sources, ['../src/index.ts']);
    assert.match(map.sourcesContent?.[0] ?? '', /definePlugin\(/);
    await fs.access(path.join(dest, packed.filename));
  });

  it("a two-file plugin, packed and installed, type-checks clean in a consumer's own tsc (its sources would not: TS5097), and its options stay typed", async () => {
    const dir = path.join(tmp, 'two-files');
    await scaffoldPlugin({ name: '@acme/two-files', dir });
    await splitIntoTwoFiles(dir);
    const dest = path.join(tmp, 'two-files-tarball');
    await fs.mkdir(dest);
    const [packed] = JSON.parse(await npm(dir, ['pack', '--json', '--pack-destination', dest])) as [{ filename: string }];

    // A consumer outside this repository with what npm install would give it: the plugin as
    // packed, the SDK as published (built), zod.
    const consumer = await fs.mkdtemp(path.join(os.tmpdir(), 'isogate-consumer-'));
    try {
      const modules = path.join(consumer, 'node_modules');
      const installed = path.join(modules, '@acme/two-files');
      await fs.mkdir(installed, { recursive: true });
      await promisify(execFile)('tar', ['-xzf', path.join(dest, packed.filename), '-C', installed, '--strip-components=1']);
      buildSdkPackage(path.join(modules, '@isogate/sdk'));
      await fs.symlink(path.join(root, 'node_modules/zod'), path.join(modules, 'zod'));
      await fs.writeFile(path.join(consumer, 'package.json'), '{ "type": "module" }\n');
      // The consumer's own settings: no allowImportingTsExtensions, no types of its own.
      await fs.writeFile(
        path.join(consumer, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'es2024', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: [] }, include: ['*.ts'] }),
      );
      const config = (options: string) => `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: { two: usePlugin(() => import('@acme/two-files'), ${options}) },
  routes: [{ path: '/a', upstream: 'http://127.0.0.1:9', middleware: ['two'] }],
});
`;
      await fs.writeFile(path.join(consumer, 'gateway.config.ts'), config("{ header: 'x-two' }"));
      assert.deepEqual(typecheckProject(path.join(consumer, 'tsconfig.json')), []);

      await fs.writeFile(path.join(consumer, 'gateway.config.ts'), config('{ header: 2 }'));
      assert.deepEqual(typecheckProject(path.join(consumer, 'tsconfig.json')), ["gateway.config.ts: Type 'number' is not assignable to type 'string'."]);

      // The same two files published as sources (what the scaffold did before): the consumer's tsc refuses them.
      await fs.writeFile(path.join(installed, 'package.json'), JSON.stringify({ name: '@acme/two-files', version: '0.1.0', type: 'module', exports: { '.': './src/index.ts' } }));
      await fs.cp(path.join(dir, 'src'), path.join(installed, 'src'), { recursive: true });
      await fs.writeFile(path.join(consumer, 'gateway.config.ts'), config("{ header: 'x-two' }"));
      assert.deepEqual(
        [...new Set(typecheckProject(path.join(consumer, 'tsconfig.json')).map((p) => p.replace(/'.*$/, '')))],
        ['node_modules/@acme/two-files/src/index.ts: An import path can only end with a '],
      );
    } finally {
      await fs.rm(consumer, { recursive: true, force: true });
    }
  });

  it("types the plugin with the sandbox's globals only: Node's are errors in src/index.ts, not in its test", async () => {
    const dir = path.join(tmp, 'sandboxed');
    await scaffoldPlugin({ name: 'sandboxed', dir });
    const index = path.join(dir, 'src/index.ts');
    const source = await fs.readFile(index, 'utf8');
    await fs.writeFile(index, source.replace('onRequest(req, ctx) {', "onRequest(req, ctx) {\n    ctx.log.info(new URL(req.path, 'http://x.example').href + crypto.randomUUID() + btoa(String(process.pid)));\n    setTimeout(() => {}, 1);"));
    assert.deepEqual(
      typecheckProject(path.join(dir, 'tsconfig.json')).map((p) => p.replace(/(: [^.]*)\..*$/s, '$1')),
      ["src/index.ts: Cannot find name 'process'", "src/index.ts: Cannot find name 'setTimeout'"],
    );
    assert.deepEqual(typecheckProject(path.join(dir, 'tsconfig.test.json')).filter((p) => p.startsWith('src/index.ts:')), [], 'Node has both');
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
    assert.equal((await scaffoldPlugin({ name: 'empty-ok', dir: empty })).length, 10);
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
