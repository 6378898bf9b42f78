import assert from 'node:assert/strict';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { it } from 'node:test';
import { Gateway, builtinPlugins, resolveConfig, silentLogger } from '../../../runtime/src/index.ts';
import { loadUserPlugins } from '../../../runtime/src/isolate/load-user-plugins.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const examples = path.resolve(import.meta.dirname, '../../../examples/plugins');
const configInput = {
  plugins: {
    a: { use: './add-header.ts', options: { name: 'x-a', value: '1' } },
    m: { use: './maintenance.ts', options: { enabled: false } },
  },
  routes: [{ path: '/*', upstream: 'http://127.0.0.1:9', middleware: ['a', 'm'] }],
};

async function settle(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().rss;
}

it('memory returns to its baseline after 100 plugin reloads (isolates are disposed)', { timeout: 120_000 }, async (t) => {
  const logger = silentLogger();
  const config = resolveConfig(configInput, builtinPlugins);
  const first = await loadUserPlugins(config, examples, logger);
  const gateway = new Gateway(config, { userPlugins: first.hosts, logger });
  const previous = [...first.hosts.values()];

  // Warm up (code caches, esbuild service), then measure.
  for (let i = 0; i < 10; i++) gateway.reload(config, (await loadUserPlugins(config, examples, logger)).hosts);
  await new Promise((r) => setTimeout(r, 200));
  const baseline = await settle();

  for (let i = 0; i < 100; i++) {
    const next = await loadUserPlugins(config, examples, logger);
    gateway.reload(config, next.hosts);
  }
  await new Promise((r) => setTimeout(r, 300));
  const after = await settle();
  const grownMb = (after - baseline) / 1024 / 1024;
  t.diagnostic(`RSS after 100 reloads: ${grownMb >= 0 ? '+' : ''}${grownMb.toFixed(1)} MB`);
  // ~2 isolates per reload: without disposal 200 isolates would hold well over 300 MB.
  assert.ok(grownMb < 60, `RSS grew by ${grownMb.toFixed(1)} MB over 100 reloads`);
  // The very first generation was retired and disposed.
  for (const host of previous) await assert.rejects(async () => host.call('onRequest', '{}'), /unloaded/);
  await gateway.close();
});
