import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

// The gateway's stdout logger when nobody reads stdout (a stalled container log pipe): memory
// stays bounded and the process still exits. Run in a child whose stdout is a FIFO never read.
const dir = mkdtempSync(path.join(tmpdir(), 'isogate-stdout-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const child = `
const { createLogger } = await import(${JSON.stringify(path.join(import.meta.dirname, 'logger.ts'))});
const log = createLogger();
const ua = 'x'.repeat(2048);
let i = 0;
let peak = 0;
const rss0 = process.memoryUsage().rss;
const tick = () => {
  for (let j = 0; j < 5000; j++) log.info({ ua, i: i++ }, 'line');
  peak = Math.max(peak, process.memoryUsage().rss - rss0);
  if (i < 60000) setImmediate(tick);
  else setTimeout(() => { process.stderr.write(JSON.stringify({ peakMb: peak / 1e6 }) + '\\n'); process.exit(0); }, 50);
};
tick();
`;

describe('the gateway logger on a stalled stdout', () => {
  it('drops what it cannot hold (bounded memory) and exits instead of hanging on the final flush', async () => {
    const fifo = path.join(dir, 'stdout');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK); // held open, never read
    const writer = openSync(fifo, constants.O_WRONLY);
    const started = Date.now();
    const proc = spawn(process.execPath, ['--input-type=module', '-e', child], { stdio: ['ignore', writer, 'pipe'] });
    closeSync(writer);
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c));
    const exit = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        resolve('killed after 20 s');
      }, 20_000);
      proc.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? 'signal');
      });
    });
    closeSync(reader);
    assert.equal(exit, 0, `the process did not exit by itself (${Date.now() - started} ms): ${stderr}`);
    assert.match(stderr, /log lines dropped/);
    const { peakMb } = JSON.parse(stderr.trim().split('\n').at(-1)!) as { peakMb: number };
    // 60 000 lines of 2 KiB is ~125 MB of text; the backlog holds 16 Mi characters.
    assert.ok(peakMb < 110, `memory grew by ${peakMb.toFixed(0)} MB`);
  });
});
