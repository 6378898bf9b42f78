import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { clockTicksPerSecond, cpuDelta, foreignCoreLoad, parseProcStat, parseProcStatCore, sampleProcessTreeCpu } from './proc-cpu.ts';

describe('parseProcStat', () => {
  it('reads pid, ppid and utime+stime+cutime+cstime, even with spaces and parens in the name', () => {
    // fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
    const text = '4242 (node (worker) 1) S 4200 4242 4200 0 -1 4194560 100 0 0 0 150 30 7 3 20 0 7 0 1000 0 0\n';
    assert.deepEqual(parseProcStat(text), { pid: 4242, ppid: 4200, ticks: 150 + 30 + 7 + 3 });
  });
  it('rejects text without a command name', () => {
    assert.throws(() => parseProcStat('garbage'));
  });
});

describe('sampleProcessTreeCpu', { skip: process.platform !== 'linux' }, () => {
  it('counts a busy child of the sampled process', async () => {
    assert.ok(clockTicksPerSecond() > 0);
    // A shell whose child burns CPU for ~0.4 s: the tree of the shell must show it.
    const shell = spawn('sh', ['-c', `"${process.execPath}" -e "const t=Date.now(); while (Date.now()-t < 400);" & wait`]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const before = sampleProcessTreeCpu(shell.pid!);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = sampleProcessTreeCpu(shell.pid!);
      assert.ok(after.pids.length >= 2, `expected the child in ${after.pids.join(',')}`);
      assert.ok(cpuDelta(before, after).cpuSeconds > 0.1);
    } finally {
      shell.kill('SIGKILL');
    }
  });
  it('throws for a process that does not exist', () => {
    assert.throws(() => sampleProcessTreeCpu(2 ** 22 + 1), /not running/);
  });
});

describe('core load', () => {
  const stat = (user: number, steal: number): string =>
    `cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 ${user} 0 100 5000 3 10 20 ${steal} 0 0\ncpu1 9 9 9 9 9 9 9 9 0 0\n`;
  it('reads busy and steal ticks of one core', () => {
    assert.deepEqual(parseProcStatCore(stat(400, 7), 0), { busyTicks: 400 + 100 + 10 + 20 + 7, stealTicks: 7 });
    assert.deepEqual(parseProcStatCore(stat(1, 1), null), { busyTicks: 1 + 2 + 3 + 6 + 7 + 8, stealTicks: 8 });
    assert.throws(() => parseProcStatCore(stat(1, 1), 5), /cpu5/);
  });
  it('subtracts our own CPU from the busy time', () => {
    const hz = clockTicksPerSecond();
    const before = { ...parseProcStatCore(stat(0, 0), 0), at: 0 };
    // 2 s of wall time; the core was busy 1.5 s, of which 1.2 s was ours and 0.1 s steal.
    const after = { ...parseProcStatCore(stat(1.4 * hz, 0.1 * hz), 0), at: 2000 };
    const load = foreignCoreLoad(before, after, 1.2);
    assert.ok(Math.abs(load.other - 0.15) < 1e-9, String(load.other));
    assert.ok(Math.abs(load.steal - 0.05) < 1e-9, String(load.steal));
  });
});
