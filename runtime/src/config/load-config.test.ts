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
