import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, startGateway, type RunningGateway } from '../../../runtime/src/index.ts';
import type { ReloadOutcome } from '../../../runtime/src/reload/config-watcher.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// Editing one plugin reloads that plugin only: the others keep their isolate, and with it the
// state their module keeps between requests. Changing an instance's options rebuilds it too.
const counter = (name: string, mark: string) => `import { definePlugin } from '@isogate/sdk';
let count = 0;
export default definePlugin({
  name: ${JSON.stringify(name)},
  version: '1.0.0',
  // Reads \`tag\` without declaring a schema: it says so, or the gateway refuses the option.
  allowUnknownOptions: true,
  onRequest(req, ctx) { count++; req.headers.set('x-${name}', \`\${${JSON.stringify(mark)}}:\${count}:\${String((ctx.options as { tag?: string }).tag ?? '')}\`); },
});
`;

const configSource = (tagA: string) => `export default {
  plugins: { a: { use: './a.ts', options: { tag: ${JSON.stringify(tagA)} } }, b: { use: './b.ts' } },
  routes: [{ path: '/*', upstream: process.env.PLUGIN_RELOAD_UPSTREAM, middleware: ['a', 'b'] }],
};
`;

let dir: string;
let upstream: Upstream;
let running: RunningGateway;
const reloads: ReloadOutcome[] = [];

before(async () => {
  upstream = await startUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ a: req.headers['x-a'] ?? null, b: req.headers['x-b'] ?? null }));
  });
  process.env['PLUGIN_RELOAD_UPSTREAM'] = upstream.url;
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-plugin-reload-'));
  await fs.writeFile(path.join(dir, 'a.ts'), counter('a', 'a1'));
  await fs.writeFile(path.join(dir, 'b.ts'), counter('b', 'b1'));
  await fs.writeFile(path.join(dir, 'gateway.config.ts'), configSource('t1'));
  running = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, watch: true, logger: silentLogger(), onReload: (o) => reloads.push(o) });
});

after(async () => {
  await running?.stop();
  await upstream?.close();
  delete process.env['PLUGIN_RELOAD_UPSTREAM'];
  await fs.rm(dir, { recursive: true, force: true });
});

async function get(): Promise<{ a: string; b: string }> {
  const res = await fetch(`${running.url}/x`);
  assert.equal(res.status, 200);
  return (await res.json()) as { a: string; b: string };
}

async function edit(file: string, source: string): Promise<void> {
  const before = reloads.length;
  await fs.writeFile(path.join(dir, file), source);
  const deadline = Date.now() + 10_000;
  while (reloads.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(reloads.at(-1)?.ok, true, 'the reload succeeded');
}

describe('per-plugin hot reload', () => {
  it('keeps the isolates (and module state) of the plugins that did not change', async () => {
    assert.deepEqual(await get(), { a: 'a1:1:t1', b: 'b1:1:' });
    assert.deepEqual(await get(), { a: 'a1:2:t1', b: 'b1:2:' });
    const hostA = running.gateway.table.userPlugins.get('a');

    await edit('b.ts', counter('b', 'b2'));
    // b is new (its count starts again); a kept its isolate and counts on.
    assert.deepEqual(await get(), { a: 'a1:3:t1', b: 'b2:1:' });
    assert.equal(running.gateway.table.userPlugins.get('a'), hostA);

    await edit('gateway.config.ts', configSource('t2'));
    // a's options changed: a new isolate with the new options; b is unchanged this time.
    assert.deepEqual(await get(), { a: 'a1:1:t2', b: 'b2:2:' });
    assert.notEqual(running.gateway.table.userPlugins.get('a'), hostA);
  });

  it('disposes a replaced plugin once the requests on the old routing table are done, and never a kept one', async () => {
    const hostB = running.gateway.table.userPlugins.get('b')!;
    const hostA = running.gateway.table.userPlugins.get('a')!;
    await edit('a.ts', counter('a', 'a3'));
    assert.deepEqual(await get(), { a: 'a3:1:t2', b: 'b2:3:' });
    await new Promise((r) => setTimeout(r, 50)); // the old table retires once idle
    // The kept host still answers; the replaced one was disposed and refuses to run.
    assert.equal(running.gateway.table.userPlugins.get('b'), hostB);
    assert.throws(() => hostA.retain(), /already disposed/);
    assert.doesNotThrow(() => hostB.retain().dispose());
  });
});
