import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { isPathSpecifier } from '../isolate/bundle-plugin.ts';
import type { TypeProblem } from './typecheck-config.ts';

/**
 * The local plugins a config uses, type-checked in a plugin's environment: ECMAScript and the
 * globals of `@isogate/sdk/sandbox` (URL, TextEncoder, crypto…), no Node and no DOM, as the
 * scaffold's tsconfig does. The config itself is checked with Node's types, where `process`,
 * `setTimeout` and `fetch` exist; in a plugin they would fail in the gateway, so here they are
 * errors. Plugin packages from node_modules are libraries, checked by their own authors.
 */
export interface PluginTypecheck {
  /** The plugin files checked here (a plugin's entry and the local files it imports). */
  readonly files: ReadonlySet<string>;
  readonly problems: TypeProblem[];
}

/** Local plugin entries named by `usePlugin` in the config (or a local file it imports): `() => import(path)`, a path, or `typeof import(path)`. */
function pluginEntries(program: ts.Program): string[] {
  const entries = new Set<string>();
  const visit = (source: ts.SourceFile, node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : '';
      if (name === 'usePlugin') {
        const specifiers: string[] = [];
        const arg = node.arguments[0];
        if (arg && ts.isStringLiteralLike(arg)) specifiers.push(arg.text);
        // usePlugin(() => import('./p.ts'), ...)
        const imported = arg && ts.isArrowFunction(arg) && ts.isCallExpression(arg.body) && arg.body.expression.kind === ts.SyntaxKind.ImportKeyword ? arg.body.arguments[0] : undefined;
        if (imported && ts.isStringLiteralLike(imported)) specifiers.push(imported.text);
        const typeArg = node.typeArguments?.[0];
        if (typeArg && ts.isImportTypeNode(typeArg) && ts.isLiteralTypeNode(typeArg.argument) && ts.isStringLiteral(typeArg.argument.literal)) specifiers.push(typeArg.argument.literal.text);
        for (const s of specifiers) if (isPathSpecifier(s)) entries.add(path.resolve(path.dirname(source.fileName), s));
      }
    }
    ts.forEachChild(node, (child) => visit(source, child));
  };
  for (const source of program.getSourceFiles()) {
    if (source.isDeclarationFile || source.fileName.includes('/node_modules/')) continue;
    visit(source, source);
  }
  return [...entries].filter((f) => existsSync(f));
}

/** The directory of the installed @isogate/sdk package, seen from `fromFile`. */
function sdkRoot(fromFile: string, options: ts.CompilerOptions): string | null {
  const resolved = ts.resolveModuleName('@isogate/sdk', fromFile, options, ts.sys).resolvedModule;
  if (!resolved) return null;
  for (let dir = path.dirname(resolved.resolvedFileName); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@isogate/sdk') return dir;
  }
  return null;
}

/**
 * Type-check the local plugins `configProgram`'s config uses, in the plugin environment. The
 * sandbox's declarations come from the SDK the config resolves (the one the editor sees).
 */
export function typecheckPlugins(configProgram: ts.Program, configFile: string, host?: ts.CompilerHost): PluginTypecheck {
  const entries = pluginEntries(configProgram);
  if (entries.length === 0) return { files: new Set(), problems: [] };
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2024,
    lib: ['lib.es2024.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: [],
  };
  const sandbox = ts.resolveTypeReferenceDirective('@isogate/sdk/sandbox', configFile, options, ts.sys).resolvedTypeReferenceDirective?.resolvedFileName;
  if (!sandbox) {
    const problem = { file: configFile, line: 0, column: 0, message: 'plugins are not type-checked: the installed @isogate/sdk has no "@isogate/sdk/sandbox" types (update it)' };
    return { files: new Set(), problems: [problem] };
  }
  const program = ts.createProgram([sandbox, ...entries], options, host);
  // The SDK's own sources (a workspace install) are the SDK's business, as node_modules are.
  const sdk = sdkRoot(configFile, options);
  const files = new Set<string>();
  const problems: TypeProblem[] = [];
  for (const source of program.getSourceFiles()) {
    if (source.isDeclarationFile || source.fileName.includes('/node_modules/') || (sdk !== null && source.fileName.startsWith(sdk + path.sep))) continue;
    files.add(source.fileName);
    for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const { line, character } = source.getLineAndCharacterOfPosition(d.start ?? 0);
      problems.push({ file: source.fileName, line: line + 1, column: character + 1, message: ts.flattenDiagnosticMessageText(d.messageText, '\n') });
    }
  }
  return { files, problems };
}
