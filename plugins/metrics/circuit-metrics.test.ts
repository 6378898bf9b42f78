import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AggregatorRegistry } from 'prom-client';
import { GatewayMetrics } from './gateway-metrics.ts';
import { parseExposition } from './parse-exposition.ts';

const definitions = { buckets: { request: [0.1], upstream: [0.1], hook: [0.1] }, processMetrics: false, processMetricsPrefix: '' };

describe('circuit breaker series', () => {
  it('the gauge follows the state (0 closed, 1 half-open, 2 open); the counter counts changes, not reports', async () => {
    const metrics = new GatewayMetrics(definitions);
    const upstream = 'http://10.0.0.5:3000';
    metrics.onGatewayEvent({ type: 'upstream-circuit', upstream, state: 'closed', previous: null });
    let m = parseExposition(await metrics.registry.metrics());
    assert.equal(m.value('gateway_upstream_circuit_state', { upstream }), 0, 'present from the start');
    assert.equal(m.value('gateway_upstream_circuit_transitions_total', { upstream, state: 'closed' }), undefined);
    metrics.onGatewayEvent({ type: 'upstream-circuit', upstream, state: 'open', previous: 'closed' });
    metrics.onGatewayEvent({ type: 'upstream-circuit', upstream, state: 'half-open', previous: 'open' });
    m = parseExposition(await metrics.registry.metrics());
    assert.equal(m.value('gateway_upstream_circuit_state', { upstream }), 1);
    assert.equal(m.value('gateway_upstream_circuit_transitions_total', { upstream, state: 'open' }), 1);
    assert.equal(m.value('gateway_upstream_circuit_transitions_total', { upstream, state: 'half-open' }), 1);
    assert.equal(m.types.get('gateway_upstream_circuit_state'), 'gauge');
  });

  it('a cluster scrape shows the worst state across workers and sums the transitions', async () => {
    const upstream = 'http://10.0.0.5:3000';
    const workers = [new GatewayMetrics(definitions), new GatewayMetrics(definitions), new GatewayMetrics(definitions)];
    workers[0]!.onGatewayEvent({ type: 'upstream-circuit', upstream, state: 'closed', previous: null });
    workers[1]!.onGatewayEvent({ type: 'upstream-circuit', upstream, state: 'open', previous: 'closed' });
    workers[2]!.onGatewayEvent({ type: 'upstream-circuit', upstream, state: 'open', previous: 'closed' });
    workers[2]!.onGatewayEvent({ type: 'upstream-circuit', upstream, state: 'half-open', previous: 'open' });
    const snapshots = await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON()));
    const m = parseExposition(await AggregatorRegistry.aggregate(snapshots as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics());
    assert.equal(m.value('gateway_upstream_circuit_state', { upstream }), 2);
    assert.equal(m.value('gateway_upstream_circuit_transitions_total', { upstream, state: 'open' }), 2);
  });
});
