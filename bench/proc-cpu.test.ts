import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { clockTicksPerSecond, cpuDelta, parseProcStat, sampleProcessTreeCpu } from './proc-cpu.ts';

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
