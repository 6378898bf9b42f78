import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';

/**
 * Metrics across `isogate start --workers N`.
 *
 * Each worker keeps its own registry; the worker that receives a scrape asks the primary, the
 * primary asks every worker that has metrics for its registry as JSON, sums them with
 * prom-client's `AggregatorRegistry.aggregate` (counters and histograms add up, the in-flight
 * gauge adds up, process metrics follow prom-client's per-metric rules) and sends the text back.
 * Totals stay monotonic when workers die or hang (see `serveClusterMetrics`).
 *
 * Why not prom-client's `AggregatorRegistry#clusterMetrics()`: it asks every connected worker,
 * including one still starting (or one without metrics) that never answers, then fails every
 * scrape after a fixed 5 s; it answers from prom-client's global registry unless each worker calls
 * `setRegistries`; and it keeps failed requests in a map forever. Here only workers that announced
 * a registry are asked, a worker that exits or hangs does not fail the scrape, the deadline is
 * the plugin's `clusterTimeout`, and nothing outlives its collection.
 */

const PREFIX = 'isogate:metrics:';
const READY = `${PREFIX}ready`;
const GONE = `${PREFIX}gone`;
const COLLECT = `${PREFIX}collect`;
const RESULT = `${PREFIX}result`;
const SNAPSHOT_REQUEST = `${PREFIX}snapshot-request`;
const SNAPSHOT = `${PREFIX}snapshot`;

type Message =
  | { type: typeof READY }
  | { type: typeof GONE }
  | { type: typeof COLLECT; id: number; timeoutMs: number }
  | { type: typeof RESULT; id: number; text?: string; error?: string }
  | { type: typeof SNAPSHOT_REQUEST; id: number }
  | { type: typeof SNAPSHOT; id: number; metrics?: unknown[]; error?: string };

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' && (value as { type: string }).type.startsWith(PREFIX);
}

// ---------------------------------------------------------------------------------------------
// Worker side

/** The worker's end of the IPC channel (`process` in a cluster worker; a fake in tests). */
export interface WorkerChannel {
  send(message: Message): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export interface ClusterLink {
  /** The whole cluster's exposition text, or a rejection within `timeoutMs`. */
  scrape(timeoutMs: number): Promise<string>;
  close(): void;
}

/** In a cluster worker: answer the primary's snapshot requests from `registry`. Null elsewhere. */
export function joinCluster(registry: Registry, logger: Logger, channel?: WorkerChannel): ClusterLink | null {
  if (channel === undefined) {
    if (!cluster.isWorker || typeof process.send !== 'function') return null;
    channel = process as unknown as WorkerChannel;
  }
  const ch = channel;
  const waiting = new Map<number, (m: Extract<Message, { type: typeof RESULT }>) => void>();
  let nextId = 0;

  const send = (message: Message): boolean => {
    try {
      ch.send(message);
      return true;
    } catch (err) {
      // The primary is gone (the channel closed): this worker is on its way out anyway.
      logger.debug({ err: { message: (err as Error).message } }, 'metrics IPC send failed');
      return false;
    }
  };

  const onMessage = (message: unknown): void => {
    if (!isMessage(message)) return;
    if (message.type === SNAPSHOT_REQUEST) {
      const id = message.id;
      registry.getMetricsAsJSON().then(
        (metrics) => send({ type: SNAPSHOT, id, metrics }),
        (err: unknown) => send({ type: SNAPSHOT, id, error: (err as Error).message }),
      );
    } else if (message.type === RESULT) {
      waiting.get(message.id)?.(message);
    }
  };
  ch.on('message', onMessage);
  send({ type: READY });

  return {
    scrape(timeoutMs) {
      const id = nextId++;
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`the cluster primary did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, (m) => {
          clearTimeout(timer);
          waiting.delete(id);
          if (m.error !== undefined || m.text === undefined) reject(new Error(m.error ?? 'empty answer from the cluster primary'));
          else resolve(m.text);
        });
        if (!send({ type: COLLECT, id, timeoutMs })) {
          clearTimeout(timer);
          waiting.delete(id);
          reject(new Error('the cluster primary is unreachable'));
        }
      });
    },
    close() {
      ch.off('message', onMessage);
      send({ type: GONE });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Primary side

/** What the primary needs of a worker (node:cluster's Worker; a fake in tests). */
export interface ClusterWorker {
  readonly id: number;
  send(message: Message): unknown;
  isConnected(): boolean;
}

/** What the primary needs of node:cluster (the module itself; a fake in tests). */
export interface ClusterPrimary {
  on(event: 'message', listener: (worker: ClusterWorker, message: unknown) => void): unknown;
  on(event: 'exit', listener: (worker: ClusterWorker) => void): unknown;
  off(event: 'message', listener: (worker: ClusterWorker, message: unknown) => void): unknown;
  off(event: 'exit', listener: (worker: ClusterWorker) => void): unknown;
}

/** One metric of `Registry#getMetricsAsJSON()`, as it crosses IPC. */
interface MetricSnapshot {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

/** Set by the primary, not summed from the workers. */
const WORKERS_GAUGE = 'gateway_metrics_workers';
const MISSING_GAUGE = 'gateway_metrics_workers_missing';

/** How often the primary logs workers that miss scrapes (a hung worker misses every one). */
const MISSING_LOG_INTERVAL_MS = 60_000;

/**
 * Counters and histograms that the cluster sums: the metrics whose gateway total must never go
 * down. Gauges (in flight, memory, event-loop lag) describe the present of a live process, so a
 * gone or silent worker's gauges are left out rather than frozen.
 */
function isMonotonic(metric: MetricSnapshot): boolean {
  return (metric.type === 'counter' || metric.type === 'histogram') && (metric.aggregator === undefined || metric.aggregator === 'sum');
}

function isSnapshot(value: unknown): value is MetricSnapshot[] {
  return (
    Array.isArray(value) &&
    value.every((m) => typeof m === 'object' && m !== null && typeof (m as MetricSnapshot).name === 'string' && Array.isArray((m as MetricSnapshot).values))
  );
}

type MetricSample = MetricSnapshot['values'][number];

function sampleKey(sample: MetricSample): string {
  const labels = Object.keys(sample.labels)
    .sort()
    .map((k) => [k, String(sample.labels[k])]);
  return JSON.stringify([sample.metricName ?? '', labels]);
}

/**
 * The retired sum: per metric name, its samples added up by sample name (`_bucket`, `_sum`, …)
 * and label set, as `AggregatorRegistry.aggregate` sums them.
 */
class RetiredSum {
  readonly #metrics = new Map<string, { metric: MetricSnapshot; samples: Map<string, MetricSample> }>();

  add(snapshot: readonly MetricSnapshot[]): void {
    for (const metric of snapshot) {
      let entry = this.#metrics.get(metric.name);
      if (entry === undefined) {
        entry = { metric: { name: metric.name, help: metric.help, type: metric.type, aggregator: 'sum', values: [] }, samples: new Map() };
        this.#metrics.set(metric.name, entry);
      }
      for (const sample of metric.values) {
        const key = sampleKey(sample);
        const existing = entry.samples.get(key);
        if (existing !== undefined) existing.value += sample.value;
        else {
          const copy: MetricSample = { labels: { ...sample.labels }, value: sample.value };
          if (sample.metricName !== undefined) copy.metricName = sample.metricName;
          entry.samples.set(key, copy);
          entry.metric.values.push(copy);
        }
      }
    }
  }

  snapshot(): MetricSnapshot[] {
    return [...this.#metrics.values()].map((e) => e.metric);
  }
}

interface Collection {
  /** Workers asked and still alive. */
  readonly asked: Set<number>;
  /** Their answers: full snapshots, or null for a worker that could not collect. */
  readonly answers: Map<number, MetricSnapshot[] | null>;
  finish(error?: string): void;
}

/**
 * In the cluster primary: serve workers' scrape requests with the aggregate of every worker that
 * has metrics. Returns the function that stops serving.
 *
 * Gateway totals never go down while the primary lives: each worker's last answered counters and
 * histograms are kept, a worker that exits (or closes its registry) has them folded into a
 * "retired" sum that every later scrape adds, and a worker that does not answer in time is
 * counted with its last answer. Prometheus would read any drop as a counter reset and count the
 * whole remaining total again as new traffic.
 */
export function serveClusterMetrics(logger: Logger, primary: ClusterPrimary = cluster as unknown as ClusterPrimary): () => void {
  const ready = new Map<number, ClusterWorker>();
  /** Each live worker's last answered counters and histograms. */
  const last = new Map<number, MetricSnapshot[]>();
  /** The counters and histograms of workers that are gone, as of their last answer. */
  const retired = new RetiredSum();
  const collections = new Map<number, Collection>();
  let nextId = 0;
  let lastMissingLog = -Infinity;
  let unloggedMisses = 0;

  const trySend = (worker: ClusterWorker, message: Message): boolean => {
    try {
      if (!worker.isConnected()) return false;
      worker.send(message);
      return true;
    } catch {
      return false;
    }
  };

  const logMissing = (missing: readonly number[], deadline: number): void => {
    const now = performance.now();
    if (now - lastMissingLog < MISSING_LOG_INTERVAL_MS) {
      unloggedMisses++;
      return;
    }
    lastMissingLog = now;
    logger.warn(
      { workers: missing, deadlineMs: deadline, scrapesWithMissingWorkersNotLogged: unloggedMisses },
      'metrics: worker(s) did not answer a scrape in time (or could not collect); it counts their last answer, without their gauges',
    );
    unloggedMisses = 0;
  };

  const render = (collection: Collection): Promise<string> => {
    const parts: MetricSnapshot[][] = [];
    const missing: number[] = [];
    for (const id of collection.asked) {
      const answer = collection.answers.get(id);
      if (answer) parts.push(answer.filter((m) => m.name !== WORKERS_GAUGE && m.name !== MISSING_GAUGE));
      else {
        missing.push(id);
        const previous = last.get(id);
        if (previous !== undefined) parts.push(previous);
      }
    }
    parts.push(retired.snapshot());
    const gauge = (name: string, help: string, value: number): MetricSnapshot => ({ name, help, type: 'gauge', aggregator: 'sum', values: [{ labels: {}, value }] });
    parts.push([
      gauge(WORKERS_GAUGE, 'Live gateway processes in this scrape (those that answered it and those that did not)', collection.asked.size),
      gauge(MISSING_GAUGE, 'Live gateway processes that did not answer this scrape in time (counted with their last answer, without their gauges)', missing.length),
    ]);
    return AggregatorRegistry.aggregate(parts as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  };

  const collect = (requester: ClusterWorker, requestId: number, timeoutMs: number): void => {
    const id = nextId++;
    // Answer the requester a little before its own deadline, so that it gets the partial sum rather than a timeout.
    const deadline = Math.max(1, Math.floor(timeoutMs * 0.8));
    const collection: Collection = {
      asked: new Set(),
      answers: new Map(),
      finish(error) {
        if (!collections.delete(id)) return;
        clearTimeout(timer);
        if (error !== undefined) {
          trySend(requester, { type: RESULT, id: requestId, error });
          return;
        }
        const missing = [...collection.asked].filter((w) => !collection.answers.get(w));
        if (missing.length > 0) logMissing(missing, deadline);
        let text: Promise<string>;
        try {
          text = render(collection);
        } catch (err) {
          text = Promise.reject(err as Error);
        }
        text.then(
          (t) => trySend(requester, { type: RESULT, id: requestId, text: t }),
          (err: unknown) => trySend(requester, { type: RESULT, id: requestId, error: `aggregating worker metrics failed: ${(err as Error).message}` }),
        );
      },
    };
    collections.set(id, collection);
    const timer = setTimeout(() => collection.finish(), deadline);
    for (const worker of ready.values()) if (trySend(worker, { type: SNAPSHOT_REQUEST, id })) collection.asked.add(worker.id);
    if (collection.asked.size === 0) collection.finish();
  };

  const settle = (collection: Collection): void => {
    if (collection.answers.size === collection.asked.size) collection.finish();
  };

  /** A worker's counts leave with it: keep its last answer in the retired sum. */
  const retire = (workerId: number): void => {
    ready.delete(workerId);
    const previous = last.get(workerId);
    if (previous !== undefined) {
      retired.add(previous);
      last.delete(workerId);
    }
    for (const collection of [...collections.values()]) {
      // An answer it already gave this collection is now in `retired` (it is its last one): not twice.
      if (collection.asked.delete(workerId)) {
        collection.answers.delete(workerId);
        settle(collection);
      }
    }
  };

  const onMessage = (worker: ClusterWorker, message: unknown): void => {
    if (!isMessage(message)) return;
    switch (message.type) {
      case READY:
        ready.set(worker.id, worker);
        break;
      case GONE:
        retire(worker.id);
        break;
      case COLLECT:
        ready.set(worker.id, worker);
        collect(worker, message.id, Number.isFinite(message.timeoutMs) ? message.timeoutMs : 3_000);
        break;
      case SNAPSHOT: {
        if (!ready.has(worker.id)) return; // from a registry that has closed
        const metrics = message.error === undefined && isSnapshot(message.metrics) ? message.metrics : null;
        // Late answers count too: the newest answer is what a later exit or silence falls back on.
        if (metrics !== null) last.set(worker.id, metrics.filter(isMonotonic));
        const collection = collections.get(message.id);
        if (collection === undefined || !collection.asked.has(worker.id)) return;
        // A worker that could not collect is counted as missing (with its last answer).
        collection.answers.set(worker.id, metrics);
        settle(collection);
        break;
      }
    }
  };

  const onExit = (worker: ClusterWorker): void => retire(worker.id);

  primary.on('message', onMessage);
  primary.on('exit', onExit);
  return () => {
    primary.off('message', onMessage);
    primary.off('exit', onExit);
    for (const collection of [...collections.values()]) collection.finish('the cluster primary is stopping');
  };
}
