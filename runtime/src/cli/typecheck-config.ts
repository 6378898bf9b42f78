import path from 'node:path';
import ts from 'typescript';
import { isPathSpecifier } from '../isolate/bundle-plugin.ts';
import { typecheckPlugins } from './typecheck-plugins.ts';

export interface TypeProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/**
 * What one checker keeps between runs (`isogate dev` checks after every change): a compiler host
 * that hands back unchanged source files, and the previous program, so a run re-reads files but
 * re-parses only the changed ones (runtime/src/cli/background-typecheck.ts).
 */
export interface TypecheckSession {
  readonly host: ts.CompilerHost;
  previous?: ts.Program;
}

/**
 * Type-check a config file the way an editor would (strict), reporting problems in the config
 * and the local files it imports — not in libraries.
 */
export function typecheckConfig(configPath: string, session?: TypecheckSession): TypeProblem[] {
  const file = path.resolve(configPath);
  const { options, problems } = projectCompilerOptions(file);
  const program = ts.createProgram([file], options, session?.host, session?.previous);
  if (session) session.previous = program;
  const diagnostics = ts.getPreEmitDiagnostics(program);
  for (const d of diagnostics) {
    if (d.file && d.file.fileName.includes('/node_modules/')) continue;
    const at = diagnosticAt(d);
    problems.push({ file: at.file ?? file, line: at.line, column: at.column, message: at.message });
  }
  for (const source of program.getSourceFiles()) {
    if (source.isDeclarationFile || source.fileName.includes('/node_modules/')) continue;
    problems.push(...mismatchedPluginTypes(source));
  }
  // Local plugins are checked again in a plugin's environment (no Node, no DOM); that check is theirs.
  const plugins = typecheckPlugins(program, file, session?.host);
  return [...problems.filter((p) => !plugins.files.has(p.file)), ...plugins.problems];
}

/** What the config is checked with when the project's tsconfig.json does not say otherwise. */
/**
 * Strict NodeNext checking of code we generate (a consumer config, manifests) against installed
 * packages' declarations, with no ambient types: what `isogate plugin verify` and the manifest
 * check compile with.
 */
export const GENERATED_CODE_OPTIONS: Readonly<ts.CompilerOptions> = Object.freeze({
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2024,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  skipLibCheck: true,
  types: [],
});

const DEFAULT_OPTIONS: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2024,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  allowImportingTsExtensions: true,
  skipLibCheck: true,
};

/**
 * The project's compiler options: its tsconfig.json (the nearest one above the config, as an
 * editor finds it) over the defaults, so `isogate check` sees the config as the editor does.
 * No `types` unless the tsconfig names some: TypeScript then includes the installed @types
 * packages, and a project without @types/node is not told that 'node' is missing. The files are
 * the config and what it imports, never the tsconfig's `include`. Problems in the tsconfig itself
 * are reported against it.
 */
function projectCompilerOptions(configFile: string): { options: ts.CompilerOptions; problems: TypeProblem[] } {
  const tsconfig = ts.findConfigFile(path.dirname(configFile), ts.sys.fileExists);
  if (!tsconfig) return { options: { ...DEFAULT_OPTIONS, noEmit: true }, problems: [] };
  const unrecoverable: ts.Diagnostic[] = [];
  const parsed = ts.getParsedCommandLineOfConfigFile(tsconfig, { noEmit: true }, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => unrecoverable.push(d) });
  // 18003: no inputs match the tsconfig's include (its files are not what is checked here).
  const errors = [...unrecoverable, ...(parsed?.errors ?? [])].filter((d) => d.code !== 18003);
  const problems = errors.map((d) => {
    const at = diagnosticAt(d);
    return { file: at.file ?? tsconfig, line: at.line, column: at.column, message: at.message };
  });
  // Nothing is written: the options that only make sense when emitting are turned off with it.
  return { options: { ...DEFAULT_OPTIONS, ...parsed?.options, noEmit: true, composite: false, incremental: false, emitDeclarationOnly: false }, problems };
}

/** The same plugin, whether written as a package name or as a path from `dir`. */
function sameSpecifier(a: string, b: string, dir: string): boolean {
  if (isPathSpecifier(a) && isPathSpecifier(b)) return path.resolve(dir, a) === path.resolve(dir, b);
  return a === b;
}

/**
 * `usePlugin<typeof import('A')>('B', options)` checks the options against plugin A and loads
 * plugin B. The compiler cannot tell that they differ, so a copy-paste slip would check options
 * against the wrong plugin: report it where both are string literals.
 */
function mismatchedPluginTypes(source: ts.SourceFile): TypeProblem[] {
  const found: TypeProblem[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : '';
      const typeArg = node.typeArguments?.[0];
      const arg = node.arguments[0];
      if (
        name === 'usePlugin' &&
        typeArg &&
        ts.isImportTypeNode(typeArg) &&
        typeArg.isTypeOf &&
        ts.isLiteralTypeNode(typeArg.argument) &&
        ts.isStringLiteral(typeArg.argument.literal) &&
        arg &&
        ts.isStringLiteralLike(arg)
      ) {
        const typed = typeArg.argument.literal.text;
        if (!sameSpecifier(typed, arg.text, path.dirname(source.fileName))) {
          const { line, character } = source.getLineAndCharacterOfPosition(arg.getStart(source));
          found.push({
            file: source.fileName,
            line: line + 1,
            column: character + 1,
            message: `usePlugin: the options are typed by plugin '${typed}' but the plugin loaded is '${arg.text}'; name the same plugin in both`,
          });
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * Where a TypeScript diagnostic points (1-based line and column; file null and 0:0 when it has no
 * position) and its message on one string, as every checker of ours reports it.
 */
export function diagnosticAt(d: ts.Diagnostic): { file: string | null; line: number; column: number; message: string } {
  const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  if (!d.file || d.start === undefined) return { file: null, line: 0, column: 0, message };
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  return { file: d.file.fileName, line: line + 1, column: character + 1, message };
}
