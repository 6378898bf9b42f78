import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compose } from '../chain/compose.ts';
import { testRequest } from '../chain/test-request.ts';
import type { GatewayRequest, GatewayResponse, Handler } from '../chain/types.ts';
import { testPlugin } from '@isogate/sdk/testing';
import { createLogger, silentLogger } from '../logging/logger.ts';
import { bundlePlugin, PluginBuildError } from './bundle-plugin.ts';
import { createPluginMiddleware } from './plugin-middleware.ts';
import { PluginFailure, PluginHost, PluginOptionsError } from './plugin-host.ts';

const root = path.resolve(import.meta.dirname, '../../..');
const hostilePath = path.join(import.meta.dirname, 'fixtures/hostile.ts');
const addHeaderPath = path.join(root, 'examples/plugins/add-header.ts');

function request(headers: Record<string, string> = {}): GatewayRequest {
  return testRequest({ path: '/x', query: 'a=1', headers: { host: 'gw', ...headers }, clientIp: '203.0.113.7', remoteAddress: '203.0.113.7', route: { name: 'test-route' } as GatewayRequest['route'] });
}

let upstreamSaw: GatewayRequest | null = null;
const terminal: Handler = async (req) => {
  upstreamSaw = { ...req, headers: { ...req.headers } };
  return { status: 200, headers: { 'content-type': 'text/plain', server: 'upstream/1', 'x-internal': 'yes' }, body: 'ok' };
};

async function json(res: GatewayResponse): Promise<unknown> {
  return JSON.parse(String(res.body));
}

describe('plugin host (isolated-vm)', () => {
  let hostile: PluginHost;
  let handler: Handler;
  const limits = { memoryMb: 16, cpuMs: 50, wallMs: 300 };

  before(async () => {
    hostile = await PluginHost.create('hostile', await bundlePlugin(hostilePath), {}, limits, silentLogger());
    handler = compose([{ name: 'hostile', middleware: createPluginMiddleware(hostile, 'hostile', 'fail-closed', silentLogger()) }], terminal);
  });
  after(() => hostile.dispose());

  it('runs onRequest and onResponse with validated options; the upstream sees the change', async () => {
    const host = await PluginHost.create('add', await bundlePlugin(addHeaderPath), { name: 'X-Added', value: 'yes', strip: ['server', 'x-internal'] }, limits, silentLogger());
    try {
      const h = compose([{ name: 'add', middleware: createPluginMiddleware(host, 'add', 'fail-closed', silentLogger()) }], terminal);
      const res = await h(request());
      assert.equal(upstreamSaw!.headers['x-added'], 'yes');
      assert.equal(res.headers['server'], undefined);
      assert.equal(res.headers['x-internal'], undefined);
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.deepEqual(host.manifest.hooks, ['onRequest', 'onResponse']);
    } finally {
      host.dispose();
    }
  });

  it('rejects bad options with the schema path, validated inside the isolate', async () => {
    await assert.rejects(PluginHost.create('add', await bundlePlugin(addHeaderPath), { name: 42 }, limits, silentLogger()), (err: unknown) => {
      assert.ok(err instanceof PluginOptionsError);
      assert.deepEqual(err.issues.map((i) => i.path.join('.')).sort(), ['name', 'value']);
      return true;
    });
  });

  it('validates options with an asynchronous schema, in the isolate and in the SDK harness alike', async () => {
    const fixture = path.join(import.meta.dirname, 'fixtures/async-options.ts');
    const host = await PluginHost.create('async', await bundlePlugin(fixture), { tag: 'blue' }, limits, silentLogger());
    try {
      const out = JSON.parse(String(host.call('onRequest', JSON.stringify({ rq: ['GET', '/', '', {}, '::1', 'r'] }), '{}'))) as { h?: unknown };
      assert.deepEqual(out.h, [['s', 'x-tag', 'BLUE']], 'the validated (transformed) value reaches the hook');
    } finally {
      host.dispose();
    }
    await assert.rejects(PluginHost.create('async', await bundlePlugin(fixture), { tag: 1 }, limits, silentLogger()), (err: unknown) => {
      assert.ok(err instanceof PluginOptionsError);
      assert.deepEqual(err.issues, [{ message: 'tag must be a string', path: ['tag'] }]);
      return true;
    });
    for (const mode of ['sandbox', 'node'] as const) {
      const tested = await testPlugin(() => import('./fixtures/async-options.ts'), { tag: 'blue' }, { mode });
      assert.equal((await tested.request()).forwarded?.headers['x-tag'], 'BLUE', mode);
      await assert.rejects(testPlugin(() => import('./fixtures/async-options.ts'), { tag: 1 } as unknown as { tag: string }, { mode }), /tag must be a string/);
    }
  });

  it('reports a plugin that imports Node built-ins at build time, with file and line', async () => {
    const fs = await import('node:fs/promises');
    const file = path.join(import.meta.dirname, 'fixtures', '.tmp-node-import.ts');
    await fs.writeFile(file, `import { readFileSync } from 'node:fs';\nexport default { kind: 'isogate-plugin', f: readFileSync };\n`);
    try {
      await assert.rejects(bundlePlugin(file), (err: unknown) => err instanceof PluginBuildError && /\.tmp-node-import\.ts:1:/.test(err.location));
    } finally {
      await fs.rm(file, { force: true });
    }
  });

  it('a throwing hook answers a coded 500 without the plugin message', async () => {
    const res = await handler(request({ 'x-mode': 'throw' }));
    assert.equal(res.status, 500);
    assert.deepEqual(await json(res), { error: { code: 'ISOGATE_ERR_PLUGIN_FAILED', message: 'a plugin failed while handling the request' } });
  });

  for (const mode of ['loop', 'loop-after-await', 'never', 'allocate', 'fill']) {
    it(`a hook that does "${mode}" is stopped within its limit, and the plugin serves again`, async () => {
      const started = Date.now();
      const res = await handler(request({ 'x-mode': mode }));
      const took = Date.now() - started;
      assert.equal(res.status, 500);
      assert.ok(took < 5_000, `took ${took} ms`);
      const calm = await handler(request());
      assert.equal(calm.status, 200);
      assert.equal(upstreamSaw!.headers['x-hostile'], 'calm');
    });
  }

  it('a synchronous runaway is stopped by the watchdog: a timeout failure naming the CPU limit, within it plus a few ticks', async () => {
    const message = JSON.stringify({ rq: ['GET', '/x', '', {}, '203.0.113.7', 'r'] });
    await hostile.call('onRequest', message, '{}'); // loaded and watched
    const started = Date.now();
    assert.throws(
      () => hostile.call('onRequest', message, JSON.stringify({ 'x-mode': 'loop' })),
      (err: unknown) => err instanceof PluginFailure && err.kind === 'timeout' && /50 ms CPU limit/.test(err.message),
    );
    const took = Date.now() - started;
    assert.ok(took >= 50 && took < 2_000, `stopped after ${took} ms`);
  });

  // The kind is what logs and gateway_plugin_errors_total{kind} report: each must be told apart.
  // Reaching the heap limit takes V8 50-150 ms of garbage collection (measured at 16 MB), longer
  // than this suite's 50 ms CPU limit, so the out-of-memory case gets a host with a generous one.
  for (const [mode, kind] of [['throw', 'throw'], ['loop', 'timeout'], ['loop-after-await', 'timeout'], ['allocate', 'memory'], ['never', 'deadline']] as const) {
    it(`reports a hook that does "${mode}" as a "${kind}" failure`, async () => {
      const host = kind === 'memory' ? await PluginHost.create('hostile', await bundlePlugin(hostilePath), {}, { ...limits, cpuMs: 5_000 }, silentLogger()) : hostile;
      const message = JSON.stringify({ rq: ['GET', '/x', '', {}, '203.0.113.7', 'r'] });
      let failure: unknown = null;
      try {
        await host.call('onRequest', message, JSON.stringify({ 'x-mode': mode }));
      } catch (err) {
        failure = err;
      } finally {
        if (host !== hostile) host.dispose();
      }
      assert.ok(failure instanceof PluginFailure, `expected a PluginFailure, got ${String(failure)}`);
      assert.equal(failure.kind, kind, failure.message);
      assert.equal(failure.plugin, 'hostile');
    });
  }

  it('replaces an isolate it had to discard right away, before the next request arrives', async () => {
    const message = JSON.stringify({ rq: ['GET', '/x', '', {}, '203.0.113.7', 'r'] });
    await hostile.call('onRequest', message, '{}'); // loaded (earlier tests may have left it replacing)
    assert.throws(() => hostile.call('onRequest', message, JSON.stringify({ 'x-mode': 'loop' })), PluginFailure);
    assert.equal(hostile.loaded, false);
    for (let i = 0; i < 200 && !hostile.loaded; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(hostile.loaded, true, 'a fresh isolate was built without waiting for a call');
  });

  it('plugin code sees no process, require or host objects, and cannot import', async () => {
    const res = await handler(request({ 'x-mode': 'escape' }));
    assert.equal(res.status, 200);
    const seen = (await json(res)) as Record<string, string>;
    assert.deepEqual(seen['hostObjects'], [], 'no isolated-vm object or host function is reachable, through the sandbox globals either');
    assert.equal(seen['walked'], true, 'the walk went through crypto, console, URL and TextEncoder');
    assert.deepEqual(seen['globals'], ['__isogateHost', '__isogatePlugin'], 'the host callbacks were taken off the global object');
    assert.equal(seen['process'], 'undefined');
    assert.equal(seen['require'], 'undefined');
    assert.equal(seen['fetch'], 'undefined');
    assert.match(seen['ctor']!, /^(undefined|blocked: .*)$/);
    assert.equal(seen['dynamicImport'], 'refused');
  });

  it('keeps state between requests inside one isolate, and loses it when the isolate is replaced', async () => {
    await handler(request({ 'x-mode': 'count' }));
    await handler(request({ 'x-mode': 'count' }));
    assert.equal(upstreamSaw!.headers['x-count'], '2');
    await handler(request({ 'x-mode': 'loop' })); // the isolate is replaced
    await handler(request({ 'x-mode': 'count' }));
    assert.equal(upstreamSaw!.headers['x-count'], '1');
  });

  it('logs a throwing hook with the plugin source file and line (source-mapped from the bundle)', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'error', destination: { write: (line: string) => lines.push(line) } });
    const logged = compose([{ name: 'hostile', middleware: createPluginMiddleware(hostile, 'hostile', 'fail-closed', logger) }], terminal);
    const res = await logged(request({ 'x-mode': 'throw' }));
    assert.equal(res.status, 500);
    const entry = JSON.parse(lines.find((l) => l.includes('onRequest failed'))!) as { source: string; error: string };
    const throwLine = (await import('node:fs')).readFileSync(hostilePath, 'utf8').split('\n').findIndex((l) => l.includes("throw new Error('secret plugin detail')")) + 1;
    assert.match(entry.source, new RegExp(`fixtures/hostile\\.ts:${throwLine}:\\d+$`));
    assert.match(entry.error, /secret plugin detail/);
  });

  it('fail-open skips a failing hook and the request goes on', async () => {
    const open = compose([{ name: 'hostile', middleware: createPluginMiddleware(hostile, 'hostile', 'fail-open', silentLogger()) }], terminal);
    const res = await open(request({ 'x-mode': 'throw' }));
    assert.equal(res.status, 200);
  });
});
