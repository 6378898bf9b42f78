import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { killAllChildren, runCli } from './helpers/cli.ts';

/** A `node` on PATH (or in the usual places) that is not the repository's node_modules one. */
function findSystemNode(): string | null {
  const candidates = [...(process.env['PATH'] ?? '').split(path.delimiter).filter((dir) => dir && !dir.includes('node_modules')).map((dir) => path.join(dir, 'node')), '/usr/bin/node', '/usr/local/bin/node'];
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      const real = fs.realpathSync(candidate);
      if (!real.includes('node_modules')) return candidate;
    } catch {
      // not there
    }
  }
  return null;
}

after(() => killAllChildren());

test('the CLI run by the system Node explains that it needs Node 24', { timeout: 60_000 }, async (t) => {
  const systemNode = findSystemNode();
  if (systemNode === null) {
    // Nothing to run it with: there is no Node outside node_modules on this machine.
    t.skip('no system node found outside node_modules');
    return;
  }
  const version = execFileSync(systemNode, ['--version'], { encoding: 'utf8' }).trim();
  const major = Number(version.replace(/^v/, '').split('.')[0]);
  t.diagnostic(`system node: ${systemNode} ${version}`);

  const res = await runCli(['--help'], { node: systemNode, timeoutMs: 30_000 });
  if (major < 24) {
    assert.equal(res.code, 1);
    assert.ok(res.stderr.startsWith(`isogate needs Node.js 24 or newer (this is ${version}). `), res.stderr);
    assert.equal(res.stderr.split('\n').length, 2, `one line: ${res.stderr}`);
    assert.match(res.stderr, /npm scripts/);
    assert.equal(res.stdout, '');
    assert.doesNotMatch(res.stderr, /SyntaxError|ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /, 'a message, not a crash');
  } else {
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^\s+start\b/m);
  }
});
