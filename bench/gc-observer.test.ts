import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GcProbe, gcDelta } from './gc-stats.ts';

const OBSERVER = fileURLToPath(new URL('./gc-observer.ts', import.meta.url));

describe('gc-observer preload + GcProbe', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'isogate-gc-observer-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** `script` in a Node with --expose-gc and the observer preloaded, once it wrote its first snapshot. */
  const startObserved = async (probe: GcProbe, script: string): Promise<ChildProcessByStdio<Writable, Readable, null>> => {
    const child = spawn(process.execPath, ['--expose-gc', '-e', script], { env: { ...process.env, ...probe.env(OBSERVER) }, stdio: ['pipe', 'pipe', 'inherit'] });
    const file = join(dir, `${child.pid}.json`);
    for (let i = 0; i < 500 && !existsSync(file); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(existsSync(file), 'the preload wrote its first snapshot');
    return child;
  };

  it('reports the pauses of a process between two snapshots', async () => {
    const probe = new GcProbe(dir);
    // Forces one full GC each time it reads a line on stdin; exits when stdin closes.
    const script = "process.stdin.on('data', () => globalThis.gc()); process.stdin.on('end', () => process.exit(0));";
    const child = await startObserved(probe, script);
    try {

      const before = await probe.snapshot(5000);
      assert.equal(before.get(child.pid!)?.seq, 1);
      child.stdin.write('gc\n');
      // Bounded wait until the forced GC was observed (the observer is asynchronous).
      // Each snapshot restarts the longest-pause window, so keep the longest seen across them.
      let delta = gcDelta(before, await probe.snapshot(5000));
      let longest = delta.maxMs;
      for (let i = 0; i < 100 && delta.majorCount < 1; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        delta = gcDelta(before, await probe.snapshot(5000));
        longest = Math.max(longest, delta.maxMs);
      }
      assert.equal(delta.processes, 1);
      assert.ok(delta.majorCount >= 1, `the forced full GC was seen (got ${delta.majorCount})`);
      assert.ok(delta.count >= delta.majorCount);
      assert.ok(delta.totalMs > 0 && longest > 0 && longest <= delta.totalMs);
    } finally {
      child.stdin.end();
      child.kill();
    }
  });

  it('counts the bytes that minor GCs promote', async () => {
    const probe = new GcProbe(dir);
    // Each line read: 100,000 small objects kept alive, then two minor GCs (the second promotes
    // what survived the first). Exits when stdin closes.
    const script =
      "const kept = []; process.stdin.on('data', () => { for (let i = 0; i < 100000; i++) kept.push({ i }); globalThis.gc({ type: 'minor' }); globalThis.gc({ type: 'minor' }); process.stdout.write('done\\n'); }); process.stdin.on('end', () => process.exit(0));";
    const child = await startObserved(probe, script);
    try {
      const before = await probe.snapshot(5000);
      child.stdin.write('keep\n');
      await once(child.stdout, 'data');
      const delta = gcDelta(before, await probe.snapshot(5000));
      assert.equal(delta.processes, 1);
      // 100,000 objects of at least 16 bytes each, and the array that holds them.
      assert.ok(delta.promotedBytes >= 1_600_000, `promoted ${delta.promotedBytes} bytes`);
    } finally {
      child.stdin.end();
      child.kill();
    }
  });
});
