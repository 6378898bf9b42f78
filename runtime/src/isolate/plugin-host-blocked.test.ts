import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';

// A call into a plugin's isolate while the plugin's async code runs in it on one of isolated-vm's
// threads waits on the main thread, using no CPU: the CPU watchdog alone never stopped it, and
// the plugin's wall-clock deadline (a timer on the blocked main thread) could not fire, so code
// that never ended after an `await ctx.fetch` hung the gateway. The watchdog now also stops a
// call that has gone on for the plugin's wallMs (300 ms here).
it('a call that waits for an isolate busy with async code is stopped at the plugin\'s wallMs, and the gateway goes on', () => {
  const child = spawnSync(process.execPath, [path.join(import.meta.dirname, 'fixtures/blocked-behind-async-code.ts')], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(child.signal, null, `the process hung (killed after 90 s): ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { second: { kind?: string; message?: string }; waitedMs: number; first: string };
  assert.equal(out.second.kind, 'deadline', JSON.stringify(out));
  assert.match(out.second.message ?? '', /300 ms deadline/);
  // Not before its wall-clock limit (no tight upper bound: a busy machine only makes it later).
  assert.ok(out.waitedMs >= 250, `stopped after ${out.waitedMs} ms`);
  // The spinning call itself fails too: its isolate is gone.
  assert.equal(out.first, 'deadline');
});

// The same wait when the watchdog covers no call (all its slots taken, or its loop gone):
// isolated-vm's own timeout does not count waiting for the isolate, so such a call is made
// asynchronously, under a timer for the whole call.
it('without the watchdog, a call that waits for an isolate busy with async code is stopped at its deadline too', () => {
  const child = spawnSync(process.execPath, [path.join(import.meta.dirname, 'fixtures/blocked-behind-async-code.ts'), '--uncovered'], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(child.signal, null, `the process hung (killed after 90 s): ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { plain: { h?: unknown[] }; looped: string; second: { kind?: string; message?: string }; waitedMs: number; first: string };
  assert.ok(Array.isArray(out.plain.h) && out.plain.h.length > 0, JSON.stringify(out));
  assert.equal(out.looped, 'timeout', 'a synchronous runaway is stopped by its CPU limit on this path too');
  assert.equal(out.second.kind, 'deadline', JSON.stringify(out));
  assert.ok(out.waitedMs >= 250, `stopped after ${out.waitedMs} ms`);
  assert.equal(out.first, 'deadline');
});

// The same wait, earlier: a fetch the plugin's module code asks for while it loads. Its answer
// would run the plugin's code on a pool thread while the host configures the isolate (a call no
// watchdog covers yet). Such fetches are not sent.
it('a fetch asked for while the plugin loads is not sent, and the plugin loads and serves', () => {
  const child = spawnSync(process.execPath, [path.join(import.meta.dirname, 'fixtures/load-with-fetch-at-load.ts')], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(child.signal, null, `the process hung (killed after 90 s): ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { fetches: number; ops: unknown };
  assert.deepEqual(out, { fetches: 0, ops: [['s', 'x-loaded', 'yes']] });
});
