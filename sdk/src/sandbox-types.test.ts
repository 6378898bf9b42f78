import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import ts from 'typescript';

// The type tests of a plugin's environment (sandbox/globals.test-d.ts) compiled as the scaffold's
// tsconfig compiles a plugin: `lib: ["es2024"]`, `types: ["@isogate/sdk/sandbox"]` (resolved
// through the SDK's exports, as in a plugin package). The repository's tsconfig cannot check them:
// it has Node's and the DOM's globals, where `process` and `fetch` exist.
it('a plugin compiles against @isogate/sdk/sandbox, and Node and DOM globals are type errors there', () => {
  const configPath = path.join(import.meta.dirname, 'sandbox', 'tsconfig.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')) });
  assert.ok(parsed);
  assert.deepEqual(parsed.errors, []);
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  const testFile = path.join(import.meta.dirname, 'sandbox', 'globals.test-d.ts');
  const sandboxTypes = program.getSourceFiles().find((f) => f.fileName.endsWith('/sdk/src/sandbox/index.d.ts'));
  assert.ok(sandboxTypes, '@isogate/sdk/sandbox resolved to sdk/src/sandbox/index.d.ts');
  assert.equal(program.getSourceFiles().some((f) => /@types\/node|lib\.dom\.d\.ts/.test(f.fileName)), false, 'neither Node nor the DOM is in the program');
  // Only the test file's own problems: the SDK's source files are checked by the repository's tsconfig.
  const source = program.getSourceFile(testFile)!;
  const problems = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source), ...program.getGlobalDiagnostics(), ...program.getOptionsDiagnostics()].map((d) => {
    const where = d.file && d.start !== undefined ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
    return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  assert.deepEqual(problems, []);
});
