import type { Registry } from 'prom-client';
import type { Closable, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { type CounterFamily, GaugeFamily, type HistogramFamily, type MetricJson, registerFamily, type ValueSeries } from './series.ts';

/**
 * Metrics another built-in keeps itself and the metrics registry exports: the cache's hits and
 * stored bytes. They are not request events (`RequestEvent`): a lookup result on every request
 * would make every cached request "eventful" to the access log (which always logs those,
 * whatever its `sample`), and the bytes a store holds change outside any request.
 *
 * Both sides meet in `ctx.shared('metrics:contributed')`, whichever is built first: a plugin asks
 * for its families by name (the same objects for the gateway's lifetime, so counters carry on
 * across reloads, like the registry's own), and the metrics registry registers every family
 * there, now and later. Without a metrics instance the families count for nobody, at the cost of
 * an increment.
 */
export type ContributedFamily = CounterFamily | GaugeFamily | HistogramFamily;

export class ContributedMetrics implements Closable {
  readonly #families = new Map<string, ContributedFamily>();
  readonly #registries = new Set<Registry>();

  /** The family named `name`, created by `create` the first time it is asked for. */
  family<F extends ContributedFamily>(name: string, create: () => F): F {
    let family = this.#families.get(name);
    if (family === undefined) {
      family = create();
      if (family.name !== name) throw new Error(`contributed metric ${name}: the family is named ${family.name}`);
      this.#families.set(name, family);
      for (const registry of this.#registries) registerFamily(registry, family);
    }
    return family as F;
  }

  close(): void {
    this.#registries.clear();
  }

  /** Export every family, present and future, through `registry`; returns the function that stops it. */
  attach(registry: Registry): () => void {
    this.#registries.add(registry);
    for (const family of this.#families.values()) registerFamily(registry, family);
    return () => {
      this.#registries.delete(registry);
      for (const family of this.#families.values()) registry.removeSingleMetric(family.name);
    };
  }
}

export function contributedMetrics(ctx: Pick<PluginFactoryContext, 'shared'>): ContributedMetrics {
  return ctx.shared('metrics:contributed', () => new ContributedMetrics());
}

/**
 * A gauge whose series are read when the registry is collected: each has a reader (the bytes a
 * store holds now). A series whose reader is removed keeps reading 0: series are never deleted
 * (see the metrics README), and what went away holds nothing.
 */
export class SampledGaugeFamily extends GaugeFamily {
  readonly #readers = new Map<ValueSeries, () => number>();

  /** Read the series of these label values with `read` at every collection; returns the function that stops it. */
  sample(read: () => number, ...labelValues: string[]): () => void {
    const series = this.series(...labelValues);
    this.#readers.set(series, read);
    return () => {
      if (this.#readers.get(series) === read) {
        this.#readers.delete(series);
        series.value = 0;
      }
    };
  }

  override get(): Promise<MetricJson> {
    for (const [series, read] of this.#readers) series.value = read();
    return super.get();
  }
}
