import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedCircuitBreaker } from '../../config/resolved-config.ts';
import { GatewayError } from '../../errors.ts';
import { CircuitBreaker, REJECTED, type CircuitChange, type CircuitState } from './circuit-breaker.ts';

const settings = (overrides: Partial<ResolvedCircuitBreaker> = {}): ResolvedCircuitBreaker => ({
  consecutiveFailures: 3,
  errorRate: null,
  cooldown: 20,
  halfOpenProbes: 1,
  failureStatuses: [500, 502, 503, 504],
  ...overrides,
});

function breaker(s: ResolvedCircuitBreaker | null = settings(), now?: () => number) {
  const changes: CircuitChange[] = [];
  const waiters: { state: CircuitState; resolve: () => void }[] = [];
  const circuit = new CircuitBreaker('http://up:1', {
    now,
    onChange: (c) => {
      changes.push(c);
      for (const w of waiters.splice(0)) {
        if (w.state === c.to) w.resolve();
        else waiters.push(w);
      }
    },
  });
  circuit.configure(s);
  /** Resolves when the circuit enters `state` (the cooldown timer is real, and short). */
  const reaches = (state: CircuitState) => (circuit.state === state ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ state, resolve })));
  return { circuit, changes, reaches };
}

function call(circuit: CircuitBreaker, outcome: 'success' | 'failure' | 'ignored'): boolean {
  const ticket = circuit.enter();
  if (ticket === REJECTED) return false;
  circuit.exit(ticket, outcome);
  return true;
}

describe('CircuitBreaker', () => {
  it('opens after consecutiveFailures failures in a row; a success in between starts the count again', () => {
    const { circuit, changes } = breaker();
    call(circuit, 'failure');
    call(circuit, 'failure');
    call(circuit, 'success');
    call(circuit, 'failure');
    call(circuit, 'failure');
    assert.equal(circuit.state, 'closed');
    call(circuit, 'failure');
    assert.equal(circuit.state, 'open');
    assert.deepEqual(changes, [{ upstream: 'http://up:1', from: 'closed', to: 'open', reason: 'consecutive-failures' }]);
    circuit.dispose();
  });

  it('never counts an ignored outcome (a client that went away)', () => {
    const { circuit } = breaker();
    for (let i = 0; i < 10; i++) call(circuit, 'ignored');
    call(circuit, 'failure');
    call(circuit, 'ignored');
    call(circuit, 'failure');
    assert.equal(circuit.state, 'closed');
  });

  it('opens on the error rate within the window once minRequests calls were seen', () => {
    let now = 1_000_000;
    const { circuit, changes } = breaker(settings({ consecutiveFailures: 0, errorRate: { percent: 50, minRequests: 10, window: 10_000 } }), () => now);
    // 4 failures in 8 calls: 50 %, but fewer than minRequests.
    for (let i = 0; i < 4; i++) {
      call(circuit, 'success');
      call(circuit, 'failure');
    }
    assert.equal(circuit.state, 'closed');
    // Calls older than the window no longer count.
    now += 11_000;
    call(circuit, 'success');
    call(circuit, 'failure');
    assert.equal(circuit.state, 'closed', 'the old calls left the window');
    for (let i = 0; i < 3; i++) call(circuit, 'success');
    for (let i = 0; i < 4; i++) call(circuit, 'failure');
    assert.equal(circuit.state, 'closed', '5 failures in 9 calls: still under minRequests');
    call(circuit, 'failure');
    assert.equal(circuit.state, 'open', '6 failures in 10 calls');
    assert.equal(changes.at(-1)?.reason, 'error-rate');
    circuit.dispose();
  });

  it('open: rejects every call without counting it, with a Retry-After of the cooldown left', () => {
    let now = 5_000;
    const { circuit } = breaker(settings({ cooldown: 30_000 }), () => now);
    for (let i = 0; i < 3; i++) call(circuit, 'failure');
    assert.equal(circuit.enter(), REJECTED);
    assert.equal(circuit.admits, false);
    now += 10_000;
    const err = circuit.rejection();
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 503);
    assert.equal(err.code, 'ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN');
    assert.equal(err.headers['retry-after'], '20');
    circuit.dispose();
  });

  it('half-open after the cooldown: a bounded number of probes, all of which must succeed to close it', async () => {
    const { circuit, changes, reaches } = breaker(settings({ halfOpenProbes: 2 }));
    for (let i = 0; i < 3; i++) call(circuit, 'failure');
    await reaches('half-open');
    const first = circuit.enter();
    const second = circuit.enter();
    assert.notEqual(first, REJECTED);
    assert.notEqual(second, REJECTED);
    assert.equal(circuit.enter(), REJECTED, 'a third call while two probes are out');
    assert.equal(circuit.admits, false);
    circuit.exit(first, 'success');
    assert.equal(circuit.state, 'half-open');
    circuit.exit(second, 'success');
    assert.equal(circuit.state, 'closed');
    assert.deepEqual(
      changes.map((c) => `${c.from}→${c.to} ${c.reason}`),
      ['closed→open consecutive-failures', 'open→half-open cooldown-elapsed', 'half-open→closed probes-succeeded'],
    );
  });

  it('a failed probe opens it again for another cooldown; an ignored one frees its slot', async () => {
    const { circuit, reaches } = breaker();
    for (let i = 0; i < 3; i++) call(circuit, 'failure');
    await reaches('half-open');
    const aborted = circuit.enter();
    circuit.exit(aborted, 'ignored');
    assert.equal(circuit.admits, true, 'the slot of a probe whose client left is free again');
    call(circuit, 'failure');
    assert.equal(circuit.state, 'open');
    await reaches('half-open');
    call(circuit, 'success');
    assert.equal(circuit.state, 'closed');
  });

  it('ignores the outcome of a call admitted before the last change (a slow call cannot close a circuit that opened since)', async () => {
    const { circuit, reaches } = breaker();
    const slow = circuit.enter();
    for (let i = 0; i < 3; i++) call(circuit, 'failure');
    assert.equal(circuit.state, 'open');
    await reaches('half-open');
    circuit.exit(slow, 'success');
    assert.equal(circuit.state, 'half-open');
    circuit.dispose();
  });

  it('health checks hold it open, with no cooldown, until they pass again', async () => {
    const { circuit, changes } = breaker(settings({ cooldown: 1 }));
    circuit.healthFailed('status 500');
    assert.equal(circuit.state, 'open');
    assert.equal(circuit.unhealthy, true);
    assert.equal(circuit.rejection().headers['retry-after'], undefined, 'no time is promised');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(circuit.state, 'open', 'no half-open while the health checks fail');
    circuit.healthPassed();
    assert.equal(circuit.state, 'closed');
    assert.deepEqual(changes[0], { upstream: 'http://up:1', from: 'closed', to: 'open', reason: 'health-check-failed', detail: 'status 500' });
  });

  it('without settings it counts nothing (health checks only), and removing them closes a circuit calls had opened', () => {
    const healthOnly = breaker(null).circuit;
    assert.equal(healthOnly.engaged, false, 'a call costs one property read');
    for (let i = 0; i < 10; i++) call(healthOnly, 'failure');
    assert.equal(healthOnly.state, 'closed');

    const { circuit, changes } = breaker();
    for (let i = 0; i < 3; i++) call(circuit, 'failure');
    circuit.configure(null);
    assert.equal(circuit.state, 'closed');
    assert.equal(changes.at(-1)?.reason, 'breaker-removed');
  });

  it('keeps its state when configured again with the same settings (a reload)', () => {
    const { circuit } = breaker();
    for (let i = 0; i < 3; i++) call(circuit, 'failure');
    circuit.configure(settings());
    assert.equal(circuit.state, 'open');
    circuit.dispose();
  });

  it('knows which statuses are failures', () => {
    const { circuit } = breaker(settings({ failureStatuses: [503, 429] }));
    assert.equal(circuit.isFailureStatus(503), true);
    assert.equal(circuit.isFailureStatus(429), true);
    assert.equal(circuit.isFailureStatus(500), false);
    assert.equal(circuit.isFailureStatus(200), false);
  });
});
