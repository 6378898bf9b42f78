/**
 * Build the publishable `isogate` package: the runtime, the built-in plugins and the CLI compiled
 * to JavaScript with declarations and source maps, in a directory `npm publish` takes as it is.
 *
 * Why: in this repository Node runs the TypeScript sources (type stripping), but Node refuses to
 * strip types under `node_modules`, so the sources cannot be what a project installs. The
 * workspace package.json stays as it is (the repository keeps running the sources); this writes a
 * second one for the built files.
 *
 * Layout: the built-ins live beside the runtime in this repository (plugins/, outside runtime/)
 * and import the runtime's modules by relative path, so the package mirrors the repository:
 *
 *   bin/isogate.mjs          the same bin, importing the compiled CLI
 *   dist/runtime/src/…       runtime/src, compiled
 *   dist/plugins/…           the built-in plugins, compiled
 *
 * Only what the entry points reach is built (tests and their helpers never are), including the
 * modules the runtime names by file rather than importing: worker threads
 * (`new URL('./x.ts', import.meta.url)`), `require('./x.ts')` through createRequire, and esbuild
 * entries (`path.join(import.meta.dirname, 'x.ts')`). tsc rewrites `.ts` to `.js` in imports
 * (rewriteRelativeImportExtensions) but not in those strings; this build rewrites them the same
 * way, and copies the non-TypeScript files they name (a plain `.mjs` worker).
 *
 *   npm run build                        # this, @isogate/sdk and create-isogate (scripts/build.ts)
 *   node runtime/scripts/build-package.ts [outDir]   # this one only (default runtime/.package)
 */
import { builtinModules } from 'node:module';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const RUNTIME_DIR = path.resolve(import.meta.dirname, '..');
const REPO_DIR = path.dirname(RUNTIME_DIR);
/** The directories whose sources the package is made of. */
const PACKAGE_SOURCES = [path.join(RUNTIME_DIR, 'src'), path.join(REPO_DIR, 'plugins')];
const BIN_SOURCE = path.join(RUNTIME_DIR, 'bin', 'isogate.mjs');
/** The bin's import of the CLI, as written in the repository and as published. */
const BIN_IMPORT = /await import\('(\.\.\/src\/[\w/-]+)\.ts'\);/;

export class PackageBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackageBuildError';
  }
}

interface WorkspacePackage {
  name: string;
  version: string;
  description?: string;
  license?: string;
  engines?: Record<string, string>;
  bin: Record<string, string>;
  exports: Record<string, string>;
  dependencies: Record<string, string>;
  keywords?: string[];
}

const isRelative = (specifier: string) => specifier.startsWith('./') || specifier.startsWith('../');
const isOwnSource = (file: string) => PACKAGE_SOURCES.some((dir) => file.startsWith(dir + path.sep));

function isImportMeta(node: ts.Node | undefined, property: 'url' | 'dirname'): boolean {
  return (
    node !== undefined &&
    ts.isPropertyAccessExpression(node) &&
    ts.isMetaProperty(node.expression) &&
    node.expression.keywordToken === ts.SyntaxKind.ImportKeyword &&
    node.name.text === property
  );
}

/** A file the code names by path rather than by an import: the string literal and the file it names. */
interface FileReference {
  readonly literal: ts.StringLiteralLike;
  readonly target: string;
}

/**
 * `new URL('./x.ts', import.meta.url)`, `require('./x.ts')` and `path.join(import.meta.dirname,
 * 'x.ts')` in `source`: the ways the runtime names its own modules outside import statements.
 */
export function fileReferences(source: ts.SourceFile): FileReference[] {
  const dir = path.dirname(source.fileName);
  const found: FileReference[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL') {
      const [first, second] = node.arguments ?? [];
      if (first && ts.isStringLiteralLike(first) && isRelative(first.text) && isImportMeta(second, 'url')) found.push({ literal: first, target: path.resolve(dir, first.text) });
    }
    if (ts.isCallExpression(node)) {
      const [first, ...rest] = node.arguments;
      if (ts.isIdentifier(node.expression) && node.expression.text === 'require' && first && ts.isStringLiteralLike(first) && isRelative(first.text)) {
        found.push({ literal: first, target: path.resolve(dir, first.text) });
      }
      const last = rest.at(-1);
      if (isImportMeta(first, 'dirname') && last && rest.every((arg) => ts.isStringLiteralLike(arg))) {
        found.push({ literal: last as ts.StringLiteralLike, target: path.join(dir, ...rest.map((arg) => (arg as ts.StringLiteralLike).text)) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const TS_SOURCE = /(?<!\.d)\.ts$/;

/** The transformer that makes those references name the compiled `.js` files. */
function rewriteFileReferences(context: ts.TransformationContext): ts.Transformer<ts.SourceFile> {
  return (source) => {
    const literals = new Set(fileReferences(source).filter((r) => TS_SOURCE.test(r.literal.text)).map((r) => r.literal as ts.Node));
    if (literals.size === 0) return source;
    const visit = (node: ts.Node): ts.Node =>
      literals.has(node) ? context.factory.createStringLiteral((node as ts.StringLiteralLike).text.replace(TS_SOURCE, '.js')) : ts.visitEachChild(node, visit, context);
    return ts.visitEachChild(source, visit, context);
  };
}

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[]): string {
  const host: ts.FormatDiagnosticsHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => REPO_DIR, getNewLine: () => '\n' };
  return ts.formatDiagnostics(diagnostics, host);
}

/** The repository's compiler options, made to emit JavaScript, declarations and source maps into `outDir`. */
function compilerOptions(outDir: string): ts.CompilerOptions {
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(REPO_DIR, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new PackageBuildError(formatDiagnostics([d])); } });
  if (!parsed) throw new PackageBuildError('cannot read tsconfig.json');
  return {
    ...parsed.options,
    noEmit: false,
    outDir,
    rootDir: REPO_DIR,
    declaration: true,
    sourceMap: true,
    // The sources are not published: the maps carry them.
    inlineSources: true,
    rewriteRelativeImportExtensions: true,
    allowImportingTsExtensions: true,
    noEmitOnError: true,
  };
}

/** The package name of a bare specifier (`@scope/name/sub` → `@scope/name`). */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Bare module specifiers in `source` (imports, exports, dynamic imports, require). */
function bareSpecifiers(source: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    let specifier: ts.Expression | undefined;
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) specifier = node.moduleSpecifier;
    if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) specifier = node.arguments[0];
    if (specifier && ts.isStringLiteralLike(specifier) && !isRelative(specifier.text) && !specifier.text.startsWith('/')) {
      const typeOnly = ts.isImportDeclaration(node) && node.importClause?.isTypeOnly === true;
      if (!typeOnly) found.push(specifier.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

export interface BuildOptions {
  /** The version to publish (default: runtime/package.json's). `@isogate/sdk` is required at the same version. */
  version?: string;
}

/**
 * Compile the package into `outDir` (emptied first) and write its package.json, bin and README.
 * Returns `outDir`. Throws a PackageBuildError when the sources do not compile, or when the result
 * would not run: a file named by path that was not built, an import of a package that is not a
 * dependency, an export that points nowhere.
 */
export function buildIsogatePackage(outDir: string, options: BuildOptions = {}): string {
  const pkg = JSON.parse(readFileSync(path.join(RUNTIME_DIR, 'package.json'), 'utf8')) as WorkspacePackage;
  const version = options.version ?? pkg.version;
  const binText = readFileSync(BIN_SOURCE, 'utf8');
  const cli = BIN_IMPORT.exec(binText);
  if (!cli) throw new PackageBuildError(`${path.relative(REPO_DIR, BIN_SOURCE)} does not import the CLI as await import('../src/….ts')`);
  const roots = new Set([...Object.values(pkg.exports), `${cli[1]!.replace('../', './')}.ts`].map((p) => path.resolve(RUNTIME_DIR, p)));

  rmSync(outDir, { recursive: true, force: true });
  const distDir = path.join(outDir, 'dist');
  const compiler = compilerOptions(distDir);
  // The modules named by path are not imports, so the compiler does not find them: add them as
  // roots until nothing new turns up (a worker may name another file).
  let program: ts.Program | undefined;
  const assets = new Map<string, string>();
  const references: FileReference[] = [];
  for (;;) {
    program = ts.createProgram([...roots], compiler, undefined, program);
    const before = roots.size;
    references.length = 0;
    for (const source of program.getSourceFiles()) {
      if (!isOwnSource(source.fileName)) continue;
      for (const reference of fileReferences(source)) {
        references.push(reference);
        if (!existsSync(reference.target)) throw new PackageBuildError(`${path.relative(REPO_DIR, source.fileName)} names ${reference.literal.text}, which does not exist`);
        if (TS_SOURCE.test(reference.target)) roots.add(reference.target);
        else assets.set(reference.target, path.join(distDir, path.relative(REPO_DIR, reference.target)));
      }
    }
    if (roots.size === before) break;
  }

  const own = program.getSourceFiles().filter((s) => isOwnSource(s.fileName));
  const strays = program.getSourceFiles().filter((s) => !s.isDeclarationFile && !isOwnSource(s.fileName) && !s.fileName.includes(`${path.sep}node_modules${path.sep}`) && !s.fileName.startsWith(path.join(REPO_DIR, 'sdk') + path.sep));
  if (strays.length > 0) throw new PackageBuildError(`the package's sources import files outside runtime/src and plugins/: ${strays.map((s) => path.relative(REPO_DIR, s.fileName)).join(', ')}`);
  const tests = own.filter((s) => /\.test(-d)?\.ts$/.test(s.fileName));
  if (tests.length > 0) throw new PackageBuildError(`the package's sources import tests: ${tests.map((s) => path.relative(REPO_DIR, s.fileName)).join(', ')}`);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) throw new PackageBuildError(`the runtime does not compile:\n${formatDiagnostics(diagnostics)}`);

  // Only the package's own files: @isogate/sdk is in the program as sources (a workspace), but it
  // is a dependency, published on its own.
  for (const source of own) {
    const emitted = program.emit(source, undefined, undefined, false, { before: [rewriteFileReferences] });
    if (emitted.emitSkipped || emitted.diagnostics.length > 0) throw new PackageBuildError(`${path.relative(REPO_DIR, source.fileName)} was not emitted:\n${formatDiagnostics(emitted.diagnostics)}`);
  }
  for (const [from, to] of assets) {
    mkdirSync(path.dirname(to), { recursive: true });
    cpSync(from, to);
  }
  const built = (source: string) => path.join(distDir, path.relative(REPO_DIR, source)).replace(TS_SOURCE, '.js');
  for (const reference of references) {
    const target = TS_SOURCE.test(reference.target) ? built(reference.target) : assets.get(reference.target)!;
    if (!existsSync(target)) throw new PackageBuildError(`${reference.literal.text} (named in ${path.relative(REPO_DIR, reference.literal.getSourceFile().fileName)}) was not built`);
  }

  // Every package the built code loads must be a dependency: in this repository a hoisted
  // devDependency would resolve anyway, in a project it would not.
  const dependencies: Record<string, string> = { ...pkg.dependencies, '@isogate/sdk': version };
  const builtins = new Set(builtinModules);
  const undeclared = new Set<string>();
  for (const source of own) {
    for (const specifier of bareSpecifiers(source)) {
      const name = packageName(specifier);
      if (specifier.startsWith('node:') || builtins.has(name) || name === pkg.name || dependencies[name] !== undefined) continue;
      undeclared.add(`${name} (${path.relative(REPO_DIR, source.fileName)})`);
    }
  }
  if (undeclared.size > 0) throw new PackageBuildError(`imported but not in runtime/package.json's dependencies: ${[...undeclared].join(', ')}`);

  const exportsMap: Record<string, { types: string; default: string }> = {};
  for (const [subpath, source] of Object.entries(pkg.exports)) {
    const js = built(path.resolve(RUNTIME_DIR, source));
    const entry = { types: `./${path.relative(outDir, js.replace(/\.js$/, '.d.ts'))}`, default: `./${path.relative(outDir, js)}` };
    for (const file of Object.values(entry)) if (!existsSync(path.join(outDir, file))) throw new PackageBuildError(`export ${subpath}: ${file} was not emitted`);
    exportsMap[subpath] = entry;
  }
  const cliJs = built(path.resolve(RUNTIME_DIR, 'bin', `${cli[1]!}.ts`));
  mkdirSync(path.join(outDir, 'bin'), { recursive: true });
  const binTarget = path.relative(path.join(outDir, 'bin'), cliJs);
  writeFileSync(path.join(outDir, 'bin', 'isogate.mjs'), binText.replace(BIN_IMPORT, `await import('${binTarget}');`), { mode: 0o755 });

  const published = {
    name: pkg.name,
    version,
    description: pkg.description,
    type: 'module',
    license: pkg.license,
    keywords: pkg.keywords ?? ['isogate', 'api-gateway'],
    engines: pkg.engines,
    bin: { isogate: './bin/isogate.mjs' },
    exports: exportsMap,
    files: ['bin', 'dist'],
    dependencies: Object.fromEntries(Object.entries(dependencies).sort(([a], [b]) => a.localeCompare(b))),
  };
  writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
  for (const doc of ['README.md', 'LICENSE']) if (existsSync(path.join(RUNTIME_DIR, doc))) cpSync(path.join(RUNTIME_DIR, doc), path.join(outDir, doc));
  return outDir;
}

if (import.meta.main) {
  const out = path.resolve(process.argv[2] ?? path.join(RUNTIME_DIR, '.package'));
  try {
    const started = performance.now();
    buildIsogatePackage(out);
    const shown = path.relative(process.cwd(), out) || out;
    process.stdout.write(`isogate built in ${shown} in ${((performance.now() - started) / 1000).toFixed(1)} s (publish with: npm publish ${shown})\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
