/**
 * Issue 11, "Options: unknown keys refused, usePlugin easier", through the real CLI: an option
 * key the plugin's schema does not know is a load error naming its key path in `check`, `start`
 * and `dev`; a plugin that passes options through opts out; a package named like a built-in
 * (`logging`) is loaded as the package; `isogate dev` reports type errors in the background while
 * it serves.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { CliProcess, killAllChildren, runCli } from './helpers/cli.ts';
import { makeConfigDir, REPO_ROOT, type ConfigDir } from './helpers/config-dir.ts';
import { httpGet } from './helpers/http-client.ts';
import { startTextUpstream, type TestUpstream } from './helpers/upstream.ts';
import { waitFor } from './helpers/wait.ts';

const STACK_FRAME = /\n\s+at .+:\d+:\d+/;

// Its options have a default, so a misspelt key would silently leave the plugin on its default.
const TAG_PLUGIN = `import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';
export default definePlugin({
  name: 'tag',
  version: '1.0.0',
  options: z.object({ header: z.string().default('x-tag'), value: z.string().default('on') }),
  onResponse(res, _req, ctx) {
    res.headers.set(ctx.options.header, ctx.options.value);
  },
});
`;

const PASS_PLUGIN = `import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';
export default definePlugin({
  name: 'pass',
  version: '1.0.0',
  options: z.looseObject({}),
  allowUnknownOptions: true,
  onResponse(res, _req, ctx) {
    res.headers.set('x-options', JSON.stringify(ctx.options));
  },
});
`;

// An npm package that happens to be called like the built-in access log.
const LOGGING_PACKAGE = `import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';
export default definePlugin({
  name: 'logging',
  version: '2.0.0',
  options: z.object({ greeting: z.string() }),
  onResponse(res, _req, ctx) {
    res.headers.set('x-from-package', ctx.options.greeting);
  },
});
`;

const stripAnsi = (text: string) => stripVTControlCharacters(text);

describe('plugin options and usePlugin through the CLI', () => {
  let upstream: TestUpstream;
  let project: ConfigDir;
  const relative = (file: string) => path.relative(REPO_ROOT, file);

  before(async () => {
    upstream = await startTextUpstream('up');
    project = await makeConfigDir('project');
    await fs.mkdir(project.path('plugins'));
    await project.write('plugins/tag.ts', TAG_PLUGIN);
    await project.write('plugins/pass.ts', PASS_PLUGIN);
    const pkg = project.path('node_modules/logging');
    await fs.mkdir(pkg, { recursive: true });
    await fs.writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'logging', version: '2.0.0', type: 'module', main: './index.ts', exports: { '.': './index.ts' }, peerDependencies: { '@isogate/sdk': '^0.1.0' } }));
    await fs.writeFile(path.join(pkg, 'index.ts'), LOGGING_PACKAGE);
  });

  after(async () => {
    killAllChildren();
    await upstream?.close();
    await project?.remove();
  });

  /** A config without the SDK's types: only the gateway's own check stands between `headr` and a silent default. */
  const plainTypo = () =>
    project.write('typo-plain.config.ts', `export default {\n  plugins: { tag: { kind: 'user', use: './plugins/tag.ts', options: { headr: 'x-trace' } } },\n  middleware: ['tag'],\n  routes: [{ path: '/v/*', upstream: '${upstream.url}' }],\n};\n`);

  test('check: an unknown option is a load error at plugins.<name>.options.<key>, and a type error in the config', { timeout: 90_000 }, async () => {
    const file = await project.write(
      'typo.config.ts',
      `import { defineConfig, usePlugin } from '@isogate/sdk';\nexport default defineConfig({\n  plugins: { tag: usePlugin(() => import('./plugins/tag.ts'), { headr: 'x-trace' }) },\n  middleware: ['tag'],\n  routes: [{ path: '/v/*', upstream: '${upstream.url}' }],\n});\n`,
    );
    const res = await runCli(['check', '--config', file], { timeoutMs: 60_000 });
    assert.equal(res.code, 1, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
    assert.ok(res.stderr.includes(`plugins.tag.options.headr: unknown option: the plugin's options schema does not declare it (did you mean "header"?)`), res.stderr);
    assert.match(res.stderr, new RegExp(`${relative(file).replace(/\./g, '\\.')}:3:\\d+ - type error: Object literal may only specify known properties, but 'headr' does not exist.*Did you mean to write 'header'\\?`));
    assert.doesNotMatch(res.stderr, STACK_FRAME);
  });

  test('start and dev: an unknown option exits 1 naming its key path, and serves nothing', { timeout: 90_000 }, async () => {
    const file = await plainTypo();
    for (const command of ['start', 'dev']) {
      const res = await runCli([command, '--config', file, '--port', '0'], { timeoutMs: 60_000 });
      assert.equal(res.code, 1, `${command}: stdout: ${res.stdout}\nstderr: ${res.stderr}`);
      assert.match(res.stderr, /plugins\.tag\.options\.headr: unknown option/, command);
      assert.doesNotMatch(res.stdout, /gateway listening/, command);
    }
  });

  test('start: a plugin that declares allowUnknownOptions gets the keys it does not declare', { timeout: 90_000 }, async () => {
    const file = await project.write(
      'pass.config.ts',
      `import { defineConfig, usePlugin } from '@isogate/sdk';\nexport default defineConfig({\n  plugins: { pass: usePlugin(() => import('./plugins/pass.ts'), { target: 'a', nested: { b: 1 } }) },\n  middleware: ['pass'],\n  routes: [{ path: '/v/*', upstream: '${upstream.url}' }],\n});\n`,
    );
    const check = await runCli(['check', '--config', file], { timeoutMs: 60_000 });
    assert.equal(check.code, 0, check.stderr);
    const gateway = new CliProcess(['start', '--config', file, '--port', '0']);
    try {
      const url = await gateway.listening(30_000);
      const res = await httpGet(`${url}/v/x`);
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(String(res.headers['x-options'])), { target: 'a', nested: { b: 1 } });
    } finally {
      gateway.kill();
    }
  });

  test('a package named `logging` is loaded as the package through usePlugin, beside the built-in of that name', { timeout: 90_000 }, async () => {
    const file = await project.write(
      'logging-package.config.ts',
      `import { defineConfig, usePlugin } from '@isogate/sdk';\nexport default defineConfig({\n  plugins: {\n    pkg: usePlugin(() => import('logging'), { greeting: 'from the package' }),\n    access: { use: 'logging' },\n  },\n  middleware: ['access', 'pkg'],\n  routes: [{ path: '/v/*', upstream: '${upstream.url}' }],\n});\n`,
    );
    const check = await runCli(['check', '--config', file], { timeoutMs: 60_000 });
    assert.equal(check.code, 0, `stdout: ${check.stdout}\nstderr: ${check.stderr}`);
    const gateway = new CliProcess(['start', '--config', file, '--port', '0']);
    try {
      const url = await gateway.listening(30_000);
      const res = await httpGet(`${url}/v/x`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-from-package'], 'from the package', 'the package ran');
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'the built-in access log ran too');
      await waitFor(() => gateway.logs.find((l) => l['plugin'] === 'access' && l['path'] === '/v/x'), { timeoutMs: 10_000, message: 'the access log line' });
    } finally {
      gateway.kill();
    }
  });

  test('dev: type errors in a plugin are logged with file:line while the gateway serves; a fix clears them after the reload', { timeout: 120_000 }, async () => {
    const broken = TAG_PLUGIN.replace("res.headers.set(ctx.options.header, ctx.options.value);", "const n: number = ctx.options.value;\n    res.headers.set(ctx.options.header, String(n));");
    const plugin = await project.write('plugins/typed.ts', broken);
    const file = await project.write(
      'dev.config.ts',
      `import { defineConfig, usePlugin } from '@isogate/sdk';\nexport default defineConfig({\n  plugins: { tag: usePlugin(() => import('./plugins/typed.ts'), {}) },\n  middleware: ['tag'],\n  routes: [{ path: '/v/*', upstream: '${upstream.url}' }],\n});\n`,
    );
    const gateway = new CliProcess(['dev', '--config', file, '--port', '0']);
    try {
      const text = () => stripAnsi(gateway.stdout);
      const url = await waitFor(() => /gateway listening \{"url":"([^"]+)"/.exec(text())?.[1], { timeoutMs: 30_000, message: `gateway listening\n${gateway.stdout}${gateway.stderr}` });
      // Served whatever the types say.
      assert.equal((await httpGet(`${url}/v/x`)).headers['x-tag'], 'on');
      const line = await waitFor(() => text().split('\n').find((l) => l.includes('type error ')), { timeoutMs: 60_000, message: `a type error line\n${gateway.stdout}` });
      assert.ok(line.includes(`WARN: type error ${relative(plugin)}:8:11: Type 'string' is not assignable to type 'number'.`), line);
      await waitFor(() => text().includes('type check: 1 type error'), { timeoutMs: 60_000, message: 'the summary' });

      await project.write('plugins/typed.ts', TAG_PLUGIN);
      await waitFor(() => text().includes('config reloaded'), { timeoutMs: 30_000, message: `the reload\n${gateway.stdout}` });
      await waitFor(() => text().includes('type check: no errors'), { timeoutMs: 60_000, message: `the all-clear\n${gateway.stdout}` });
      assert.ok(text().indexOf('config reloaded') < text().indexOf('type check: no errors'), 'the reload did not wait for the check');
      assert.equal((await httpGet(`${url}/v/x`)).status, 200);
    } finally {
      gateway.kill();
    }
  });

  test('dev: SIGTERM while the first type check runs drains and exits 0 (the check is abandoned, not awaited)', { timeout: 90_000 }, async () => {
    const file = await project.write('dev-stop.config.ts', `import { defineConfig } from '@isogate/sdk';\nexport default defineConfig({ routes: [{ path: '/v/*', upstream: '${upstream.url}' }] });\n`);
    const gateway = new CliProcess(['dev', '--config', file, '--port', '0']);
    try {
      await waitFor(() => stripVTControlCharacters(gateway.stdout).includes('gateway listening'), { timeoutMs: 30_000, message: 'gateway listening' });
      gateway.child.kill('SIGTERM');
      const status = await gateway.waitForExit(30_000);
      assert.equal(status.code, 0, `stdout: ${gateway.stdout}\nstderr: ${gateway.stderr}`);
      assert.match(stripVTControlCharacters(gateway.stdout), /stopped/);
    } finally {
      gateway.kill();
    }
  });
});
