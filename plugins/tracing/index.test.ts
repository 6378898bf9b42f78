import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { Gateway, builtinPlugins, resolveConfig, silentLogger } from '../../runtime/src/index.ts';
import type { Handler, Middleware } from '../../runtime/src/chain/types.ts';
import { definePluginRegistry, type BuiltinPlugin, type PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { createTracingPlugin, tracingPlugin } from './index.ts';

const root = path.resolve(import.meta.dirname, '../..');

describe('tracing plugin', () => {
  it('costs nothing until used: the registry loads no OpenTelemetry module, a tracing instance does', async () => {
    // A fresh process records every module it resolves, imports the registry, then builds a
    // gateway without and with a tracing instance.
    const script = `
      import { registerHooks } from 'node:module';
      const otel = new Set();
      registerHooks({ resolve(specifier, context, next) {
        const r = next(specifier, context);
        if (r.url.includes('/@opentelemetry/')) otel.add(r.url.replace(/^.*\\/@opentelemetry\\/([^/]+)\\/.*$/, '$1'));
        return r;
      } });
      const { Gateway, builtinPlugins, resolveConfig } = await import('./runtime/src/index.ts');
      const routes = [{ path: '/*', upstream: 'http://127.0.0.1:9' }];
      new Gateway(resolveConfig({ routes }, builtinPlugins)).close();
      const before = [...otel].sort();
      const g = new Gateway(resolveConfig({ plugins: { t: { use: 'tracing', options: { exporter: 'none' } } }, middleware: ['t'], routes }, builtinPlugins));
      console.log(JSON.stringify({ before, after: [...otel].sort() }));
      await g.close();
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env: { ...process.env, OTEL_SDK_DISABLED: '' } });
    const { before, after } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { before: string[]; after: string[] };
    // The API alone may be there: prom-client (the metrics built-in) requires it for exemplars.
    assert.deepEqual(
      before.filter((m) => m !== 'api'),
      [],
      'no OpenTelemetry SDK module loaded by the registry or a gateway without tracing',
    );
    assert.ok(after.includes('sdk-trace') && after.includes('api'), `the SDK loads with the first instance: ${after.join(', ')}`);
    assert.ok(!after.some((m) => m.startsWith('exporter-')), `exporter "none" loads no exporter package: ${after.join(', ')}`);
  });

  it('is a no-op middleware when OTEL_SDK_DISABLED=true', () => {
    const previous = process.env['OTEL_SDK_DISABLED'];
    process.env['OTEL_SDK_DISABLED'] = 'true';
    try {
      const ctx = { logger: silentLogger(), instanceName: 't' } as PluginFactoryContext;
      const created = tracingPlugin.create(tracingPlugin.options.parse({}), ctx) as Middleware;
      const handler: Handler = () => Promise.reject(new Error('not called'));
      assert.equal(created(handler), handler, 'the chain is left exactly as it was');
    } finally {
      if (previous === undefined) delete process.env['OTEL_SDK_DISABLED'];
      else process.env['OTEL_SDK_DISABLED'] = previous;
    }
  });

  it('keeps its provider across reloads with the same settings, retires it (flushed) when they change', async () => {
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter });
    let flushes = 0;
    const counting = Object.assign(Object.create(processor) as SimpleSpanProcessor, {
      forceFlush: () => {
        flushes++;
        return processor.forceFlush();
      },
    });
    const registry = definePluginRegistry([...builtinPlugins.values(), createTracingPlugin({ spanProcessor: counting }) as BuiltinPlugin<never>]);
    const config = (ratio: number) =>
      resolveConfig({ plugins: { t: { use: 'tracing', options: { sampling: { ratio } } } }, middleware: ['t'], routes: [{ path: '/*', upstream: 'http://127.0.0.1:9' }] }, registry);
    const gateway = new Gateway(config(1), { plugins: registry });
    await (await gateway.request('/a')).arrayBuffer();

    gateway.reload(config(1));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(flushes, 0, 'same settings: the provider stays');
    await (await gateway.request('/b')).arrayBuffer();

    gateway.reload(config(0.5));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(flushes, 1, 'new settings: the previous provider was flushed and shut down');
    await (await gateway.request('/c')).arrayBuffer();

    await gateway.close();
    assert.equal(flushes, 2, 'closing the gateway flushes the current provider');
    const paths = exporter.getFinishedSpans().filter((s) => s.name === 'GET /*').map((s) => s.attributes['url.path']);
    assert.equal(paths.length >= 2, true, 'spans were exported before and after the reloads');
    assert.deepEqual(paths.slice(0, 2), ['/a', '/b']);
  });

  it('gives each gateway its own provider and registers nothing globally', async () => {
    const gateways = [new InMemorySpanExporter(), new InMemorySpanExporter()].map((exporter, i) => {
      const registry = definePluginRegistry([...builtinPlugins.values(), createTracingPlugin({ exporter }) as BuiltinPlugin<never>]);
      const config = resolveConfig(
        { plugins: { t: { use: 'tracing', options: { serviceName: `gw${i}` } } }, middleware: ['t'], routes: [{ path: `/gw${i}/*`, upstream: 'http://127.0.0.1:9' }] },
        registry,
      );
      return { exporter, gateway: new Gateway(config, { plugins: registry }) };
    });
    await Promise.all(gateways.map(async ({ gateway }, i) => (await gateway.request(`/gw${i}/x`)).arrayBuffer()));
    for (const [i, { exporter }] of gateways.entries()) {
      const services = new Set(exporter.getFinishedSpans().map((s) => s.resource.attributes['service.name']));
      assert.deepEqual([...services], [`gw${i}`], `gateway ${i} exported only its own spans`);
    }
    // The global API still has its no-op tracer: an unrelated library's spans are not ours.
    assert.equal(trace.getTracer('other').startSpan('x').isRecording(), false);
    await Promise.all(gateways.map(({ gateway }) => gateway.close()));
  });
});
