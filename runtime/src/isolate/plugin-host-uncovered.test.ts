import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';

// The watchdog's fallback path (#runUncovered) makes calls asynchronously, so several can be
// under way at once: they go into the isolate one at a time. Before that, a call's deadline
// counted its wait behind the others (well-behaved calls were stopped and the isolate replaced),
// and a throwing call's forgetLast could drop another call's parked answer. A child process: the
// fixture takes the watchdog out for the whole process.
it('calls on the fallback path: each judged by its own run, and a throw forgets only its own call\'s answer', () => {
  const child = spawnSync(process.execPath, [path.join(import.meta.dirname, 'fixtures/uncovered-calls.ts')], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(child.signal, null, `the process hung (killed after 90 s): ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { queued: Record<string, number>; queuedBuilt: number; throws: Record<string, number>; fetches: Record<string, number> };
  assert.deepEqual(out.queued, { ok: 40 }, JSON.stringify(out));
  assert.equal(out.queuedBuilt, 1, 'no isolate was replaced');
  assert.deepEqual(out.throws, { 'throw: secret plugin detail': 6 }, JSON.stringify(out));
  assert.deepEqual(out.fetches, { ok: 6 }, JSON.stringify(out));
});
