import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SDK_VERSION } from '@isogate/sdk';
import { scaffoldPlugin } from './new-plugin.ts';
import { verifyPlugin, type VerifyReport, type VerifyStepName } from './verify-plugin.ts';

// Inside the repository, so the scaffolded packages resolve @isogate/sdk, zod, typescript and
// isogate from its node_modules, as a plugin developed after `npm install` does.
const root = path.resolve(import.meta.dirname, '../../..');
const cli = path.join(root, 'runtime/bin/isogate.mjs');
let tmp: string;
let good: string;

function childEnv(): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
  return env;
}

async function editJson(file: string, edit: (json: Record<string, unknown>) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  await fs.writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
}

/** A copy of the good scaffold under another package name. */
async function variant(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.cp(good, dir, { recursive: true });
  await editJson(path.join(dir, 'package.json'), (pkg) => {
    pkg['name'] = name;
  });
  return dir;
}

function step(report: VerifyReport, name: VerifyStepName) {
  const found = report.steps.find((s) => s.name === name);
  assert.ok(found, `step ${name} reported`);
  return found;
}

async function leftovers(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((f) => f.startsWith('.isogate-verify-'));
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(root, 'runtime', '.tmp-verify-plugin-'));
  good = path.join(tmp, 'isogate-plugin-good');
  await scaffoldPlugin({ name: 'isogate-plugin-good', dir: good });
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('isogate plugin verify', () => {
  it('passes the scaffold through the real CLI: packed, peer range, loaded with its example options, tested, type-checked', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'plugin', 'verify', good], { cwd: tmp, env: childEnv(), maxBuffer: 16 * 1024 * 1024 });
    assert.match(stdout, /✔ pack {3}isogate-plugin-good@0\.1\.0 packed with npm pack \(prepack build\): entry dist\/index\.js, declarations \.\/dist\/index\.d\.ts/);
    assert.match(stdout, new RegExp(`✔ peer {3}@isogate/sdk \\^${SDK_VERSION.replaceAll('.', '\\.')} accepts this SDK`));
    assert.match(stdout, /✔ load {3}isogate-plugin-good@0\.1\.0 loaded in an isolate \(gateway limits, isogate\.exampleOptions from package\.json\): hooks onRequest/);
    assert.match(stdout, /✔ tests {2}npm test: 3 passed/);
    assert.match(stdout, /✔ types {2}.*an unknown option key is a type error there/);
    assert.match(stdout, /isogate-plugin-good@0\.1\.0: OK/);
    assert.deepEqual(await leftovers(good), [], 'the consumer project is removed');
  });

  it('the scaffold runs it in CI: npm run verify, from a workflow that installs and type-checks first', async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(good, 'package.json'), 'utf8')) as { scripts: Record<string, string>; isogate: { exampleOptions: unknown } };
    assert.equal(pkg.scripts['verify'], 'isogate plugin verify .');
    assert.deepEqual(pkg.isogate.exampleOptions, { header: 'x-hello', value: 'world' });
    const workflow = await fs.readFile(path.join(good, '.github/workflows/ci.yml'), 'utf8');
    const runs = [...workflow.matchAll(/^ {6}- run: (.+)$/gm)].map((m) => m[1]);
    assert.deepEqual(runs, ['npm ci', 'npm run typecheck', 'npm run verify']);
    assert.match(workflow, /node-version: 24/);
  });

  it('verifies a tarball from npm pack (no tests in it: not run, and said so)', async () => {
    const dest = path.join(tmp, 'packed');
    await fs.mkdir(dest);
    const [packed] = JSON.parse((await promisify(execFile)('npm', ['pack', '--json', '--pack-destination', dest], { cwd: good, env: childEnv() })).stdout) as [{ filename: string }];
    const report = await verifyPlugin(path.join(dest, packed.filename), { cwd: good });
    assert.equal(report.ok, true, JSON.stringify(report.steps, null, 2));
    assert.match(step(report, 'pack').detail, /from isogate-plugin-good-0\.1\.0\.tgz: entry dist\/index\.js/);
    assert.equal(step(report, 'tests').ok, null);
    assert.match(step(report, 'tests').detail, /a tarball holds no tests/);
    assert.equal(step(report, 'types').ok, true);
    assert.deepEqual(await leftovers(good), []);
  });

  it('fails on example options the schema refuses, a failing test and a config that does not type-check, naming each', async () => {
    const dir = await variant('isogate-plugin-typo');
    await editJson(path.join(dir, 'package.json'), (pkg) => {
      pkg['isogate'] = { exampleOptions: { headr: 'x-typo' } };
    });
    const testFile = path.join(dir, 'src/index.test.ts');
    await fs.writeFile(testFile, (await fs.readFile(testFile, 'utf8')).replace("assert.equal(out.forwarded?.headers['x-greeting'], 'hi');", "assert.equal(out.forwarded?.headers['x-greeting'], 'hello');"));
    const report = await verifyPlugin(dir);
    assert.equal(report.ok, false);
    assert.equal(step(report, 'pack').ok, true);
    assert.equal(step(report, 'peer').ok, true);
    assert.equal(step(report, 'load').ok, false);
    assert.match(step(report, 'load').detail, /plugins\.isogate-plugin-typo\.options\.headr: unknown option/);
    assert.equal(step(report, 'tests').ok, false);
    assert.match(step(report, 'tests').detail, /npm test failed/);
    assert.equal(step(report, 'types').ok, false);
    assert.match(step(report, 'types').detail, /gateway\.config\.ts:\d+:\d+ - .*'"?headr"?' does not exist/);
  });

  it('fails on a peer range that excludes this SDK, and does not load what a gateway would refuse', async () => {
    const dir = await variant('isogate-plugin-old-sdk');
    await editJson(path.join(dir, 'package.json'), (pkg) => {
      pkg['peerDependencies'] = { '@isogate/sdk': '^99.0.0' };
    });
    const report = await verifyPlugin(dir);
    assert.equal(report.ok, false);
    assert.equal(step(report, 'peer').ok, false);
    assert.match(step(report, 'peer').detail, new RegExp(`\\^99\\.0\\.0 excludes this isogate's SDK ${SDK_VERSION.replaceAll('.', '\\.')}`));
    assert.equal(step(report, 'load').ok, null);
    assert.equal(step(report, 'tests').ok, true);
  });

  it('fails a package that publishes its TypeScript sources (Node strips no types under node_modules)', async () => {
    const dir = await variant('isogate-plugin-ts-sources');
    await editJson(path.join(dir, 'package.json'), (pkg) => {
      pkg['main'] = './src/index.ts';
      pkg['types'] = './src/index.ts';
      pkg['exports'] = { '.': './src/index.ts' };
      pkg['files'] = ['src'];
      delete (pkg['scripts'] as Record<string, string>)['prepack'];
    });
    const report = await verifyPlugin(dir);
    assert.equal(report.ok, false);
    assert.equal(step(report, 'pack').ok, false);
    assert.match(step(report, 'pack').detail, /its entry src\/index\.ts is TypeScript/);
    assert.equal(step(report, 'load').ok, null);
    assert.equal(step(report, 'types').ok, null);
  });

  it('says what is wrong with a target that is not a package', async () => {
    const empty = path.join(tmp, 'empty');
    await fs.mkdir(empty);
    const report = await verifyPlugin(empty);
    assert.equal(report.ok, false);
    assert.match(step(report, 'pack').detail, /has no package\.json/);
    assert.match(step(await verifyPlugin(path.join(tmp, 'missing')), 'pack').detail, /does not exist/);
  });
});
