import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coreSpeedSpread, probeCoreSpeed } from './core-speed.ts';

describe('core speed probe', () => {
  it('times its three fixed jobs in a child process (CPU ms, positive)', () => {
    const probe = probeCoreSpeed(process.execPath, null);
    assert.ok(probe !== null && probe.aluMs > 0 && probe.memoryMs > 0 && probe.wakeupMs > 0, `probe answered ${JSON.stringify(probe)}`);
  });

  it('answers null when the probe cannot run', () => {
    assert.equal(probeCoreSpeed('/nonexistent/node', null), null);
  });

  it('reports the spread between the fastest and the slowest probe, ignoring missing ones', () => {
    assert.deepEqual(coreSpeedSpread([40, null, 80, 50]), { fastestMs: 40, slowestMs: 80, ratio: 2 });
    assert.equal(coreSpeedSpread([40, null]), null);
  });
});
