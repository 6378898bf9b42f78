import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateGoals, median, ratioCells, REP_HEADER, repCells, summarize, SUMMARY_HEADER, summaryCells } from './report.ts';
import type { RepResult, Row } from './report.ts';
import type { Goal } from './targets.ts';

function rep(n: number, rps: number, p99: number, errors = 0, gc: RepResult['gc'] = null): RepResult {
  return {
    rep: n,
    requestsPerSec: rps,
    requests: rps * 5,
    p50Ms: p99 / 2,
    p99Ms: p99,
    p999Ms: p99 * 2,
    errors,
    errorDetail: errors ? `read ${errors}` : '',
    cpuSeconds: 1,
    cpuUsPerReq: 1e6 / (rps * 5),
    coreUtilization: 1,
    otherLoad: 0,
    steal: 0,
    gc,
    coreProbe: { aluMs: 40, memoryMs: 60, wakeupMs: 80 },
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

  it('a CPU goal compares CPU per request with the baseline\'s, whatever the throughput', () => {
    const cpuGoal: Goal = { label: 'hit', target: 'hit', baseline: 'floor', minThroughputRatio: 0, maxCpuRatio: 0.5 };
    // floor: 1e6 / (rps × 5) µs per request; twice floor's throughput is half its CPU per request.
    const cheap = [floor, row('hit', [rep(1, 21_000, 5), rep(2, 22_000, 5), rep(3, 20_000, 5)])];
    const pass = evaluateGoals([cpuGoal], cheap, summarize(cheap, 'floor', 3), 'floor')[0]!;
    assert.equal(pass.verdict, 'PASS');
    assert.match(pass.measured, /^CPU per request 9\.5 µs vs 20\.0 µs, 47\.6% of floor's; /);
    const costly = [floor, row('hit', [rep(1, 15_000, 5), rep(2, 15_000, 5), rep(3, 15_000, 5)])];
    const fail = evaluateGoals([cpuGoal], costly, summarize(costly, 'floor', 3), 'floor')[0]!;
    assert.equal(fail.verdict, 'FAIL');
    assert.equal(fail.reason, "CPU per request above 50.0% of floor's");
  });

  it('is N/A when the target was not available', () => {
    const rows: Row[] = [floor, { name: 'isogate', description: '', status: 'unavailable', reason: 'not available: x', notes: [], reps: [] }];
    const result = evaluateGoals([goal], rows, summarize(rows, 'floor', 3), 'floor')[0]!;
    assert.equal(result.verdict, 'N/A');
    assert.equal(result.reason, 'not available: x');
  });
});

describe('tail and GC columns', () => {
  it('takes medians of p99.9, the GC total and the bytes promoted per request, and the longest pause of any rep', () => {
    // 50,000 requests per rep (10,000 req/s for 5 s).
    const rows = [
      row('node', [
        rep(1, 10_000, 5, 0, { totalMs: 40, count: 100, maxMs: 2, promotedBytes: 2_000_000 }),
        rep(2, 10_000, 6, 0, { totalMs: 60, count: 140, maxMs: 9, promotedBytes: 250_000_000 }),
        rep(3, 10_000, 7, 0, { totalMs: 50, count: 120, maxMs: 3, promotedBytes: 1_500_000 }),
      ]),
      row('nginx', [rep(1, 20_000, 2), rep(2, 20_000, 2), rep(3, 20_000, 2)]),
    ];
    const s = summarize(rows, 'node', 3);
    assert.equal(s.get('node')!.p999Ms, 12);
    assert.equal(s.get('node')!.gcMs, 50);
    assert.equal(s.get('node')!.gcCount, 120);
    assert.equal(s.get('node')!.gcMaxMs, 9);
    assert.equal(s.get('node')!.promotedPerReq, 40);
    assert.equal(s.get('nginx')!.gcMs, null);
    assert.equal(s.get('nginx')!.gcMaxMs, null);
    assert.equal(s.get('nginx')!.promotedPerReq, null);
  });
});

describe('table cells', () => {
  it('has as many cells per row as its header, with and without GC figures, and for a row never measured', () => {
    const rows = [
      row('node', [rep(1, 10_000, 5, 0, { totalMs: 40, count: 100, maxMs: 2, promotedBytes: 2_000_000 })]),
      row('nginx', [rep(1, 20_000, 2)]),
      { name: 'missing', description: 'missing', status: 'unavailable' as const, reason: 'not available: x', notes: [], reps: [] },
    ];
    const summaries = summarize(rows, 'node', 1);
    for (const cells of summaryCells(rows, summaries)) assert.equal(cells.length, SUMMARY_HEADER.length, cells.join(' | '));
    const reps = repCells(rows, 1);
    for (const cells of reps) assert.equal(cells.length, REP_HEADER.length, cells.join(' | '));
    assert.equal(reps[0]![REP_HEADER.indexOf('promoted B/req')], '40');
    assert.equal(reps[1]![REP_HEADER.indexOf('promoted B/req')], '—');
  });
});

describe('ratioCells', () => {
  const floor = row('floor', [rep(1, 10_000, 5), rep(2, 10_000, 5), rep(3, 10_000, 5)]);
  const fast = row('isogate', [rep(1, 12_000, 4), rep(2, 12_000, 4), rep(3, 12_000, 4)]);
  it('gives throughput and CPU ratios and the p99 difference', () => {
    const s = summarize([floor, fast], 'floor', 3);
    assert.deepEqual(ratioCells([{ label: 'empty vs floor', target: 'isogate', baseline: 'floor' }], s), [['empty vs floor', '1.20×', '0.83×', '−1.00']]);
  });
  it('says which row is missing', () => {
    const s = summarize([floor], 'floor', 3);
    assert.deepEqual(ratioCells([{ label: 'x', target: 'isogate', baseline: 'floor' }], s), [['x', '—', '—', 'isogate not measured']]);
  });
});
