import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { killAllChildren, runCli } from './helpers/cli.ts';
import { LIFECYCLE_DIR, makeConfigDir, type ConfigDir } from './helpers/config-dir.ts';

/**
 * A plugin that exhausts its memory limit while it loads makes `isogate start` fail with a config
 * error. The process must then exit 1, every time: exiting while isolated-vm was still tearing
 * the killed isolate down on its own threads crashed it (exit 139) in most runs, so one run
 * proves nothing and this one runs the CLI many times.
 */
const RUNS = 20;

let dir: ConfigDir;

before(async () => {
  dir = await makeConfigDir('project');
});

after(async () => {
  killAllChildren();
  await dir?.remove();
});

test(`start with a plugin that runs out of memory while loading exits 1, ${RUNS} runs out of ${RUNS}`, { timeout: 300_000 }, async (t) => {
  const plugin = path.relative(dir.dir, path.join(LIFECYCLE_DIR, 'fixtures/allocate-at-load.ts')); // ../fixtures/…
  const file = await dir.write(
    'gateway.config.ts',
    `export default ${JSON.stringify({
      plugins: { hog: { use: plugin, limits: { memoryMb: 16 } } },
      middleware: ['hog'],
      routes: [{ path: '/v/*', upstream: 'http://127.0.0.1:9' }],
    })};\n`,
  );
  const outcomes: string[] = [];
  for (let run = 0; run < RUNS; run++) {
    const res = await runCli(['start', '--config', file, '--port', '0', '--host', '127.0.0.1'], { timeoutMs: 60_000 });
    assert.match(res.stderr, /plugins\.hog\.use: the plugin failed to load: .*memory limit/, `run ${run + 1}: stderr: ${res.stderr}`);
    assert.doesNotMatch(res.stdout, /gateway listening/);
    outcomes.push(res.signal ?? String(res.code));
  }
  t.diagnostic(`exit codes: ${outcomes.join(' ')}`);
  assert.deepEqual(outcomes, Array.from({ length: RUNS }, () => '1'), `exit codes of ${RUNS} runs: ${outcomes.join(' ')}`);
});
