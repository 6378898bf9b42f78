import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { systemNode } from '../scripts/system-node.ts';
import { isIgnored, parseDockerignore } from '../test/e2e/deploy/dockerignore.ts';

// The initializer as `npm create isogate` runs it: its bin, on the Node that runs npm (the
// machine's, older than 24). The project it writes is installed, tested and served from a
// registry in test/e2e/release.

const run = promisify(execFile);
const HERE = import.meta.dirname;
const REPO = path.dirname(HERE);
const BIN = path.join(HERE, 'index.js');

interface Manifest {
  name: string;
  version: string;
  engines: Record<string, string>;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
  files?: string[];
}
const readJson = async <T>(file: string) => JSON.parse(await fs.readFile(file, 'utf8')) as T;

let tmp: string;
let project: string;
let output: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'create-isogate-'));
  project = path.join(tmp, 'My Gateway');
  ({ stdout: output } = await run(systemNode(), [BIN, 'My Gateway'], { cwd: tmp }));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('npm create isogate', () => {
  it("runs on the machine's Node and writes the project, saying what to run next", async () => {
    const files = (await fs.readdir(project, { recursive: true })).map(String).sort();
    assert.deepEqual(files, ['.dockerignore', '.gitignore', '.npmrc', 'Dockerfile', 'README.md', 'gateway.config.ts', 'package.json', 'plugins', 'plugins/greeting.test.ts', 'plugins/greeting.ts', 'plugins/tsconfig.json', 'tsconfig.json']);
    assert.match(output, /cd My Gateway\n {2}npm install .*\n {2}npm start .*\n {2}npm test/);
  });

  it('depends on isogate and @isogate/sdk at its own version, and brings Node 24 as this repository does', async () => {
    const pkg = await readJson<Manifest>(path.join(project, 'package.json'));
    const own = await readJson<Manifest>(path.join(HERE, 'package.json'));
    const root = await readJson<Manifest>(path.join(REPO, 'package.json'));
    assert.equal(pkg.name, 'my-gateway');
    assert.equal(pkg.dependencies['isogate'], `^${own.version}`);
    assert.equal(pkg.dependencies['@isogate/sdk'], `^${own.version}`);
    for (const name of ['node', 'typescript', '@types/node']) assert.equal(pkg.devDependencies[name], root.devDependencies[name], `${name}: the repository's range`);
    assert.equal(pkg.dependencies['zod'], root.devDependencies['zod']);
    assert.deepEqual(pkg.engines, root.engines);
    assert.deepEqual(pkg.allowScripts, root.allowScripts, 'the same install-script decisions (node installs Node 24, isolated-vm finds its binary)');
    assert.equal(pkg.scripts['start'], 'isogate start');
    // An explicit glob: on a Node without type stripping it fails instead of finding no tests.
    assert.equal(pkg.scripts['test'], 'node --test "plugins/**/*.test.ts"');
  });

  it('writes the config with one route and one local plugin named by its import, and the sandbox types for plugins', async () => {
    const config = await fs.readFile(path.join(project, 'gateway.config.ts'), 'utf8');
    assert.match(config, /usePlugin\(\(\) => import\('\.\/plugins\/greeting\.ts'\)/);
    assert.equal(config.match(/path: '/g)?.length, 1, 'one route');
    // JSON with comments, as tsconfig allows.
    const pluginsTsconfig = (await fs.readFile(path.join(project, 'plugins', 'tsconfig.json'), 'utf8')).replace(/^\s*\/\/.*$/gm, '');
    const plugins = JSON.parse(pluginsTsconfig) as { compilerOptions: { types: string[] } };
    assert.deepEqual(plugins.compilerOptions.types, ['@isogate/sdk/sandbox']);
    assert.match(await fs.readFile(path.join(project, '.gitignore'), 'utf8'), /^node_modules\/$/m);
    assert.match(await fs.readFile(path.join(project, 'README.md'), 'utf8'), /^# my-gateway\n[\s\S]*npm install && npm start[\s\S]*npm test/);
  });

  it("writes a Dockerfile like the repository's: valid, Node 24 slim, npm ci --omit=dev, non-root, node itself as the entrypoint", async () => {
    const text = await fs.readFile(path.join(project, 'Dockerfile'), 'utf8');
    assert.deepEqual(validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`), []);
    const instructions = DockerfileParser.parse(text).getInstructions();
    const args = (keyword: string) => instructions.filter((i) => i.getKeyword() === keyword).map((i) => i.getExpandedArguments().map((a) => a.getValue()).join(' '));
    assert.deepEqual(args('ARG'), ['NODE_IMAGE=node:24-slim']);
    assert.ok(args('RUN').some((r) => /^npm ci --omit=dev/.test(r)));
    assert.deepEqual(args('USER'), ['1000:1000']);
    const entrypoint = JSON.parse(instructions.find((i) => i.getKeyword() === 'ENTRYPOINT')!.getArgumentsContent()!) as string[];
    const repoEntrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(await fs.readFile(path.join(REPO, 'Dockerfile'), 'utf8'))![1]!) as string[];
    assert.deepEqual(entrypoint, [...repoEntrypoint.slice(0, -1), 'node_modules/isogate/bin/isogate.mjs'], 'the repository\'s entrypoint, with the installed bin');
    const ignore = parseDockerignore(await fs.readFile(path.join(project, '.dockerignore'), 'utf8'));
    assert.ok(isIgnored(ignore, 'node_modules/isogate/package.json'));
    for (const copied of ['package.json', 'package-lock.json', 'gateway.config.ts', 'plugins/greeting.ts']) assert.ok(!isIgnored(ignore, copied), `${copied} reaches the build`);
  });

  it('refuses a directory that is not empty, writing nothing; takes one that has only .git', async () => {
    const used = path.join(tmp, 'used');
    await fs.mkdir(used);
    await fs.writeFile(path.join(used, 'notes.txt'), 'mine');
    const refused = await run(systemNode(), [BIN, 'used'], { cwd: tmp }).then(
      () => assert.fail('it wrote into a non-empty directory'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^create-isogate: used is not empty \(notes\.txt\): choose a new directory\n$/);
    assert.deepEqual(await fs.readdir(used), ['notes.txt']);
    const repo = path.join(tmp, 'with-git');
    await fs.mkdir(path.join(repo, '.git'), { recursive: true });
    await run(systemNode(), [BIN, 'with-git'], { cwd: tmp });
    await fs.access(path.join(repo, 'gateway.config.ts'));
  });

  it('publishes the bin, the template (dotfiles under other names, which npm keeps) and no tests', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: HERE });
    const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const paths = packed.files.map((f) => f.path).sort();
    assert.ok(paths.includes('template/_gitignore') && paths.includes('template/_npmrc'), paths.join(', '));
    assert.deepEqual(paths.filter((p) => !p.startsWith('template/') && !['index.js', 'create.js', 'package.json', 'README.md'].includes(p)), []);
  });
});
