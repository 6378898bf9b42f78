import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import ts from 'typescript';
import { buildSdkPackage } from './build-package.ts';

// The published SDK, installed the way a plugin author gets it: a real node_modules directory
// outside this repository, where Node will not strip TypeScript.
let tmp: string;
let consumer: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'isogate-sdk-package-'));
  const built = buildSdkPackage(path.join(tmp, 'package'));
  consumer = path.join(tmp, 'my-plugin');
  await fs.mkdir(path.join(consumer, 'node_modules', '@isogate'), { recursive: true });
  await fs.cp(built, path.join(consumer, 'node_modules', '@isogate', 'sdk'), { recursive: true });
  await fs.writeFile(path.join(consumer, 'package.json'), JSON.stringify({ name: 'my-plugin', type: 'module', private: true }));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('the published @isogate/sdk package (npm run build:sdk)', () => {
  it('ships only JavaScript and declarations, and every export points at a built file', async () => {
    const pkgDir = path.join(consumer, 'node_modules', '@isogate', 'sdk');
    const pkg = JSON.parse(await fs.readFile(path.join(pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }>; files: string[] };
    assert.deepEqual(pkg.files, ['dist']);
    assert.ok(Object.keys(pkg.exports).includes('./testing'));
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (subpath === './sandbox') {
        // A plugin's globals: declarations only, nothing to import at run time.
        assert.deepEqual(Object.keys(target), ['types']);
        await fs.access(path.join(pkgDir, target.types));
        continue;
      }
      assert.deepEqual(Object.keys(target), ['types', 'default'], 'types must come first');
      await fs.access(path.join(pkgDir, target.types));
      await fs.access(path.join(pkgDir, target.default));
    }
    const files = (await fs.readdir(path.join(pkgDir, 'dist'), { recursive: true })).map(String);
    assert.deepEqual(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), []);
    assert.deepEqual(files.filter((f) => f.includes('.test')), [], 'tests are not shipped');
    assert.match(await fs.readFile(path.join(pkgDir, 'README.md'), 'utf8'), /^# @isogate\/sdk\n/, 'the README is shipped');
  });

  it("runs a plugin author's test from node_modules with plain Node (no type stripping there)", async () => {
    await fs.writeFile(
      path.join(consumer, 'plugin.test.js'),
      `import assert from 'node:assert/strict';
import { it } from 'node:test';
import { definePlugin } from '@isogate/sdk';
import { PluginLoadError, testPlugin } from '@isogate/sdk/testing';
const plugin = definePlugin({ name: 'stamp', version: '1.0.0', onRequest(req, ctx) { req.headers.set('x-stamp', 'on'); ctx.log.info('stamped'); } });
it('stamps (in Node: the sandbox comes with the isogate package, not installed here)', async () => {
  const out = await (await testPlugin(plugin, {}, { mode: 'node' })).request({ path: '/a' });
  assert.equal(out.forwarded.headers['x-stamp'], 'on');
  assert.equal(out.logs.length, 1);
});
it('says which package the sandbox needs when it is missing, not a module-resolution stack', async () => {
  await assert.rejects(testPlugin(() => import('./plugin.js')), (err) => {
    assert.ok(err instanceof PluginLoadError);
    assert.equal(err.kind, 'sandbox-unavailable');
    assert.match(err.message, /npm install --save-dev isogate/);
    return true;
  });
});
`,
    );
    await fs.writeFile(path.join(consumer, 'plugin.js'), `import { definePlugin } from '@isogate/sdk';\nexport default definePlugin({ name: 'p', version: '1.0.0', onRequest() {} });\n`);
    const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
    const { stdout } = await promisify(execFile)(process.execPath, ['--test', '--test-reporter=tap', 'plugin.test.js'], { cwd: consumer, env });
    assert.match(stdout, /# pass 2\n/);
    assert.match(stdout, /# fail 0\n/);
  });

  it('gives TypeScript users the real types from the declarations (a bad plugin is a type error)', async () => {
    const file = path.join(consumer, 'index.ts');
    await fs.writeFile(
      file,
      `import { definePlugin } from '@isogate/sdk';
import { testPlugin } from '@isogate/sdk/testing';
export const good = definePlugin({ name: 'x', version: '1.0.0', onRequest(req) { req.headers.set('x-a', '1'); } });
export const bad = definePlugin({ name: 'y', version: '1.0.0', onRequest() { return 42; } });
void testPlugin;
`,
    );
    const program = ts.createProgram([file], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, types: [] });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? ts.getLineAndCharacterOfPosition(d.file, d.start ?? 0).line + 1 : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^4: .*number/);
  });

  it("types plugin code with the sandbox's globals (types: ['@isogate/sdk/sandbox']), without Node's", async () => {
    const file = path.join(consumer, 'sandboxed.ts');
    await fs.writeFile(
      file,
      `import { definePlugin } from '@isogate/sdk';
export default definePlugin({ name: 's', version: '1.0.0', async onRequest(req) {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('k'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  console.log(new URL(req.path, 'https://x.example').href, btoa('x'), crypto.randomUUID(), key.type);
  return { status: 200, body: { pid: process.pid } };
} });
`,
    );
    const program = ts.createProgram([file], { target: ts.ScriptTarget.ES2024, lib: ['lib.es2024.d.ts'], module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, types: ['@isogate/sdk/sandbox'] });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? ts.getLineAndCharacterOfPosition(d.file, d.start ?? 0).line + 1 : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^5: Cannot find name 'process'/);
  });
});
