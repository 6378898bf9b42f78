import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SamplingDecision } from '@opentelemetry/sdk-trace';
import { tracingOptions, type TracingOptionsInput } from './options.ts';
import { TracerProviders, createSampler, reportingFailures } from './provider.ts';
import pino from 'pino';
import { providerKey, resolveSettings } from './settings.ts';

const silentLogger = () => pino({ level: 'silent' });

/** A logger whose lines the test reads. */
function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) }) };
}

const settings = (options: TracingOptionsInput = {}) => resolveSettings(tracingOptions.parse(options), {});
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('tracer providers', () => {
  it('shares one provider per settings key and shuts it down (flushing) after its last release', async () => {
    const exporter = new InMemorySpanExporter();
    const providers = new TracerProviders(silentLogger());
    const s = settings();
    const first = providers.acquire(providerKey(s), s, { exporter });
    const second = providers.acquire(providerKey(s), s, { exporter });
    assert.equal(first.tracer, second.tracer, 'a reload with the same settings keeps the provider');
    await first.release();
    await first.release(); // idempotent: must not release the second lease's reference
    second.tracer.startSpan('still open').end();
    assert.equal(exporter.getFinishedSpans().length, 1);
    await second.release();
    // Retired: spans of a stale tracer are no longer exported, and the injected exporter still works.
    second.tracer.startSpan('after').end();
    assert.equal(exporter.getFinishedSpans().length, 1);
    const third = providers.acquire(providerKey(s), s, { exporter });
    assert.notEqual(third.tracer, second.tracer);
    third.tracer.startSpan('new provider').end();
    assert.deepEqual(exporter.getFinishedSpans().map((sp) => sp.name), ['still open', 'new provider']);
    await providers.close();
  });

  it('close() flushes the batch queue of a real pipeline before resolving', async () => {
    const exported: string[] = [];
    const exporter = {
      export(spans: { name: string }[], done: (r: { code: number }) => void) {
        exported.push(...spans.map((s) => s.name));
        done({ code: 0 });
      },
      shutdown: () => Promise.resolve(),
    };
    const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
    const processor = new BatchSpanProcessor({ exporter: exporter as never, scheduledDelayMillis: 60_000 });
    const providers = new TracerProviders(silentLogger());
    const s = settings();
    const lease = providers.acquire(providerKey(s), s, { spanProcessor: processor });
    lease.tracer.startSpan('queued').end();
    assert.deepEqual(exported, [], 'still in the batch queue');
    await providers.close();
    assert.deepEqual(exported, ['queued']);
  });

  it('cuts span attribute values at attributeValueLengthLimit (1024 by default)', async () => {
    const exporter = new InMemorySpanExporter();
    const providers = new TracerProviders(silentLogger());
    for (const [options, expected] of [[{}, 1024], [{ attributeValueLengthLimit: 16 }, 16]] as const) {
      const s = settings(options);
      const lease = providers.acquire(providerKey(s), s, { exporter });
      lease.tracer.startSpan('big', { attributes: { 'user_agent.original': 'x'.repeat(50_000), 'http.request.header.x-a': ['y'.repeat(5000)] } }).end();
      const span = exporter.getFinishedSpans().at(-1)!;
      assert.equal((span.attributes['user_agent.original'] as string).length, expected);
      assert.equal((span.attributes['http.request.header.x-a'] as string[])[0]!.length, expected);
    }
    await providers.close();
  });

  it('close() gives a hung collector shutdownTimeout, then drops what it holds and logs how many spans, once', async () => {
    // The production pipeline (batch processor, OTLP/HTTP exporter) against a collector that
    // accepts connections and never answers.
    const sockets: net.Socket[] = [];
    const hole = net.createServer((socket) => sockets.push(socket.on('error', () => {})));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const { lines, logger } = recordingLogger();
    const providers = new TracerProviders(logger);
    const s = settings({ exporter: 'otlp-http', otlp: { endpoint: `http://127.0.0.1:${(hole.address() as net.AddressInfo).port}/v1/traces` }, shutdownTimeout: 200 });
    const lease = providers.acquire(providerKey(s), s, null);
    for (let i = 0; i < 3; i++) lease.tracer.startSpan(`s${i}`).end();
    let timer: NodeJS.Timeout | undefined;
    try {
      const outcome = await Promise.race([
        providers.close().then(() => 'closed'),
        // Without the deadline the close waits for OTLP's 10 s export timeout.
        new Promise((resolve) => (timer = setTimeout(resolve, 8_000, 'still waiting'))),
      ]);
      assert.equal(outcome, 'closed', 'the close does not wait for the hung collector');
      assert.ok(sockets.length > 0, 'the export reached the collector');
      const warnings = lines.filter((l) => l['level'] === 40);
      assert.equal(warnings.length, 1, JSON.stringify(lines));
      assert.equal(warnings[0]!['msg'], 'tracing: the collector did not take the last spans in time: dropped them');
      assert.equal(warnings[0]!['droppedSpans'], 3);
      assert.equal(warnings[0]!['shutdownTimeoutMs'], 200);
    } finally {
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      hole.close();
    }
    // The abandoned export fails once its socket is gone: no second line for the same spans.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(lines.length, 1, JSON.stringify(lines));
  });

  it('logs a failed last export with its message and code, not the error object and its stack', async () => {
    const { lines, logger } = recordingLogger();
    const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
    const failing = {
      export: (_: unknown[], done: (r: { code: number; error?: Error }) => void) => done({ code: 1, error: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4318'), { code: 'ECONNREFUSED' }) }),
      shutdown: () => Promise.resolve(),
    };
    const providers = new TracerProviders(logger);
    const s = settings();
    const lease = providers.acquire(providerKey(s), s, { spanProcessor: new BatchSpanProcessor({ exporter: failing as never, scheduledDelayMillis: 60_000 }) });
    lease.tracer.startSpan('queued').end();
    await providers.close();
    const line = lines.find((l) => l['msg'] === 'tracing: exporting the last spans failed');
    assert.ok(line, JSON.stringify(lines));
    assert.deepEqual(line['error'], { message: 'connect ECONNREFUSED 127.0.0.1:4318', code: 'ECONNREFUSED' });
  });

  it('builds a parent-based ratio sampler: the caller decides unless parentBased is off', () => {
    const remote = (flags: number) => trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE, spanId: '00f067aa0ba902b7', traceFlags: flags, isRemote: true });
    const decide = (sampling: { ratio: number; parentBased: boolean }, ctx = ROOT_CONTEXT) => createSampler(sampling).shouldSample(ctx, TRACE, 'x', SpanKind.SERVER, {}, []).decision;
    assert.equal(decide({ ratio: 0, parentBased: true }), SamplingDecision.NOT_RECORD);
    assert.equal(decide({ ratio: 1, parentBased: true }), SamplingDecision.RECORD_AND_SAMPLED);
    assert.equal(decide({ ratio: 0, parentBased: true }, remote(TraceFlags.SAMPLED)), SamplingDecision.RECORD_AND_SAMPLED);
    assert.equal(decide({ ratio: 1, parentBased: true }, remote(TraceFlags.NONE)), SamplingDecision.NOT_RECORD);
    assert.equal(decide({ ratio: 0, parentBased: false }, remote(TraceFlags.SAMPLED)), SamplingDecision.NOT_RECORD);
    assert.equal(decide({ ratio: 1, parentBased: false }, remote(TraceFlags.NONE)), SamplingDecision.RECORD_AND_SAMPLED);
  });

  it('samples a ratio of root traces', () => {
    const sampler = createSampler({ ratio: 0.25, parentBased: true });
    let sampled = 0;
    for (let i = 0; i < 4000; i++) {
      const traceId = (i * 2654435761 + 12345).toString(16).padStart(8, '0').repeat(4).slice(0, 32);
      if (sampler.shouldSample(ROOT_CONTEXT, traceId, 'x', SpanKind.SERVER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED) sampled++;
    }
    assert.ok(sampled > 700 && sampled < 1300, `about a quarter sampled: ${sampled}/4000`);
  });

  it('logs failed exports once, then at most once a minute with the number of spans lost', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    let ok = false;
    const inner = { export: (_: unknown[], done: (r: { code: number; error?: Error }) => void) => done(ok ? { code: 0 } : { code: 1, error: new Error('connect ECONNREFUSED') }), shutdown: () => Promise.resolve() };
    let clock = 0;
    const exporter = reportingFailures(inner as never, logger, 'http://collector:4318/v1/traces', () => clock);
    const results: number[] = [];
    const push = (n: number) => exporter.export(new Array(n).fill({}) as never, (r) => results.push(r.code));
    push(3);
    clock = 30_000;
    push(2);
    ok = true;
    push(1);
    ok = false;
    clock = 61_000;
    push(4);
    assert.deepEqual(results, [1, 1, 0, 1], 'results pass through unchanged');
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!['droppedSpans'], 3);
    assert.equal(lines[1]!['droppedSpans'], 6, 'the spans lost since the last line');
    assert.equal(lines[0]!['msg'], 'tracing: span export failed');
    assert.equal(lines[0]!['endpoint'], 'http://collector:4318/v1/traces');
  });
});
