/**
 * Build the publishable `@isogate/sdk` package: compiled JavaScript and declarations in `dist/`,
 * with a package.json whose exports point there.
 *
 * Why: inside this repository the SDK is consumed as TypeScript source (a workspace, so Node's
 * type stripping applies), but Node refuses to strip types under `node_modules`. A plugin author
 * who installs the SDK from npm and runs `node --test` on a plugin that imports
 * `@isogate/sdk/testing` would get ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING from the source
 * package. The workspace package.json stays as it is; publish the built directory instead:
 *
 *   npm run build:sdk            # writes sdk/.package
 *   npm publish sdk/.package
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SDK_DIR = path.resolve(import.meta.dirname, '..');

export class SdkBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SdkBuildError';
  }
}

interface SourcePackage {
  name: string;
  version: string;
  /** A source file, or `{ types }` for a declarations-only entry (`./sandbox`: a plugin's globals). */
  exports: Record<string, string | { types: string }>;
  [key: string]: unknown;
}

/** `./src/a/b.ts` → `./dist/a/b` (the path without extension, under dist). */
function distBase(sourcePath: string): string {
  if (!sourcePath.startsWith('./src/') || !sourcePath.endsWith('.ts')) throw new SdkBuildError(`export target ${sourcePath} is not a ./src/**/*.ts file`);
  return `./dist/${sourcePath.slice('./src/'.length, -'.ts'.length)}`;
}

/**
 * Compile every exported entry (and what it imports; tests are not imported, so not built) into
 * `outDir/dist`, and write `outDir/package.json` with the same metadata and exports mapped to the
 * built files (`types` first, as TypeScript requires). Returns the output directory.
 */
export function buildSdkPackage(outDir: string): string {
  const pkg = JSON.parse(readFileSync(path.join(SDK_DIR, 'package.json'), 'utf8')) as SourcePackage;
  const entries = Object.values(pkg.exports)
    .filter((p) => typeof p === 'string')
    .map((p) => path.join(SDK_DIR, p));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2024,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    declaration: true,
    rootDir: path.join(SDK_DIR, 'src'),
    outDir: path.join(outDir, 'dist'),
    // The sources import each other as `./x.ts`; the emitted JavaScript imports `./x.js`.
    rewriteRelativeImportExtensions: true,
    allowImportingTsExtensions: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    types: ['node'],
    noEmitOnError: true,
  };
  // From the SDK's directory whatever the current one is: `types: ['node']` is looked up from there.
  const host = ts.createCompilerHost(options);
  host.getCurrentDirectory = () => SDK_DIR;
  const program = ts.createProgram(entries, options, host);
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0 || emitted.emitSkipped) {
    const host: ts.FormatDiagnosticsHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => SDK_DIR, getNewLine: () => '\n' };
    throw new SdkBuildError(`the SDK does not compile:\n${ts.formatDiagnostics(diagnostics, host)}`);
  }
  const exportsMap: Record<string, { types: string; default?: string }> = {};
  for (const [subpath, source] of Object.entries(pkg.exports)) {
    if (typeof source !== 'string') {
      // Declarations only: copied as they are (tsc does not emit a .d.ts it was given).
      const target = `./dist/${source.types.slice('./src/'.length)}`;
      mkdirSync(path.dirname(path.join(outDir, target)), { recursive: true });
      cpSync(path.join(SDK_DIR, source.types), path.join(outDir, target));
      exportsMap[subpath] = { types: target };
      continue;
    }
    const base = distBase(source);
    for (const file of [`${base}.js`, `${base}.d.ts`]) if (!existsSync(path.join(outDir, file))) throw new SdkBuildError(`${file} was not emitted`);
    exportsMap[subpath] = { types: `${base}.d.ts`, default: `${base}.js` };
  }
  const published = { ...pkg, exports: exportsMap, files: ['dist'] };
  writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
  for (const doc of ['README.md', 'LICENSE']) if (existsSync(path.join(SDK_DIR, doc))) cpSync(path.join(SDK_DIR, doc), path.join(outDir, doc));
  return outDir;
}

if (import.meta.main) {
  const out = path.resolve(process.argv[2] ?? path.join(SDK_DIR, '.package'));
  try {
    buildSdkPackage(out);
    process.stdout.write(`@isogate/sdk built in ${path.relative(process.cwd(), out) || out} (publish with: npm publish ${path.relative(process.cwd(), out) || out})\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
