import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { isIgnored, parseDockerignore } from './dockerignore.ts';

// No Docker engine runs here, so the image is never built in the tests. The Dockerfile is checked
// with dockerfile-utils' validator (the linter behind VS Code's Dockerfile support; hadolint has
// no Debian or npm package) and parsed with dockerfile-ast for what a build would get wrong:
// the stages, the user, the entrypoint, the workspaces npm ci needs, and the build context that
// .dockerignore leaves.

const REPO = path.resolve(import.meta.dirname, '../../..');
const text = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(text);
const ignore = parseDockerignore(fs.readFileSync(path.join(REPO, '.dockerignore'), 'utf8'));

const args = (i: Instruction) => i.getExpandedArguments().map((a) => a.getValue());
/** The instructions of each stage (a stage starts at its FROM). */
const stages: Instruction[][] = [];
for (const instruction of dockerfile.getInstructions()) {
  if (instruction.getKeyword() === 'FROM') stages.push([]);
  stages.at(-1)?.push(instruction);
}
const finalStage = stages.at(-1) ?? [];
const inStage = (stage: Instruction[], keyword: string) => stage.filter((i) => i.getKeyword() === keyword);
/** COPY from the build context (not --from another stage): its sources. */
const fromStage = (i: Instruction) => i instanceof Copy && i.getFromFlag() !== null;
const contextSources = (stage: Instruction[]) =>
  inStage(stage, 'COPY')
    .filter((i) => !fromStage(i))
    .flatMap((i) => args(i).slice(0, -1));

/** Workspace directories, as the lockfile links them into node_modules. */
const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { link?: boolean; resolved?: string }> };
const workspaces = Object.values(lock.packages).flatMap((p) => (p.link && p.resolved ? [p.resolved] : []));

test('dockerfile-utils finds no problem in the Dockerfile', () => {
  const problems = validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
  assert.deepEqual(problems, []);
});

test('multi-stage on Node 24 slim: an install stage, then a runtime stage without npm ci', () => {
  assert.ok(stages.length >= 2, `${stages.length} stage(s)`);
  for (const stage of stages) {
    const image = args(stage[0]!)[0]!;
    assert.match(image, /^node:24(\.\d+){0,2}-((bookworm|trixie)-)?slim(@sha256:[0-9a-f]{64})?$/, `FROM ${image}`);
  }
  const installs = stages.slice(0, -1).flatMap((s) => inStage(s, 'RUN')).map((i) => args(i).join(' '));
  assert.ok(installs.some((run) => /^npm ci .*--omit=dev/.test(run)), `an earlier stage installs production dependencies only: ${installs.join(' | ')}`);
  assert.deepEqual(inStage(finalStage, 'RUN').map((i) => args(i).join(' ')), [], 'the runtime stage runs nothing (no compilers or caches in the image)');
  const fromDeps = inStage(finalStage, 'COPY').filter(fromStage);
  assert.ok(fromDeps.some((i) => args(i).includes('/app/node_modules')), 'the runtime stage takes node_modules from the install stage');
});

test('every workspace package.json is copied before npm ci, and every workspace into the image', () => {
  assert.ok(workspaces.length > 0, 'the lockfile links workspaces');
  const install = stages.find((s) => inStage(s, 'RUN').some((i) => args(i)[0] === 'npm'))!;
  const beforeInstall = contextSources(install);
  for (const dir of workspaces) {
    assert.ok(beforeInstall.includes(`${dir}/package.json`), `${dir}/package.json is copied before npm ci (or npm ci finds the lockfile out of date)`);
    const copied = contextSources(finalStage);
    assert.ok(copied.some((src) => dir === src || dir.startsWith(`${src}/`)), `${dir} is copied into the image (node_modules links to it)`);
  }
});

test('runs as a numeric non-root user, with the node process itself as the entrypoint', () => {
  const user = inStage(finalStage, 'USER').map(args).at(-1)?.[0];
  assert.ok(user !== undefined, 'the runtime stage sets USER');
  assert.match(user, /^[1-9]\d*(:\d+)?$/, `USER ${user}: a numeric uid other than 0, so that Kubernetes' runAsNonRoot can check it`);
  const entrypoints = inStage(finalStage, 'ENTRYPOINT');
  assert.equal(entrypoints.length, 1, 'one ENTRYPOINT');
  const json = entrypoints[0]!.getArgumentsContent()?.trim() ?? '';
  assert.ok(json.startsWith('['), `ENTRYPOINT in exec form, so node is PID 1 and gets SIGTERM (a shell form runs /bin/sh -c): ${json}`);
  const entrypoint = JSON.parse(json) as string[];
  assert.equal(entrypoint[0], 'node', `node itself, not npm or npx (they do not pass SIGTERM on): ${json}`);
  assert.ok(entrypoint.includes('--no-node-snapshot'), 'isolated-vm needs --no-node-snapshot');
  const script = entrypoint.find((a) => a.endsWith('.mjs'));
  assert.ok(script && fs.existsSync(path.join(REPO, script)), `the entry script ${script} exists`);
  assert.ok(contextSources(finalStage).some((src) => script.startsWith(`${src}/`)), `${script} is copied into the image`);
});

test('.dockerignore keeps node_modules and .git out, and everything the image copies in', () => {
  for (const file of ['node_modules/undici/package.json', 'runtime/node_modules/x/index.js', '.git/HEAD']) {
    assert.ok(isIgnored(ignore, file), `${file} is left out of the build context`);
  }
  const tracked = execFileSync('git', ['ls-files'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean);
  const sources = [...new Set(stages.flatMap(contextSources))];
  for (const source of sources) {
    assert.ok(!isIgnored(ignore, source), `COPY ${source}: excluded by .dockerignore`);
    const files = tracked.filter((f) => f === source || f.startsWith(`${source}/`));
    assert.ok(files.length > 0, `COPY ${source}: no tracked file there`);
    // Tests are left out on purpose; anything else the image copies must reach it.
    const lost = files.filter((f) => !f.endsWith('.test.ts') && isIgnored(ignore, f));
    assert.deepEqual(lost, [], `files under ${source} that .dockerignore leaves out of the image`);
  }
});
