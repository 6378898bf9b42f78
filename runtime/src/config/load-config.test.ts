import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { builtinPlugins } from '../plugins/builtins.ts';
import { ConfigError } from './config-error.ts';
import { loadConfigFile } from './load-config.ts';

// Inside the repository so that `@isogate/sdk` resolves like it does for a user's project.
const root = path.resolve(import.meta.dirname, '../../..');
let dir: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(root, 'runtime', '.tmp-load-config-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return file;
}

describe('loadConfigFile', () => {
  it('loads a TypeScript config with the SDK and local imports, and lists the files to watch', async () => {
    await write('upstreams.ts', `export const users: string = 'http://127.0.0.1:3001';\n`);
    const file = await write(
      'ok.config.ts',
      `import { defineConfig, env } from '@isogate/sdk';\nimport { users } from './upstreams.ts';\n` +
        `export default defineConfig({ server: { port: Number(env('ISOGATE_TEST_PORT', '9090')) }, routes: [{ path: '/u/:id', upstream: users + '/users/{id}' }] });\n`,
    );
    const loaded = await loadConfigFile(file, builtinPlugins);
    assert.equal(loaded.config.server.port, 9090);
    assert.equal(loaded.config.routes[0]!.upstreams[0], 'http://127.0.0.1:3001/users/{id}');
    assert.deepEqual([...loaded.files].sort(), [file, path.join(dir, 'upstreams.ts')].sort());
  });

  it('reports a syntax error with file:line:column', async () => {
    const file = await write('syntax.config.ts', `export default {\n  routes: [\n    { path: '/a' upstream: 'http://x' },\n  ],\n};\n`);
    await assert.rejects(loadConfigFile(file, builtinPlugins), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.issues[0]!.path, /syntax\.config\.ts:3:\d+$/);
      return true;
    });
  });

  it('reports a missing environment variable', async () => {
    const file = await write('env.config.ts', `import { env } from '@isogate/sdk';\nexport default { routes: [{ path: '/a', upstream: env('ISOGATE_TEST_SURELY_UNSET') }] };\n`);
    await assert.rejects(loadConfigFile(file, builtinPlugins), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.issues[0]!.path, '(environment)');
      assert.match(err.issues[0]!.message, /ISOGATE_TEST_SURELY_UNSET is not set/);
      return true;
    });
  });

  it('loads a user plugin into its isolate and reports unresolvable plugins and bad options by key path', async () => {
    const plugin = path.join(root, 'examples/plugins/add-header.ts');
    const good = await write('plugin.config.ts', `export default { plugins: { add: { use: ${JSON.stringify(path.relative(dir, plugin).startsWith('.') ? path.relative(dir, plugin) : './' + path.relative(dir, plugin))}, options: { name: 'x-a', value: '1' } } }, routes: [] };\n`);
    const loaded = await loadConfigFile(good, builtinPlugins);
    assert.equal(loaded.userPlugins.get('add')!.manifest.name, 'add-header');
    assert.ok(loaded.files.includes(plugin), 'plugin sources are watched');
    for (const host of loaded.userPlugins.values()) host.dispose();

    const bad = await write('bad-plugin.config.ts', `export default { plugins: { t: { use: 'tracingg' }, add: { use: ${JSON.stringify(path.relative(dir, plugin))}, options: { name: 7 } } }, routes: [] };\n`);
    await assert.rejects(loadConfigFile(bad, builtinPlugins), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
      assert.match(text, /plugins\.t\.use: .*cannot resolve plugin "tracingg"/);
      assert.match(text, /plugins\.add\.options\.name: /);
      assert.match(text, /plugins\.add\.options\.value: /);
      return true;
    });
  });

  it('usePlugin(() => import(...)): the path is read from the function (relative to the file that wrote it) and the plugin never runs here', async () => {
    await fs.mkdir(path.join(dir, 'parts'), { recursive: true });
    await fs.mkdir(path.join(dir, 'plugins'), { recursive: true });
    // Top-level code that would fail the load if it ever ran in the gateway process.
    await write('plugins/tag.ts', `import { definePlugin } from '@isogate/sdk';\nimport { z } from 'zod';\n(globalThis as { process?: { env: Record<string, string> } }).process?.env && ((globalThis as { process: { env: Record<string, string> } }).process.env['ISOGATE_TEST_PLUGIN_RAN_HERE'] = 'yes');\nexport default definePlugin({ name: 'tag', version: '1.0.0', options: z.object({ value: z.string() }), onRequest(req, ctx) { req.headers.set('x-tag', ctx.options.value); } });\n`);
    await write('parts/plugins.ts', `import { usePlugin } from '@isogate/sdk';\nexport const tag = usePlugin(() => import('../plugins/tag.ts'), { value: 'v' });\n`);
    const file = await write('thunk.config.ts', `import { defineConfig } from '@isogate/sdk';\nimport { tag } from './parts/plugins.ts';\nexport default defineConfig({ plugins: { tag }, middleware: ['tag'], routes: [] });\n`);
    const loaded = await loadConfigFile(file, builtinPlugins);
    try {
      assert.equal(loaded.userPlugins.get('tag')!.manifest.name, 'tag');
      assert.deepEqual(loaded.config.plugins['tag'], { ...loaded.config.plugins['tag'], kind: 'user', use: path.join(dir, 'plugins/tag.ts') });
      assert.ok(loaded.files.includes(path.join(dir, 'plugins/tag.ts')), 'the plugin is watched');
      assert.equal(process.env['ISOGATE_TEST_PLUGIN_RAN_HERE'], undefined, 'the plugin module was not evaluated in the gateway process');
    } finally {
      for (const host of loaded.userPlugins.values()) host.dispose();
    }
  });

  it('usePlugin with a function that is not `() => import(literal)` is a config error saying how to name the plugin', async () => {
    const file = await write('bad-thunk.config.ts', `import { usePlugin } from '@isogate/sdk';\nconst where = './plugins/tag.ts';\nexport default { plugins: { tag: usePlugin(() => import(where) as Promise<never>, {} as never) }, routes: [] };\n`);
    await assert.rejects(loadConfigFile(file, builtinPlugins), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.issues[0]!.message, /usePlugin: name the plugin as \(\) => import\('\.\/plugins\/x\.ts'\)/);
      return true;
    });
  });

  it('refuses an option key the plugin does not know, by its key path, at any depth; a pass-through plugin takes any', async () => {
    await fs.mkdir(path.join(dir, 'plugins'), { recursive: true });
    await write('plugins/rules.ts', `import { definePlugin } from '@isogate/sdk';\nimport { z } from 'zod';\nexport default definePlugin({ name: 'rules', version: '1.0.0', options: z.object({ header: z.string().default('x-rule'), rules: z.array(z.object({ path: z.string() })).default([]) }) });\n`);
    await write('plugins/pass.ts', `import { definePlugin } from '@isogate/sdk';\nimport { z } from 'zod';\nexport default definePlugin({ name: 'pass', version: '1.0.0', options: z.looseObject({}), allowUnknownOptions: true });\n`);
    const file = await write(
      'unknown-options.config.ts',
      `import { usePlugin } from '@isogate/sdk';\nexport default { plugins: {\n` +
        `  r: { kind: 'user', use: './plugins/rules.ts', options: { headr: 'x', rules: [{ path: '/a' }, { path: '/b', pth: '/c' }] } },\n` +
        `  p: usePlugin(() => import('./plugins/pass.ts'), { anything: { goes: 1 } } as never),\n} , routes: [] };\n`,
    );
    await assert.rejects(loadConfigFile(file, builtinPlugins), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => `${i.path}: ${i.message}`),
        [
          `plugins.r.options.headr: unknown option: the plugin's options schema does not declare it (did you mean "header"?)`,
          `plugins.r.options.rules[1].pth: unknown option: the plugin's options schema does not declare it (did you mean "path"?)`,
        ],
      );
      return true;
    });
  });

  it('requires a default export', async () => {
    const file = await write('noexport.config.ts', `export const config = { routes: [] };\n`);
    await assert.rejects(loadConfigFile(file, builtinPlugins), /export default defineConfig/);
  });

  it('sees a changed file on the next load (no module cache)', async () => {
    const file = await write('changing.config.ts', `export default { server: { port: 1 }, routes: [] };\n`);
    assert.equal((await loadConfigFile(file, builtinPlugins)).config.server.port, 1);
    await fs.writeFile(file, `export default { server: { port: 2 }, routes: [] };\n`);
    assert.equal((await loadConfigFile(file, builtinPlugins)).config.server.port, 2);
  });
});
