import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { typecheckConfig } from './typecheck-config.ts';

// Inside the repository, so the config resolves @isogate/sdk and the example plugins.
const root = path.resolve(import.meta.dirname, '../../..');
let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(root, 'runtime', '.tmp-typecheck-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** examples/plugins, seen from runtime/.tmp-typecheck-… where the configs are written. */
const examples = '../../examples/plugins';

async function check(plugins: string): Promise<ReturnType<typeof typecheckConfig>> {
  const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.config.ts`);
  await fs.writeFile(file, `import { defineConfig, usePlugin } from '@isogate/sdk';\nexport default defineConfig({\n  plugins: {\n${plugins}\n  },\n  routes: [],\n});\n`);
  return typecheckConfig(file);
}

describe('isogate check: usePlugin', () => {
  it('accepts the same plugin in the type import and the source, however the relative path is spelled', async () => {
    assert.deepEqual(await check(`    a: usePlugin<typeof import('${examples}/add-header.ts')>('${examples}/./add-header.ts', { name: 'x-a', value: '1' }),`), []);
  });

  it('reports a type import and a source that name different plugins, at the source', async () => {
    const problems = await check(`    a: usePlugin<typeof import('${examples}/add-header.ts')>('${examples}/maintenance.ts', { name: 'x-a', value: '1' }),`);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]!.line, 4);
    assert.match(problems[0]!.message, /typed by plugin '.*add-header\.ts' but the plugin loaded is '.*maintenance\.ts'/);
  });
});
