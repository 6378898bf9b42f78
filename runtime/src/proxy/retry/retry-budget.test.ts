import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryBudget } from './retry-budget.ts';

describe('RetryBudget', () => {
  it('allows minRetries plus percent % of the requests in the window, and no more', () => {
    let now = 0;
    const budget = new RetryBudget({ percent: 10, minRetries: 2, window: 10_000 }, () => now);
    for (let i = 0; i < 50; i++) budget.deposit();
    let granted = 0;
    for (let i = 0; i < 100; i++) if (budget.withdraw()) granted++;
    assert.equal(granted, 2 + 5);
    // More requests earn more retries.
    for (let i = 0; i < 10; i++) budget.deposit();
    assert.equal(budget.withdraw(), true);
    assert.equal(budget.withdraw(), false);
    now += 500;
    assert.equal(budget.withdraw(), false, 'still the same window');
  });

  it('forgets requests and retries older than the window', () => {
    let now = 100_000;
    const budget = new RetryBudget({ percent: 50, minRetries: 0, window: 1_000 }, () => now);
    for (let i = 0; i < 4; i++) budget.deposit();
    assert.equal(budget.withdraw(), true);
    assert.equal(budget.withdraw(), true);
    assert.equal(budget.withdraw(), false);
    now += 1_100;
    assert.equal(budget.withdraw(), false, 'no request in the window: nothing earned');
    budget.deposit();
    budget.deposit();
    assert.equal(budget.withdraw(), true, 'the old retries no longer count either');
    assert.equal(budget.withdraw(), false);
  });

  it('percent 0 and minRetries 0: no retry at all', () => {
    const budget = new RetryBudget({ percent: 0, minRetries: 0, window: 1_000 });
    for (let i = 0; i < 100; i++) budget.deposit();
    assert.equal(budget.withdraw(), false);
  });
});
