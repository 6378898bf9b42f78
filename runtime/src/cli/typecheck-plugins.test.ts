import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { typecheckConfig } from './typecheck-config.ts';

// Inside the repository, so the config and the plugin resolve @isogate/sdk (and its sandbox types).
const root = path.resolve(import.meta.dirname, '../../..');
let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(root, 'runtime', '.tmp-typecheck-plugins-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const plugin = `import { definePlugin } from '@isogate/sdk';
export default definePlugin({
  name: 'env-probe',
  version: '1.0.0',
  async onRequest(req) {
    const target = new URL(req.path, 'https://gw.example');
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('k'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    console.log(target.href, btoa('x'), crypto.randomUUID(), key.type, structuredClone({ a: 1 }));
    const secret = process.env['SECRET'];
    setTimeout(() => {}, 10);
    await fetch('https://example.com');
    return { status: 200, body: { secret } };
  },
});
`;

describe('isogate check: local plugins in the sandbox environment', () => {
  it("reports Node's globals in a plugin (process, setTimeout, fetch) at the plugin's lines, accepts the sandbox's, and leaves the config its Node types", async () => {
    await fs.writeFile(path.join(dir, 'env-probe.ts'), plugin);
    const config = path.join(dir, 'gateway.config.ts');
    await fs.writeFile(
      config,
      `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  server: { port: Number(process.env['PORT'] ?? 8080) },
  plugins: { probe: usePlugin<typeof import('./env-probe.ts')>('./env-probe.ts', {}) },
  routes: [],
});
`,
    );
    const problems = typecheckConfig(config);
    assert.deepEqual(
      problems.map((p) => [path.basename(p.file), p.line, p.message.split('.')[0]]),
      [
        ['env-probe.ts', 9, "Cannot find name 'process'"],
        ['env-probe.ts', 10, "Cannot find name 'setTimeout'"],
        ['env-probe.ts', 11, "Cannot find name 'fetch'"],
      ],
    );
  });

  it('reports nothing for a plugin that only uses what the sandbox has', async () => {
    await fs.writeFile(path.join(dir, 'clean.ts'), plugin.split('\n').filter((l) => !/process|setTimeout|fetch\(|secret/.test(l)).join('\n'));
    const config = path.join(dir, 'clean.config.ts');
    await fs.writeFile(config, `import { defineConfig, usePlugin } from '@isogate/sdk';\nexport default defineConfig({ plugins: { c: usePlugin<typeof import('./clean.ts')>('./clean.ts', {}) }, routes: [] });\n`);
    assert.deepEqual(typecheckConfig(config), []);
  });

  it('finds a plugin named as usePlugin(() => import(path), ...)', async () => {
    const config = path.join(dir, 'import.config.ts');
    await fs.writeFile(config, `import { defineConfig, usePlugin } from '@isogate/sdk';\nexport default defineConfig({ plugins: { probe: usePlugin(() => import('./env-probe.ts'), {}) }, routes: [] });\n`);
    assert.deepEqual(
      typecheckConfig(config).map((p) => [path.basename(p.file), p.line]),
      [['env-probe.ts', 9], ['env-probe.ts', 10], ['env-probe.ts', 11]],
    );
  });
});
