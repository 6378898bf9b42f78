/**
 * The first `npm install` is quiet and clear: npm runs on the machine's Node (often 20) while the
 * project runs on the Node 24 of its `node` devDependency, so npm's engine check would warn about
 * every package that wants Node 22 or 24 (~310 lines). `.npmrc` shows errors only, and
 * package.json's `allowScripts` decides every dependency's install script, so npm 11 has no
 * notice to print either. These run the system npm offline and without installing anything.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from './helpers/config-dir.ts';
import { terminalEnv } from './helpers/terminal-env.ts';

interface NpmResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function npm(args: string[]): Promise<NpmResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)('npm', args, { cwd: REPO_ROOT, env: terminalEnv(), timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw err;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, unknown> };
const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };

test('allowScripts decides, by package name, exactly the install scripts in the lockfile', () => {
  const withScripts = new Set(
    Object.entries(lock.packages)
      .filter(([at, entry]) => at.includes('node_modules/') && entry.hasInstallScript)
      .map(([at]) => at.slice(at.lastIndexOf('node_modules/') + 'node_modules/'.length)),
  );
  const decided = pkg.allowScripts ?? {};
  assert.deepEqual(Object.keys(decided).sort(), [...withScripts].sort(), 'a new dependency with an install script needs a decision (npm install-scripts approve/deny), and a gone one no entry');
  for (const [name, allowed] of Object.entries(decided)) {
    assert.equal(typeof allowed, 'boolean', name);
    // npm matches a pinned `name@version` against the lockfile's download URL, which this lockfile
    // does not record: a pinned approval would not match, and the script would be unreviewed.
    assert.doesNotMatch(name, /.@/, `${name}: a name, not a pinned version`);
  }
  // Its preinstall installs the Node 24 binary that npm scripts run on: without it they run on the machine's Node.
  assert.equal(decided['node'], true);
});

test('npm itself finds no unreviewed install script', { timeout: 120_000 }, async () => {
  const res = await npm(['install-scripts', 'ls']);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout.trim(), 'No packages with unreviewed install scripts.');
});

test('npm install on the machine\'s Node prints no warnings', { timeout: 120_000 }, async () => {
  const res = await npm(['install', '--dry-run', '--offline']);
  assert.equal(res.code, 0, res.stderr);
  const output = `${res.stdout}${res.stderr}`;
  assert.doesNotMatch(output, /npm warn|EBADENGINE/, output);
  assert.ok(output.trim().split('\n').length <= 5, output);
});

test('a failed install is still reported in full', { timeout: 120_000 }, async () => {
  const res = await npm(['install', '--dry-run', '--offline', '--no-save', './test/e2e/lifecycle/no-such-package']);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /^npm error code ENOENT$/m, res.stderr);
  assert.match(res.stderr, /no-such-package\/package\.json/, res.stderr);
});
