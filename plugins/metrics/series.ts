import type { Metric, Registry } from 'prom-client';

/**
 * Metric families for the request path, cheaper than prom-client's own classes.
 *
 * A prom-client `Counter`/`Histogram` hashes and validates the label object on every `inc` or
 * `observe`, even through a bound child (~0.7 µs per request for the gateway's set here). These
 * families hand out series objects once (when a routing table is built, or the first time a
 * label combination is seen) and a request only touches numbers: `series.value++`, one bucket
 * scan. They plug into prom-client's `Registry` by its duck-typed metric contract (`name`,
 * `get()` returning the JSON shape of `getMetricsAsJSON`, `aggregator`, `reset()`) — the same
 * contract `AggregatorRegistry.aggregate` relies on when it registers plain objects — so text
 * exposition, default labels and cross-worker aggregation are prom-client's.
 */

type Labels = Readonly<Record<string, string>>;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What `Registry#getMetricsAsJSON()` yields per metric, and what `AggregatorRegistry.aggregate` consumes. */
export interface MetricJson {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** How a cluster scrape combines the workers' values (prom-client's aggregators). */
  aggregator: 'sum' | 'max';
  values: MetricValue[];
}

abstract class Family<S> {
  abstract readonly type: MetricJson['type'];
  aggregator: MetricJson['aggregator'] = 'sum';
  readonly #series = new Map<string, S>();
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  /** The series for these label values (in `labelNames` order), created on first use. Not for the per-request path. */
  series(...values: string[]): S {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    const key = values.join('\u0000');
    let s = this.#series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      for (let i = 0; i < values.length; i++) labels[this.labelNames[i]!] = values[i]!;
      s = this.create(Object.freeze(labels));
      this.#series.set(key, s);
    }
    return s;
  }

  get size(): number {
    return this.#series.size;
  }

  protected abstract create(labels: Labels): S;
  protected abstract values(series: S): MetricValue[];

  protected all(): IterableIterator<S> {
    return this.#series.values();
  }

  get(): Promise<MetricJson> {
    const values: MetricValue[] = [];
    for (const s of this.#series.values()) for (const v of this.values(s)) values.push(v);
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** `Registry#resetMetrics()`: zero every series, keep the series objects (requests hold them). */
  abstract reset(): void;
}

/** One series holding a single number: a counter's or a gauge's. */
export class ValueSeries {
  value = 0;
  readonly labels: Labels;
  constructor(labels: Labels) {
    this.labels = labels;
  }
}
export type CounterSeries = ValueSeries;
export type GaugeSeries = ValueSeries;

/** Counters and gauges differ only in their type and in what a reset does. */
abstract class ValueFamily extends Family<ValueSeries> {
  protected create(labels: Labels): ValueSeries {
    return new ValueSeries(labels);
  }
  protected values(s: ValueSeries): MetricValue[] {
    return [{ labels: { ...s.labels }, value: s.value }];
  }
}

export class CounterFamily extends ValueFamily {
  readonly type = 'counter';
  reset(): void {
    for (const s of this.all()) s.value = 0;
  }
}

export class GaugeFamily extends ValueFamily {
  readonly type = 'gauge';

  /** `aggregator: 'max'`: across workers the highest value, for a state where higher is worse. */
  constructor(name: string, help: string, labelNames: readonly string[], options: { aggregator?: MetricJson['aggregator'] } = {}) {
    super(name, help, labelNames);
    this.aggregator = options.aggregator ?? 'sum';
  }

  /** Gauges describe the present (requests in flight): a reset would lie, so it keeps them. */
  reset(): void {}
}

export class HistogramSeries {
  /** Non-cumulative counts per bucket; the last slot is `+Inf`. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  readonly labels: Labels;
  readonly #bounds: readonly number[];

  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = 'histogram';
  readonly bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]) {
    if (labelNames.includes('le')) throw new Error('le is a reserved label name');
    super(name, help, labelNames);
    this.bounds = Object.freeze([...bounds]);
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  // Bucket `le` values are numbers and `+Inf`, as prom-client emits them, so series from these
  // families and from prom-client's histograms aggregate and print identically.
  protected values(s: HistogramSeries): MetricValue[] {
    const out: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += s.counts[i]!;
      out.push({ labels: { ...s.labels, le: this.bounds[i]! }, value: cumulative, metricName: bucket });
    }
    out.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: bucket });
    out.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
    out.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    return out;
  }

  reset(): void {
    for (const s of this.all()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/** Register a family with a prom-client registry (see the note at the top of this file). */
export function registerFamily(registry: Registry, family: Family<unknown>): void {
  registry.registerMetric(family as unknown as Metric);
}
