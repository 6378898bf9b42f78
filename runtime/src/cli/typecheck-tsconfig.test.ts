import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSdkPackage } from '../../../sdk/scripts/build-package.ts';
import { typecheckConfig } from './typecheck-config.ts';

// A project outside this repository (no tsconfig.json or @types above it), with the published SDK
// in its node_modules: what `npm create isogate` makes, before anything else is installed.
// The check runs in the project's directory, as `npx isogate check` does (TypeScript looks for
// @types from there); this file has its own process under node --test.
let project: string;
const cwd = process.cwd();
before(async () => {
  project = await fs.mkdtemp(path.join(os.tmpdir(), 'isogate-check-tsconfig-'));
  // Before the compiler runs: it keeps the first current directory it sees.
  process.chdir(project);
  buildSdkPackage(path.join(project, 'node_modules', '@isogate', 'sdk'));
  await fs.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'p', private: true, type: 'module' }));
});
after(async () => {
  process.chdir(cwd);
  await fs.rm(project, { recursive: true, force: true });
});

async function check(config: string, tsconfig?: object): Promise<ReturnType<typeof typecheckConfig>> {
  const dir = await fs.mkdtemp(path.join(project, 'case-'));
  if (tsconfig) await fs.writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  const file = path.join(dir, 'gateway.config.ts');
  await fs.writeFile(file, `import { defineConfig } from '@isogate/sdk';\n${config}`);
  return typecheckConfig(file);
}

describe("isogate check: the project's tsconfig.json", () => {
  it('checks a project without @types/node and without a tsconfig (no "Cannot find type definition file for \'node\'")', async () => {
    assert.deepEqual(await check(`export default defineConfig({ routes: [{ path: '/a', upstream: 'http://127.0.0.1:1' }] });\n`), []);
  });

  it('still reports a type error in that project, with its position', async () => {
    const problems = await check(`export default defineConfig({ routes: [{ path: '/a', upstream: 42 }] });\n`);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]!.line, 2);
    assert.match(problems[0]!.message, /number/);
  });

  it('uses the compiler options the tsconfig sets (strict off: an implicit any is no error)', async () => {
    const config = `const id = (x) => x;\nexport default defineConfig({ routes: [{ path: id('/a'), upstream: 'http://127.0.0.1:1' }] });\n`;
    const strict = await check(config);
    assert.equal(strict.length, 1, JSON.stringify(strict));
    assert.match(strict[0]!.message, /implicitly has an 'any' type/);
    assert.deepEqual(await check(config, { compilerOptions: { strict: false, module: 'nodenext', allowImportingTsExtensions: true, noEmit: true } }), []);
  });

  it("reports the types the tsconfig names and the project lacks, as tsc would (types: ['node'] without @types/node)", async () => {
    const problems = await check(`export default defineConfig({ routes: [] });\n`, { compilerOptions: { types: ['node'] } });
    assert.ok(problems.some((p) => /type definition file for 'node'/.test(p.message)), JSON.stringify(problems));
  });

  it('reports an invalid tsconfig against the tsconfig, and ignores its include matching nothing', async () => {
    const problems = await check(`export default defineConfig({ routes: [] });\n`, { compilerOptions: { target: 'es1066' }, include: ['nothing-here'] });
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.match(problems[0]!.file, /tsconfig\.json$/);
    assert.match(problems[0]!.message, /target/);
  });
});
