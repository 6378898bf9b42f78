import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coreSpeedSpread, probeCoreSpeed } from './core-speed.ts';

describe('core speed probe', () => {
  it('times the fixed loop in a child process (CPU ms, positive)', () => {
    const ms = probeCoreSpeed(process.execPath, null);
    assert.ok(ms !== null && ms > 0, `probe answered ${ms}`);
  });

  it('answers null when the probe cannot run', () => {
    assert.equal(probeCoreSpeed('/nonexistent/node', null), null);
  });

  it('reports the spread between the fastest and the slowest probe, ignoring missing ones', () => {
    assert.deepEqual(coreSpeedSpread([40, null, 80, 50]), { fastestMs: 40, slowestMs: 80, ratio: 2 });
    assert.equal(coreSpeedSpread([40, null]), null);
  });
});
