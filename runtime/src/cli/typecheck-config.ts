import path from 'node:path';
import ts from 'typescript';

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
  return problems;
}
