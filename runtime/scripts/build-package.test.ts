import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import ts from 'typescript';
import { buildSdkPackage } from '../../sdk/scripts/build-package.ts';
import { systemNode } from '../../scripts/system-node.ts';
import { buildIsogatePackage } from './build-package.ts';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '../..');

// The built package installed into a project outside this repository, with Node's type stripping
// turned off: the third-party dependencies are the repository's (linked one by one), isogate and
// @isogate/sdk are the built packages. The release end-to-end test (test/e2e/release) installs
// everything from a registry instead; this checks the layout in seconds.
let tmp: string;
let pkgDir: string;
let project: string;
let pkg: { name: string; version: string; files: string[]; bin: Record<string, string>; exports: Record<string, { types: string; default: string }>; dependencies: Record<string, string> };

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'isogate-package-'));
  pkgDir = buildIsogatePackage(path.join(tmp, 'isogate'));
  pkg = JSON.parse(await fs.readFile(path.join(pkgDir, 'package.json'), 'utf8')) as typeof pkg;
  project = path.join(tmp, 'project');
  const modules = path.join(project, 'node_modules');
  await fs.mkdir(path.join(modules, '@isogate'), { recursive: true });
  buildSdkPackage(path.join(modules, '@isogate', 'sdk'));
  await fs.cp(pkgDir, path.join(modules, 'isogate'), { recursive: true });
  for (const name of readdirSync(path.join(REPO, 'node_modules'))) {
    if (name.startsWith('.') || name === 'isogate' || name === '@isogate' || existsSync(path.join(modules, name))) continue;
    await fs.symlink(path.join(REPO, 'node_modules', name), path.join(modules, name));
  }
  await fs.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'project', private: true, type: 'module' }));
  await fs.mkdir(path.join(project, 'plugins'));
  await fs.writeFile(
    path.join(project, 'plugins', 'tag.ts'),
    `import { definePlugin } from '@isogate/sdk';\nimport { z } from 'zod';\nexport default definePlugin({ name: 'tag', version: '1.0.0', options: z.object({ value: z.string() }), onRequest(req, ctx) { req.headers.set('x-tag', ctx.options.value); } });\n`,
  );
  await fs.writeFile(
    path.join(project, 'gateway.config.ts'),
    `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  server: { port: 0 },
  plugins: { tag: usePlugin(() => import('./plugins/tag.ts'), { value: 'on' }), stamp: { use: 'headers', options: { response: { set: { 'x-stamp': '1' } } } } },
  middleware: ['stamp'],
  routes: [{ path: '/api/*', upstream: 'http://127.0.0.1:9', middleware: ['tag'] }],
});
`,
  );
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** The built CLI on Node 24 with type stripping off (as inside node_modules), in the project. */
function isogate(args: string[]) {
  const { NODE_TEST_CONTEXT: _context, NODE_OPTIONS: _options, ...env } = process.env;
  return run(process.execPath, ['--no-experimental-strip-types', path.join(project, 'node_modules', 'isogate', 'bin', 'isogate.mjs'), ...args], { cwd: project, env, timeout: 60_000 });
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('the published isogate package (npm run build)', () => {
  it('ships JavaScript, declarations and source maps for the runtime, the built-in plugins and the CLI, and no tests', async () => {
    assert.deepEqual(pkg.files, ['bin', 'dist']);
    const files = await filesUnder(path.join(pkgDir, 'dist'));
    assert.deepEqual(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'no TypeScript sources');
    assert.deepEqual(files.filter((f) => /\.test\b|fixtures|test-support|bench/.test(f)), [], 'no tests, fixtures or benchmarks');
    for (const plugin of readdirSync(path.join(REPO, 'plugins'))) {
      if (!existsSync(path.join(REPO, 'plugins', plugin, 'index.ts'))) continue;
      for (const ext of ['.js', '.d.ts', '.js.map']) assert.ok(files.includes(path.join('plugins', plugin, `index${ext}`)), `built-in ${plugin}: index${ext}`);
    }
    assert.ok(files.includes('runtime/src/cli/main.js'));
    assert.ok(files.includes('runtime/src/config/evaluate-config-worker.mjs'), 'the plain JavaScript config worker is copied');
  });

  it('has exports with types first, a bin, and @isogate/sdk at its own version', async () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      assert.deepEqual(Object.keys(target), ['types', 'default'], `${subpath}: types must come first`);
      await fs.access(path.join(pkgDir, target.types));
      await fs.access(path.join(pkgDir, target.default));
    }
    assert.ok(pkg.exports['./testing'], 'isogate/testing (what @isogate/sdk/testing runs plugins with)');
    await fs.access(path.join(pkgDir, pkg.bin['isogate']!), fs.constants.X_OK);
    assert.equal(pkg.dependencies['@isogate/sdk'], pkg.version);
  });

  it('imports nothing outside itself and names no TypeScript file (relative imports all resolve inside the package)', async () => {
    const escapes: string[] = [];
    for (const file of (await filesUnder(pkgDir)).filter((f) => /\.m?js$/.test(f))) {
      const source = ts.createSourceFile(file, await fs.readFile(path.join(pkgDir, file), 'utf8'), ts.ScriptTarget.ES2024, true, ts.ScriptKind.JS);
      const visit = (node: ts.Node): void => {
        let specifier: ts.Node | undefined;
        if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) specifier = node.moduleSpecifier;
        else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) specifier = node.arguments[0];
        else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL') specifier = node.arguments?.[0];
        if (specifier && ts.isStringLiteralLike(specifier) && /^\.{1,2}\//.test(specifier.text)) {
          const target = path.resolve(pkgDir, path.dirname(file), specifier.text);
          if (!target.startsWith(pkgDir + path.sep) || !existsSync(target) || /\.ts$/.test(target)) escapes.push(`${file}: ${specifier.text}`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    assert.deepEqual(escapes, []);
  });

  it('packs only bin, dist, package.json and README (npm pack)', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkgDir });
    const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const paths = packed.files.map((f) => f.path);
    assert.deepEqual(paths.filter((p) => !/^(bin|dist)\//.test(p) && !['package.json', 'README.md'].includes(p)), []);
    assert.ok(paths.includes('README.md'));
  });

  it('runs without type stripping and without this repository: --version, check (a local plugin bundled into its isolate, a built-in)', async () => {
    assert.equal((await isogate(['--version'])).stdout.trim(), pkg.version);
    const { stdout } = await isogate(['check']);
    assert.match(stdout, /\/api\/\*\s+http:\/\/127\.0\.0\.1:9\s+stamp → tag/);
    assert.match(stdout, /gateway\.config\.ts: OK \(1 routes\)/);
  });

  it('runs isogate dev: serves, and type-checks in its worker thread', { timeout: 60_000 }, async () => {
    const { NODE_TEST_CONTEXT: _context, NODE_OPTIONS: _options, ...env } = process.env;
    const child = spawn(process.execPath, ['--no-experimental-strip-types', path.join(project, 'node_modules', 'isogate', 'bin', 'isogate.mjs'), 'dev', '--host', '127.0.0.1'], { cwd: project, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const deadline = Date.now() + 45_000;
      while (!/type check: no errors/.test(output) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      assert.match(output, /type check: no errors/, output);
      const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output)?.[1];
      assert.ok(url, output);
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('refuses an older Node in one line, from the built package (the machine\'s Node)', async () => {
    const node = systemNode();
    const { stdout: version } = await run(node, ['--version']);
    assert.ok(Number(version.trim().slice(1).split('.')[0]) < 24, `the system node ${node} is ${version.trim()}: this test needs one older than 24`);
    const refused = await run(node, [path.join(project, 'node_modules', 'isogate', 'bin', 'isogate.mjs'), '--version'], { cwd: project }).then(
      () => assert.fail('it ran'),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, new RegExp(`^isogate needs Node\\.js 24 or newer \\(this is ${version.trim().replaceAll('.', '\\.')}\\)\\. [^\\n]+\\n$`));
  });
});
