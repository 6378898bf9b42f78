import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, startGateway, type RunningGateway } from '../../../runtime/src/index.ts';
import type { ReloadOutcome } from '../../../runtime/src/reload/config-watcher.ts';

// End to end through real sockets: a config file that uses TypeScript plugins, each in its own
// isolate; editing a plugin's source swaps in the new version while requests keep flowing.
const examples = path.resolve(import.meta.dirname, '../../../examples/plugins');
let dir: string;
let upstream: http.Server;
let upstreamUrl: string;
let running: RunningGateway;
const reloads: ReloadOutcome[] = [];

const pluginSource = (value: string) => `import { definePlugin } from '@isogate/sdk';
export default definePlugin({
  name: 'stamp',
  version: '1.0.0',
  onRequest(req) { req.headers.set('x-stamp', ${JSON.stringify(value)}); },
  onResponse(res) { res.headers.set('x-stamped', ${JSON.stringify(value)}); },
});
`;

before(async () => {
  upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ stamp: req.headers['x-stamp'] ?? null, tag: req.headers['x-tag'] ?? null }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-plugins-'));
  await fs.writeFile(path.join(dir, 'stamp.ts'), pluginSource('v1'));
  await fs.writeFile(
    path.join(dir, 'gateway.config.ts'),
    `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: {
    stamp: usePlugin<typeof import('./stamp.ts')>('./stamp.ts', {}),
    tag: usePlugin<typeof import(${JSON.stringify(path.join(examples, 'add-header.ts'))})>(${JSON.stringify(path.join(examples, 'add-header.ts'))}, { name: 'x-tag', value: 'tagged' }),
    closed: usePlugin<typeof import(${JSON.stringify(path.join(examples, 'maintenance.ts'))})>(${JSON.stringify(path.join(examples, 'maintenance.ts'))}, { enabled: true, bypassHeader: 'x-bypass' }),
  },
  routes: [
    { path: '/open/*', upstream: ${JSON.stringify(upstreamUrl)}, middleware: ['stamp', 'tag'] },
    { path: '/closed/*', upstream: ${JSON.stringify(upstreamUrl)}, middleware: ['closed'] },
  ],
});
`,
  );
  running = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, watch: true, logger: silentLogger(), onReload: (o) => reloads.push(o) });
});

after(async () => {
  await running?.stop();
  upstream.closeAllConnections();
  upstream.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('user plugins end to end', () => {
  it('changes what the upstream and the client see, in config order', async () => {
    const res = await fetch(`${running.url}/open/x`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { stamp: 'v1', tag: 'tagged' });
    assert.equal(res.headers.get('x-stamped'), 'v1');
  });

  it('short-circuits without reaching the upstream, unless bypassed', async () => {
    const closed = await fetch(`${running.url}/closed/x`);
    assert.equal(closed.status, 503);
    assert.equal(closed.headers.get('retry-after'), '300');
    assert.equal(((await closed.json()) as { error: { code: string } }).error.code, 'MAINTENANCE');
    const bypass = await fetch(`${running.url}/closed/x`, { headers: { 'x-bypass': '1' } });
    assert.equal(bypass.status, 200);
    await bypass.body?.cancel();
  });

  it('reloads an edited plugin under concurrent load with zero failed requests', async () => {
    let failures = 0;
    let done = 0;
    const seen = new Set<string>();
    let stop = false;
    const deadline = Date.now() + 20_000;
    const client = async () => {
      while (!stop && Date.now() < deadline && done < 5_000) {
        const res = await fetch(`${running.url}/open/x`).catch(() => null);
        done++;
        if (!res || res.status !== 200) {
          failures++;
          await res?.body?.cancel();
          continue;
        }
        seen.add(((await res.json()) as { stamp: string }).stamp);
      }
    };
    const clients = Array.from({ length: 4 }, client);
    const before = reloads.length;
    await fs.writeFile(path.join(dir, 'stamp.ts'), pluginSource('v2'));
    while (reloads.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    // A broken build keeps the last good version serving.
    await new Promise((r) => setTimeout(r, 200));
    await fs.writeFile(path.join(dir, 'stamp.ts'), `${pluginSource('v3')}\nthis is not typescript(`);
    while (reloads.length === before + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(clients);
    assert.equal(failures, 0);
    assert.ok(done > 20, `only ${done} requests`);
    assert.equal(reloads[before]!.ok, true);
    assert.equal(reloads[before + 1]!.ok, false);
    assert.ok(seen.has('v2'), `saw ${[...seen].join(',')}`);
    assert.ok(!seen.has('v3'));
    const last = await fetch(`${running.url}/open/x`);
    assert.equal(((await last.json()) as { stamp: string }).stamp, 'v2');
  });

  it('a plugin that throws at load keeps the last good version serving, and the error names its file and line', async () => {
    const before = reloads.length;
    const source = `throw new Error('boom at plugin load');\n${pluginSource('v4')}`;
    await fs.writeFile(path.join(dir, 'stamp.ts'), source);
    const deadline = Date.now() + 10_000;
    while (reloads.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const outcome = reloads[before];
    assert.ok(outcome && !outcome.ok, 'the reload is refused');
    const message = (outcome.error as Error).message;
    assert.match(message, /plugins\.\w+\.use/);
    assert.match(message, /the plugin failed to load: boom at plugin load \(at [^)]*stamp\.ts:1:7\)/);
    const res = await fetch(`${running.url}/open/x`);
    assert.equal(((await res.json()) as { stamp: string }).stamp, 'v2');
  });
});
