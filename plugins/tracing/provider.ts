import { createRequire } from 'node:module';
import os from 'node:os';
import { createContextKey, type Context, type Tracer } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import type { Closable } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { TracingSettings } from './settings.ts';

const require = createRequire(import.meta.url);

/** What a test (or an embedder) hands `createTracingPlugin` instead of the configured exporter. */
export interface InjectedPipeline {
  /** Spans go to this exporter through a SimpleSpanProcessor (exported as each span ends). */
  exporter?: SpanExporter;
  /** Or through this processor, as is. Wins over `exporter`. */
  spanProcessor?: SpanProcessor;
}

export const TRACER_NAME = '@isogate/tracing';

function rootSampler(ratio: number): Sampler {
  if (ratio >= 1) return new AlwaysOnSampler();
  if (ratio <= 0) return new AlwaysOffSampler();
  return new TraceIdRatioBasedSampler(ratio);
}

/**
 * How the ratio decides for a continued context whose sampled flag is not honoured, set by the
 * middleware on the SERVER span's parent context (absent: the sampler's own parent-based rule).
 * - `trace-id`: on the trace id, like a trace that starts here (the id came from a trusted proxy).
 * - `chance`: a random draw. The trace id is the client's choice, and the trace-id decision is a
 *   public function of it (an id of all zeros is sampled at any ratio above 0), so deciding on it
 *   would hand the client the decision again.
 */
export type ParentDecision = 'trace-id' | 'chance';
export const PARENT_DECISION = createContextKey('isogate.tracing.parent-decision');

const RECORD = { decision: SamplingDecision.RECORD_AND_SAMPLED } as const;
const DROP = { decision: SamplingDecision.NOT_RECORD } as const;

export function createSampler(sampling: Pick<TracingSettings['sampling'], 'ratio' | 'parentBased'>): Sampler {
  const { ratio } = sampling;
  const root = rootSampler(ratio);
  // ParentBased: a continued context's sampled flag decides; only traces that start here use the
  // ratio. Local parents (our own server span) always decide for the hook and upstream spans.
  const parentBased = sampling.parentBased
    ? new ParentBasedSampler({ root })
    : new ParentBasedSampler({ root, remoteParentSampled: root, remoteParentNotSampled: root });
  return {
    shouldSample(context: Context, traceId, name, kind, attributes, links) {
      switch (context.getValue(PARENT_DECISION) as ParentDecision | undefined) {
        case undefined:
          return parentBased.shouldSample(context, traceId, name, kind, attributes, links);
        case 'trace-id':
          return root.shouldSample(context, traceId, name, kind, attributes, links);
        case 'chance':
          return Math.random() < ratio ? RECORD : DROP;
      }
    },
    toString: () => `IsogateSampler{${parentBased.toString()}}`,
  };
}

function loadExporter(settings: TracingSettings): SpanExporter | null {
  type ExporterModule = typeof import('./exporters/otlp-http-protobuf.ts');
  switch (settings.exporter) {
    case 'otlp-http':
      return settings.otlp.encoding === 'json'
        ? (require('./exporters/otlp-http-json.ts') as ExporterModule).createExporter(settings.otlp)
        : (require('./exporters/otlp-http-protobuf.ts') as ExporterModule).createExporter(settings.otlp);
    case 'otlp-grpc':
      return (require('./exporters/otlp-grpc.ts') as ExporterModule).createExporter(settings.otlp);
    case 'console':
      return new ConsoleSpanExporter();
    case 'none':
      return null;
  }
}

/**
 * An injected exporter belongs to whoever injected it: a provider retired by a reload flushes it
 * but must not shut it down, or the next provider would export into a stopped exporter.
 */
function borrowed(exporter: SpanExporter): SpanExporter {
  return {
    export: (spans, done) => exporter.export(spans, done),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    shutdown: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

function borrowedProcessor(processor: SpanProcessor): SpanProcessor {
  return {
    onStart: (span, parent) => processor.onStart(span, parent),
    onEnd: (span) => processor.onEnd(span),
    forceFlush: () => processor.forceFlush(),
    shutdown: () => processor.forceFlush(),
  };
}

/**
 * Counts the spans handed to the exporter whose export has not finished. At close, the batch
 * processor hands its whole queue to the exporter at once, so when the shutdown deadline passes
 * this is exactly what is lost. `abandon()` silences the late callbacks (the process is exiting).
 */
export class PendingExports {
  #spans = 0;
  #abandoned = false;

  get abandoned(): boolean {
    return this.#abandoned;
  }

  wrap(exporter: SpanExporter): SpanExporter {
    return {
      export: (spans, done) => {
        const count = spans.length;
        this.#spans += count;
        exporter.export(spans, (result) => {
          this.#spans -= count;
          if (!this.#abandoned) done(result);
        });
      },
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
      shutdown: () => exporter.shutdown(),
    };
  }

  /** Stop waiting: returns how many spans are still unexported. */
  abandon(): number {
    this.#abandoned = true;
    return this.#spans;
  }
}

/** The part of an error fit for a log line: no stack, no request objects. */
function errorSummary(err: unknown): { message: string; code?: unknown } {
  if (err instanceof Error) return { message: err.message, code: (err as NodeJS.ErrnoException).code };
  // The SDK rejects a forceFlush with an array of errors.
  if (Array.isArray(err) && err.length > 0) return errorSummary(err[0]);
  return { message: String(err) };
}

const FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * Report failed exports in the gateway's log — OpenTelemetry only tells its global `diag` logger,
 * which we leave alone (it is process-wide). The first failure is logged at once, later ones at
 * most once a minute with a count, so a collector outage cannot flood the log.
 */
export function reportingFailures(exporter: SpanExporter, logger: Logger, endpoint: string, now: () => number = Date.now): SpanExporter {
  let lastLog = -Infinity;
  let failedSpans = 0;
  return {
    export(spans, done) {
      exporter.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS) {
          failedSpans += spans.length;
          if (now() - lastLog >= FAILURE_LOG_INTERVAL_MS) {
            lastLog = now();
            const err = result.error;
            // Not under `err`: pino's serializer would add the type and the stack back.
            logger.warn({ endpoint, droppedSpans: failedSpans, error: err ? errorSummary(err) : undefined }, 'tracing: span export failed');
            failedSpans = 0;
          }
        }
        done(result);
      });
    },
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    shutdown: () => exporter.shutdown(),
  };
}

function spanProcessors(settings: TracingSettings, injected: InjectedPipeline | null, logger: Logger, pending: PendingExports): SpanProcessor[] {
  if (injected?.spanProcessor) return [borrowedProcessor(injected.spanProcessor)];
  if (injected?.exporter) return [new SimpleSpanProcessor({ exporter: pending.wrap(borrowed(injected.exporter)) })];
  const loaded = loadExporter(settings);
  if (loaded === null) return [];
  // Counting inside the failure report: an export abandoned at close is not reported again as failed.
  const exporter = settings.exporter === 'console' ? loaded : reportingFailures(pending.wrap(loaded), logger, settings.otlp.endpoint);
  // The console exporter is a debugging aid: print each span as it ends.
  if (settings.exporter === 'console') return [new SimpleSpanProcessor({ exporter })];
  const { batch } = settings;
  return [
    new BatchSpanProcessor({
      exporter,
      maxQueueSize: batch.maxQueueSize,
      maxExportBatchSize: batch.maxExportBatchSize,
      scheduledDelayMillis: batch.scheduledDelayMs,
      exportTimeoutMillis: batch.exportTimeoutMs,
    }),
  ];
}

function createProvider(settings: TracingSettings, injected: InjectedPipeline | null, logger: Logger, pending: PendingExports): TracerProvider {
  const resource = resourceFromAttributes({
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.name': 'opentelemetry',
    'host.name': os.hostname(),
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    ...settings.resource,
  });
  return new TracerProvider({
    resource,
    sampler: createSampler(settings.sampling),
    // The SDK's default is no limit: a span could carry a user agent or a captured header of any
    // size, times maxQueueSize spans waiting while the collector is down.
    spanLimits: { attributeValueLengthLimit: settings.attributeValueLengthLimit },
    spanProcessors: spanProcessors(settings, injected, logger, pending),
  });
}

interface Entry {
  readonly provider: TracerProvider;
  readonly tracer: Tracer;
  readonly pending: PendingExports;
  /** The latest config's `shutdownTimeout` (a reload that changes only it keeps the provider). */
  shutdownTimeoutMs: number;
  refs: number;
}

/** A tracer lent to one plugin instance; `release` when the routing table that made it retires. */
export interface TracerLease {
  readonly tracer: Tracer;
  release(): Promise<void>;
}

/**
 * The gateway's tracer providers, kept across config reloads (it lives in `ctx.shared`).
 *
 * A provider owns a batch queue and an exporter connection, so a reload that keeps the tracing
 * settings must keep the same provider (no lost queue, no reconnect), and one that changes them
 * must retire the old provider once no routing table uses it — flushing what it still holds.
 * Hence reference counts per settings key: a reload acquires the new table's provider before the
 * old table releases its own.
 *
 * Nothing is registered globally (no `trace.setGlobalTracerProvider`): several gateways in one
 * process, or an application embedding one, keep their own providers.
 */
export class TracerProviders implements Closable {
  readonly #entries = new Map<string, Entry>();
  readonly #closing = new Set<Promise<void>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  acquire(key: string, settings: TracingSettings, injected: InjectedPipeline | null): TracerLease {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const pending = new PendingExports();
      const provider = createProvider(settings, injected, this.#logger, pending);
      entry = { provider, tracer: provider.getTracer(TRACER_NAME), pending, shutdownTimeoutMs: settings.shutdownTimeoutMs, refs: 0 };
      this.#entries.set(key, entry);
      for (const warning of settings.warnings) this.#logger.warn(warning);
      this.#logger.info(
        injected
          ? { exporter: 'injected', sampling: settings.sampling }
          : { exporter: settings.exporter, endpoint: settings.exporter.startsWith('otlp') ? settings.otlp.endpoint : undefined, service: settings.serviceName, sampling: settings.sampling },
        'tracing pipeline started',
      );
    }
    entry.shutdownTimeoutMs = settings.shutdownTimeoutMs;
    entry.refs++;
    const current = entry;
    let released = false;
    return {
      tracer: entry.tracer,
      release: () => {
        if (released) return Promise.resolve();
        released = true;
        if (--current.refs > 0 || this.#entries.get(key) !== current) return Promise.resolve();
        this.#entries.delete(key);
        return this.#shutdown(current);
      },
    };
  }

  /**
   * Flush and stop a provider, waiting at most `shutdownTimeout`: a hung collector would otherwise
   * hold every graceful shutdown for the export timeout (OTLP's 10 s, the batch's 30 s). What is
   * still unexported then is dropped, with one log line saying how many spans.
   */
  #shutdown(entry: Entry): Promise<void> {
    const { provider, pending, shutdownTimeoutMs } = entry;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), shutdownTimeoutMs);
    });
    // shutdown() hands the whole batch queue to the exporter at once, then waits for the exports.
    const flushed = provider.shutdown().then(
      () => true as const,
      (err: unknown) => {
        if (!pending.abandoned) this.#logger.warn({ error: errorSummary(err) }, 'tracing: exporting the last spans failed');
        return true as const;
      },
    );
    const done = Promise.race([flushed, deadline])
      .then((finished) => {
        clearTimeout(timer);
        if (finished) return;
        const droppedSpans = pending.abandon();
        this.#logger.warn({ droppedSpans, shutdownTimeoutMs }, 'tracing: the collector did not take the last spans in time: dropped them');
      })
      .finally(() => this.#closing.delete(done));
    this.#closing.add(done);
    return done;
  }

  /** Gateway close: flush and stop every provider still open, and wait for those already stopping. */
  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all([...entries.map((e) => this.#shutdown(e)), ...this.#closing]);
  }
}
