import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Closable } from '../../runtime/src/plugins/builtin-plugin.ts';
import { ContributedMetrics, contributedMetrics, SampledGaugeFamily } from './contributed.ts';
import { CounterFamily } from './series.ts';

/** A `ctx.shared` like the gateway's: one value per key. */
function sharedValues(): { shared<T extends Closable>(key: string, create: () => T): T } {
  const values = new Map<string, unknown>();
  return {
    shared<T extends Closable>(key: string, create: () => T): T {
      if (!values.has(key)) values.set(key, create());
      return values.get(key) as T;
    },
  };
}

describe('contributed metrics', () => {
  it('exports a plugin\'s families through the registry whichever side comes first', async () => {
    const ctx = sharedValues();
    const early = contributedMetrics(ctx).family('early_total', () => new CounterFamily('early_total', 'before the registry', ['route']));
    early.series('/a').value = 2;
    const registry = new Registry();
    const detach = contributedMetrics(ctx).attach(registry);
    const late = contributedMetrics(ctx).family('late_total', () => new CounterFamily('late_total', 'after the registry', []));
    late.series().value = 3;
    const text = await registry.metrics();
    assert.match(text, /^early_total\{route="\/a"\} 2$/m);
    assert.match(text, /^late_total 3$/m);
    detach();
    assert.doesNotMatch(await registry.metrics(), /_total/);
  });

  it('hands out the same family for a name (counters carry on across reloads)', () => {
    const c = new ContributedMetrics();
    const a = c.family('x_total', () => new CounterFamily('x_total', 'x', []));
    assert.equal(c.family('x_total', () => new CounterFamily('x_total', 'x', [])), a);
    assert.throws(() => c.family('y_total', () => new CounterFamily('z_total', 'z', [])), /named z_total/);
  });

  it('a sampled gauge reads its series at collection; a removed reader leaves 0', async () => {
    const c = new ContributedMetrics();
    const registry = new Registry();
    c.attach(registry);
    const gauge = c.family('held_bytes', () => new SampledGaugeFamily('held_bytes', 'bytes held', ['plugin']));
    let bytes = 10;
    const stop = gauge.sample(() => bytes, 'cache');
    assert.match(await registry.metrics(), /^held_bytes\{plugin="cache"\} 10$/m);
    bytes = 25;
    assert.match(await registry.metrics(), /^held_bytes\{plugin="cache"\} 25$/m);
    stop();
    assert.match(await registry.metrics(), /^held_bytes\{plugin="cache"\} 0$/m);
  });
});
