import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../../../runtime/src/index.ts';
import { captureLogger, type Line } from '../../../plugins/logging/test-support.ts';
import { httpRequest } from '../../helpers/http-client.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

// Over real sockets: after a plugin fails and its isolate is discarded, the next request is served
// by an isolate that was ready before the failure (it does not wait for a replacement), and the
// failure's log line names the request (the id the client got back) and its route.
const probe = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/isolate-probe.ts');

let dir: string;
let upstream: Upstream;
let running: RunningGateway;
let lines: Line[];

before(async () => {
  upstream = await startUpstream((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('up');
  });
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-plugin-failure-'));
  await fs.writeFile(
    path.join(dir, 'gateway.config.ts'),
    `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: {
    log: { use: 'logging' },
    probe: usePlugin<typeof import(${JSON.stringify(probe)})>(${JSON.stringify(probe)}, {}, { limits: { cpuMs: 50 } }),
  },
  middleware: ['log'],
  routes: [{ name: 'probed', path: '/p/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['probe'] }],
});
`,
  );
  const captured = captureLogger();
  lines = captured.lines;
  running = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, host: '127.0.0.1', logger: captured.logger });
});

after(async () => {
  await running?.stop();
  await upstream?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const get = (headers: Record<string, string> = {}) => httpRequest(`${running.url}/p/x`, { headers });

describe('a failing plugin', () => {
  it('the request after a failure is served by an isolate that was ready before the failure', { timeout: 60_000 }, async () => {
    const host = running.gateway.table.userPlugins.get('probe')!;
    for (let round = 1; round <= 3; round++) {
      const before = await get();
      assert.equal(before.status, 200);
      const failedIsolate = before.headers['x-isolate'];
      // The gateway keeps a spare once the plugin serves; wait until it has one (a gateway
      // without spares has nothing to wait for here, and fails below).
      await waitFor(() => host.spareReady !== false, `round ${round}: a spare isolate`, 20_000);

      const failedAt = Date.now();
      const failure = await get({ 'x-mode': 'loop' });
      assert.equal(failure.status, 500);

      const after = await get();
      assert.equal(after.status, 200);
      assert.notEqual(after.headers['x-isolate'], failedIsolate, `round ${round}: the failed isolate was replaced`);
      const born = Number(after.headers['x-isolate-born']);
      assert.ok(born < failedAt, `round ${round}: the isolate that answered was born ${born - failedAt} ms after the failure started: the request waited for a replacement`);
      assert.equal(after.headers['x-isolate-calls'], '1', 'a fresh isolate: its module state starts again');
    }
  });

  it('logs the failure with the request id the client got back and the route', async () => {
    const failure = await get({ 'x-mode': 'loop' });
    assert.equal(failure.status, 500);
    const id = failure.headers['x-request-id'];
    assert.ok(typeof id === 'string' && id.length > 0, 'the logging built-in answered with a request id');
    await waitFor(() => lines.some((l) => l['msg'] === 'plugin onRequest failed (fail-closed)' && l['requestId'] === id), 'the failure line with the request id', 5_000);
    const line = lines.find((l) => l['msg'] === 'plugin onRequest failed (fail-closed)' && l['requestId'] === id)!;
    assert.equal(line['route'], '/p/*');
    assert.equal(line['routeName'], 'probed');
    assert.equal(line['plugin'], 'isolate-probe');
    assert.equal(line['kind'], 'timeout');
    // The access line of the same request carries the same id: the two are found from each other.
    const access = lines.find((l) => l['requestId'] === id && l['status'] === 500 && l !== line);
    assert.ok(access, 'the access line for the same id');
  });
});
