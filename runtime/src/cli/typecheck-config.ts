import path from 'node:path';
import ts from 'typescript';
import { isPathSpecifier } from '../isolate/bundle-plugin.ts';

export interface TypeProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/**
 * Type-check a config file the way an editor would (strict), reporting problems in the config
 * and the local files it imports — not in libraries.
 */
export function typecheckConfig(configPath: string): TypeProblem[] {
  const file = path.resolve(configPath);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2024,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  const problems: TypeProblem[] = [];
  for (const d of diagnostics) {
    if (d.file && d.file.fileName.includes('/node_modules/')) continue;
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) {
      problems.push({ file, line: 0, column: 0, message });
      continue;
    }
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    problems.push({ file: d.file.fileName, line: line + 1, column: character + 1, message });
  }
  for (const source of program.getSourceFiles()) {
    if (source.isDeclarationFile || source.fileName.includes('/node_modules/')) continue;
    problems.push(...mismatchedPluginTypes(source));
  }
  return problems;
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
