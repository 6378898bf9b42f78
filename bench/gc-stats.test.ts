import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gcDelta, parseGcSnapshot } from './gc-stats.ts';
import type { GcSnapshot } from './gc-stats.ts';

function snap(pid: number, seq: number, count: number, totalMs: number, maxMs: number, majorCount = 0, majorMs = 0, promotedBytes = 0): GcSnapshot {
  return { pid, seq, count, totalMs, majorCount, majorMs, maxMs, promotedBytes };
}

describe('parseGcSnapshot', () => {
  it('reads what the observer writes', () => {
    const s = snap(42, 3, 10, 12.5, 2.25, 1, 4, 65_536);
    assert.deepEqual(parseGcSnapshot(JSON.stringify(s)), s);
  });
  it('refuses half-written or foreign files', () => {
    assert.equal(parseGcSnapshot('{"pid":42,"seq":'), null);
    assert.equal(parseGcSnapshot('null'), null);
    assert.equal(parseGcSnapshot(JSON.stringify({ pid: 1, seq: 1, count: 'x', totalMs: 0, majorCount: 0, majorMs: 0, maxMs: 0, promotedBytes: 0 })), null);
    // An observer from before promoted bytes were counted.
    assert.equal(parseGcSnapshot(JSON.stringify({ pid: 1, seq: 1, count: 0, totalMs: 0, majorCount: 0, majorMs: 0, maxMs: 0 })), null);
  });
});

describe('gcDelta', () => {
  it('sums per-process differences and keeps the longest pause of the window', () => {
    const before = new Map([[1, snap(1, 1, 100, 50, 9, 0, 0, 1_000)], [2, snap(2, 1, 10, 5, 1)]]);
    const after = new Map([[1, snap(1, 2, 130, 65, 3, 1, 2, 5_000)], [2, snap(2, 2, 20, 9, 4.5, 0, 0, 500)]]);
    assert.deepEqual(gcDelta(before, after), { count: 40, totalMs: 19, majorCount: 1, majorMs: 2, maxMs: 4.5, promotedBytes: 4_500, processes: 2 });
  });
  it('leaves out a process that was not there before, or did not answer after', () => {
    const before = new Map([[1, snap(1, 1, 100, 50, 9)], [3, snap(3, 1, 0, 0, 0)]]);
    const after = new Map([[1, snap(1, 2, 110, 51, 1)], [2, snap(2, 1, 500, 300, 40)], [3, snap(3, 1, 7, 7, 7)]]);
    assert.deepEqual(gcDelta(before, after), { count: 10, totalMs: 1, majorCount: 0, majorMs: 0, maxMs: 1, promotedBytes: 0, processes: 1 });
  });
  it('is all zeros without snapshots', () => {
    assert.deepEqual(gcDelta(new Map(), new Map()), { count: 0, totalMs: 0, majorCount: 0, majorMs: 0, maxMs: 0, promotedBytes: 0, processes: 0 });
  });
});
