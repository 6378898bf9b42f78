import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedRetry } from '../../config/resolved-config.ts';
import { GatewayError } from '../../errors.ts';
import { backoff, RetryPolicy, UpstreamDeadline } from './retry-policy.ts';

const settings: ResolvedRetry = {
  attempts: 4,
  on: ['connect-failure', 'timeout'],
  statuses: [503],
  backoff: { base: 100, max: 300 },
  budget: { percent: 20, minRetries: 10, window: 10_000 },
};

describe('RetryPolicy', () => {
  it('a request may be sent again when it has no body or an idempotent method', () => {
    assert.equal(RetryPolicy.repeatable('GET', false), true);
    assert.equal(RetryPolicy.repeatable('PUT', true), true);
    assert.equal(RetryPolicy.repeatable('DELETE', true), true);
    assert.equal(RetryPolicy.repeatable('POST', false), true);
    assert.equal(RetryPolicy.repeatable('POST', true), false);
    assert.equal(RetryPolicy.repeatable('PATCH', true), false);
  });

  it('retries the failures it is told to; a connect failure whatever the method (nothing was sent)', () => {
    const policy = new RetryPolicy(settings);
    assert.equal(policy.retriesFailure('timeout', true), true);
    assert.equal(policy.retriesFailure('timeout', false), false, 'a POST with a body may have been processed');
    assert.equal(policy.retriesFailure('connect-failure', false), true);
    assert.equal(policy.retriesFailure('reset', true), false, 'not in `on`');
    assert.equal(policy.retriesFailure(null, true), false, 'a client abort or a refusal of the gateway');
    assert.equal(policy.retriesStatus(503, true), true);
    assert.equal(policy.retriesStatus(503, false), false);
    assert.equal(policy.retriesStatus(500, true), false);
  });

  it('backs off exponentially with full jitter, capped at max', () => {
    const top = new RetryPolicy(settings, { random: () => 0.999 });
    assert.deepEqual([1, 2, 3, 4].map((n) => top.delay(n)), [99, 199, 299, 299]);
    const bottom = new RetryPolicy(settings, { random: () => 0 });
    assert.deepEqual([1, 2, 3].map((n) => bottom.delay(n)), [0, 0, 0]);
    const mid = new RetryPolicy(settings, { random: () => 0.5 });
    assert.deepEqual([1, 2, 3].map((n) => mid.delay(n)), [50, 100, 150]);
  });
});

describe('UpstreamDeadline and backoff', () => {
  it('aborts with UPSTREAM_TIMEOUT when the deadline passes, and cuts a backoff short', async () => {
    const deadline = new UpstreamDeadline(new AbortController().signal, 30);
    await assert.rejects(backoff(10_000, deadline.signal), (err: unknown) => err instanceof GatewayError && err.key === 'UPSTREAM_TIMEOUT');
    assert.ok(deadline.remaining <= 0);
  });

  it("follows the client's abort, also after stop()", async () => {
    const client = new AbortController();
    const deadline = new UpstreamDeadline(client.signal, 10_000);
    deadline.stop();
    const waiting = backoff(10_000, deadline.signal);
    client.abort(new Error('client gone'));
    await assert.rejects(waiting, /client gone/);
  });

  it('stop() keeps the deadline from firing once the headers are in', async () => {
    const deadline = new UpstreamDeadline(new AbortController().signal, 5);
    deadline.stop();
    await backoff(20, new AbortController().signal);
    assert.equal(deadline.signal.aborted, false);
  });
});
