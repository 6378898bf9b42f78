import path from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './kustomize.ts';
import { diagnosticAt, GENERATED_CODE_OPTIONS } from '../../../runtime/src/cli/typecheck-config.ts';

/**
 * Offline checks of rendered objects against the Kubernetes API's own schemas, as shipped by
 * kubernetes-models (generated from the upstream OpenAPI definitions): no cluster needed.
 *
 * The JSON schemas say what a field must look like, but, like the API's OpenAPI, they allow
 * fields they do not know: `readinesProbe` (a typo) passes them, and the API server would drop
 * it, or refuse it under kubectl's strict field validation. kubernetes-models also ships each
 * object as a TypeScript interface, so the second check compiles every object as an object
 * literal of its kind's type: the compiler's excess-property check names any unknown field.
 */

export interface SchemaProblem {
  readonly object: string;
  readonly message: string;
}

/** `apps/v1` + `Deployment` → `kubernetes-models/apps/v1/Deployment` (core `v1` has no group). */
function modelModule(object: K8sObject): string {
  return `kubernetes-models/${object.apiVersion}/${object.kind}`;
}

export function describe(object: K8sObject): string {
  return `${object.kind}/${object.metadata?.name ?? '?'}`;
}

/** Validate each object with kubernetes-models' JSON schema validator for its apiVersion and kind. */
export async function validateAgainstSchemas(objects: readonly K8sObject[]): Promise<SchemaProblem[]> {
  const problems: SchemaProblem[] = [];
  for (const object of objects) {
    let Model: new (data: unknown) => { validate(): void };
    try {
      const module = (await import(modelModule(object))) as Record<string, unknown>;
      Model = module[object.kind] as typeof Model;
      if (typeof Model !== 'function') throw new Error(`no ${object.kind} export`);
    } catch (err) {
      problems.push({ object: describe(object), message: `no schema for ${object.apiVersion} ${object.kind} in kubernetes-models: ${(err as Error).message}` });
      continue;
    }
    try {
      new Model(object).validate();
    } catch (err) {
      problems.push({ object: describe(object), message: (err as Error).message });
    }
  }
  return problems;
}

/**
 * Compile every object as a literal of its kubernetes-models interface; any compiler error
 * (an unknown field above all) is a problem, reported with the object and the offending line.
 */
export function checkFieldsKnown(objects: readonly K8sObject[]): SchemaProblem[] {
  // A file in this directory, so that `kubernetes-models/...` resolves from the repository's node_modules.
  const virtual = path.join(import.meta.dirname, '__rendered-objects.ts');
  const owners: { line: number; object: string }[] = [];
  let source = '';
  let line = 0;
  objects.forEach((object, i) => {
    const literal = JSON.stringify(object, null, 2);
    owners.push({ line, object: describe(object) });
    source += `import type { I${object.kind} as T${i} } from '${modelModule(object)}';\nexport const o${i}: T${i} = ${literal};\n`;
    line += 2 + literal.split('\n').length - 1;
  });
  const options: ts.CompilerOptions = { ...GENERATED_CODE_OPTIONS };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = ((exists) => (file: string) => file === virtual || exists(file))(host.fileExists.bind(host));
  host.readFile = (file) => (file === virtual ? source : readFile(file));
  host.getSourceFile = (file, language, onError, shouldCreate) =>
    file === virtual ? ts.createSourceFile(file, source, language, true) : getSourceFile(file, language, onError, shouldCreate);
  const program = ts.createProgram([virtual], options, host);
  const lines = source.split('\n');
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const { file, line, message } = diagnosticAt(d);
    if (file !== virtual) return { object: '?', message };
    const at = line - 1;
    const owner = owners.findLast((o) => o.line <= at)!;
    return { object: owner.object, message: `${message} (at: ${lines[at]!.trim()})` };
  });
}
