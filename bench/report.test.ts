import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateGoals, median, summarize } from './report.ts';
import type { RepResult, Row } from './report.ts';
import type { Goal } from './targets.ts';

function rep(n: number, rps: number, p99: number, errors = 0): RepResult {
  return {
    rep: n,
    requestsPerSec: rps,
    requests: rps * 5,
    p50Ms: p99 / 2,
    p99Ms: p99,
    errors,
    errorDetail: errors ? `read ${errors}` : '',
    cpuSeconds: 1,
    cpuUsPerReq: 1e6 / (rps * 5),
    coreUtilization: 1,
    otherLoad: 0,
    steal: 0,
  };
}

function row(name: string, reps: RepResult[]): Row {
  return { name, description: name, status: 'measured', notes: [], reps };
}

const goal: Goal = { label: 'g', target: 'isogate', minThroughputRatio: 0.9, maxP99DeltaMs: 1 };

describe('median', () => {
  it('handles odd, even and empty inputs', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), null);
  });
});

describe('summarize + evaluateGoals', () => {
  const floor = row('floor', [rep(1, 10_000, 5), rep(2, 11_000, 6), rep(3, 9_000, 4)]);

  it('passes within 90 % and +1 ms', () => {
    const rows = [floor, row('isogate', [rep(1, 9_500, 5.5), rep(2, 9_400, 6.5), rep(3, 9_600, 5.9)])];
    const s = summarize(rows, 'floor', 3);
    assert.equal(s.get('isogate')!.vsBaseline, 0.95);
    assert.ok(Math.abs(s.get('isogate')!.p99DeltaMs! - 0.9) < 1e-9);
    assert.equal(evaluateGoals([goal], rows, s, 'floor')[0]!.verdict, 'PASS');
  });

  it('fails on throughput, on p99 and on errors', () => {
    const slow = [floor, row('isogate', [rep(1, 8_000, 5), rep(2, 8_000, 5), rep(3, 8_000, 5)])];
    assert.equal(evaluateGoals([goal], slow, summarize(slow, 'floor', 3), 'floor')[0]!.verdict, 'FAIL');
    const late = [floor, row('isogate', [rep(1, 10_000, 7.5), rep(2, 10_000, 7.5), rep(3, 10_000, 7.5)])];
    assert.equal(evaluateGoals([goal], late, summarize(late, 'floor', 3), 'floor')[0]!.verdict, 'FAIL');
    const errs = [floor, row('isogate', [rep(1, 10_000, 5, 3), rep(2, 10_000, 5), rep(3, 10_000, 5)])];
    const result = evaluateGoals([goal], errs, summarize(errs, 'floor', 3), 'floor')[0]!;
    assert.equal(result.verdict, 'FAIL');
    assert.match(result.reason, /invalid \(3 errors\)/);
  });

  it('is N/A when the target was not available', () => {
    const rows: Row[] = [floor, { name: 'isogate', description: '', status: 'unavailable', reason: 'not available: x', notes: [], reps: [] }];
    const result = evaluateGoals([goal], rows, summarize(rows, 'floor', 3), 'floor')[0]!;
    assert.equal(result.verdict, 'N/A');
    assert.equal(result.reason, 'not available: x');
  });
});
