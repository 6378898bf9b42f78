import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dispatcher } from 'undici';
import { CircuitBreaker } from './breaker/circuit-breaker.ts';
import { createTarget, UpstreamSet } from './upstream-set.ts';

const pool = {} as Dispatcher;

function circuit(origin: string): CircuitBreaker {
  const c = new CircuitBreaker(origin);
  c.configure({ consecutiveFailures: 1, errorRate: null, cooldown: 60_000, halfOpenProbes: 1, failureStatuses: [503] });
  return c;
}

describe('UpstreamSet with circuit breakers', () => {
  it('skips an upstream whose circuit is open, and comes back to it once closed', () => {
    const circuits = ['http://a', 'http://b', 'http://c'].map(circuit);
    const set = new UpstreamSet(circuits.map((c) => createTarget(`${c.upstream}/`, pool, c)));
    circuits[1]!.exit(circuits[1]!.enter(), 'failure');
    const picked = Array.from({ length: 6 }, () => set.pick(null)!.origin);
    assert.deepEqual(picked, ['http://a', 'http://c', 'http://a', 'http://c', 'http://a', 'http://c']);
    assert.equal(set.hasUpstreamInRotation(), true);
    circuits[1]!.healthFailed();
    circuits[1]!.healthPassed();
    assert.ok(Array.from({ length: 3 }, () => set.pick(null)!.origin).includes('http://b'));
    for (const c of circuits) c.dispose();
  });

  it('when every circuit is open, picks one anyway: its breaker answers the coded 503 at once', () => {
    const circuits = ['http://a', 'http://b'].map(circuit);
    const set = new UpstreamSet(circuits.map((c) => createTarget(`${c.upstream}/`, pool, c)));
    for (const c of circuits) c.exit(c.enter(), 'failure');
    assert.ok(set.pick(null));
    assert.equal(set.hasUpstreamInRotation(), false);
    for (const c of circuits) c.dispose();
  });

  it('prefers an upstream cooling down after a connect failure to one whose circuit is open', () => {
    const circuits = ['http://a', 'http://b'].map(circuit);
    const targets = circuits.map((c) => createTarget(`${c.upstream}/`, pool, c));
    const set = new UpstreamSet(targets);
    circuits[0]!.exit(circuits[0]!.enter(), 'failure');
    set.markDown(targets[1]!);
    assert.equal(set.pick(null), targets[1]);
    for (const c of circuits) c.dispose();
  });
});
