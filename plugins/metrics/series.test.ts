import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { parseExposition } from './parse-exposition.ts';
import { CounterFamily, GaugeFamily, HistogramFamily, registerFamily } from './series.ts';

const BOUNDS = [0.005, 0.01, 0.1, 1];
const OBSERVATIONS = [0.001, 0.005, 0.0051, 0.05, 0.5, 1, 3, 0.01];

function sorted(text: string) {
  return parseExposition(text)
    .samples.map((s) => `${s.name}{${Object.entries(s.labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}} ${s.value}`)
    .sort();
}

describe('metric families', () => {
  it('expose exactly what prom-client exposes for the same observations', async () => {
    const ours = new Registry();
    const counter = new CounterFamily('t_requests_total', 'help', ['method', 'route']);
    const histogram = new HistogramFamily('t_duration_seconds', 'help', ['route'], BOUNDS);
    registerFamily(ours, counter);
    registerFamily(ours, histogram);

    const theirs = new Registry();
    const pc = new Counter({ name: 't_requests_total', help: 'help', labelNames: ['method', 'route'], registers: [theirs] });
    const ph = new Histogram({ name: 't_duration_seconds', help: 'help', labelNames: ['route'], buckets: BOUNDS, registers: [theirs] });

    for (const route of ['/a', '/b/:id']) {
      const series = histogram.series(route);
      for (const v of OBSERVATIONS) {
        series.observe(v);
        ph.observe({ route }, v);
      }
      counter.series('GET', route).value += 3;
      pc.inc({ method: 'GET', route }, 3);
    }
    counter.series('POST', '/a').value++;
    pc.inc({ method: 'POST', route: '/a' });

    assert.deepEqual(sorted(await ours.metrics()), sorted(await theirs.metrics()));
    assert.deepEqual(
      (await ours.getMetricsAsJSON()).map((m) => [m.name, m.type, m.aggregator]),
      (await theirs.getMetricsAsJSON()).map((m) => [m.name, m.type, m.aggregator]),
    );
  });

  it('hands out one series object per label combination', () => {
    const counter = new CounterFamily('c_total', 'help', ['a', 'b']);
    assert.equal(counter.series('x', 'y'), counter.series('x', 'y'));
    assert.notEqual(counter.series('x', 'y'), counter.series('x', 'z'));
    // The separator cannot be forged by label values that contain the other's boundary.
    assert.notEqual(counter.series('x', 'y z'), counter.series('x y', 'z'));
    assert.equal(counter.size, 4);
    assert.throws(() => counter.series('only-one'), /expected 2 label values/);
  });

  it('counts a value equal to a bound in that bound, as Prometheus defines le', async () => {
    const h = new HistogramFamily('h_seconds', 'help', [], [0.1, 1]);
    const registry = new Registry();
    registerFamily(registry, h);
    h.series().observe(0.1);
    h.series().observe(1);
    h.series().observe(1.5);
    const e = parseExposition(await registry.metrics());
    assert.equal(e.value('h_seconds_bucket', { le: '0.1' }), 1);
    assert.equal(e.value('h_seconds_bucket', { le: '1' }), 2);
    assert.equal(e.value('h_seconds_bucket', { le: '+Inf' }), 3);
    assert.equal(e.value('h_seconds_count'), 3);
    assert.equal(e.value('h_seconds_sum'), 2.6);
  });

  it('refuses le as a label name', () => {
    assert.throws(() => new HistogramFamily('h', 'help', ['le'], [1]), /reserved/);
  });

  it('resetMetrics zeroes counters and histograms but keeps gauges (the present, not history)', async () => {
    const registry = new Registry();
    const c = new CounterFamily('c_total', 'help', []);
    const h = new HistogramFamily('h_seconds', 'help', [], [1]);
    const g = new GaugeFamily('g', 'help', []);
    for (const f of [c, h, g]) registerFamily(registry, f);
    const cs = c.series();
    cs.value = 5;
    h.series().observe(0.5);
    g.series().value = 2;
    registry.resetMetrics();
    const e = parseExposition(await registry.metrics());
    assert.equal(e.value('c_total'), 0);
    assert.equal(e.value('h_seconds_count'), 0);
    assert.equal(e.value('h_seconds_bucket', { le: '1' }), 0);
    assert.equal(e.value('g'), 2);
    cs.value++; // the series a request holds is still the one exposed
    assert.equal(parseExposition(await registry.metrics()).value('c_total'), 1);
  });

  it('aggregate across registries with prom-client (what the cluster primary does)', async () => {
    const snapshots = [];
    for (const n of [2, 5]) {
      const registry = new Registry();
      const c = new CounterFamily('c_total', 'help', ['route']);
      const h = new HistogramFamily('h_seconds', 'help', ['route'], [0.1, 1]);
      const g = new GaugeFamily('g', 'help', []);
      for (const f of [c, h, g]) registerFamily(registry, f);
      c.series('/a').value = n;
      for (let i = 0; i < n; i++) h.series('/a').observe(0.05);
      g.series().value = 1;
      snapshots.push(await registry.getMetricsAsJSON());
    }
    const e = parseExposition(await AggregatorRegistry.aggregate(snapshots).metrics());
    assert.equal(e.value('c_total', { route: '/a' }), 7);
    assert.equal(e.value('h_seconds_bucket', { route: '/a', le: '0.1' }), 7);
    assert.equal(e.value('h_seconds_count', { route: '/a' }), 7);
    assert.equal(e.value('g'), 2);
  });
});
