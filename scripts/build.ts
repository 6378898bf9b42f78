/**
 * `npm run build`: the three published packages, at one version, in directories `npm publish`
 * takes as they are.
 *
 *   sdk/.package       @isogate/sdk (sdk/scripts/build-package.ts)
 *   runtime/.package   isogate: runtime, built-in plugins and CLI (runtime/scripts/build-package.ts)
 *   create-isogate/    create-isogate: plain JavaScript, published from its own directory
 *
 * The version is the one the three package.json files (and the SDK's SDK_VERSION) agree on: a
 * release changes them together (and commits that) before `npm run release`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildIsogatePackage } from '../runtime/scripts/build-package.ts';
import { buildSdkPackage } from '../sdk/scripts/build-package.ts';

export const REPO = path.resolve(import.meta.dirname, '..');

export interface BuiltPackage {
  readonly name: string;
  readonly dir: string;
}

export interface Build {
  readonly version: string;
  /** In publishing order: a package's dependencies come before it. */
  readonly packages: readonly BuiltPackage[];
}

/** The packages' directories in the repository, in publishing order. */
export const PACKAGE_DIRS = ['sdk', 'runtime', 'create-isogate'] as const;

/** A version mismatch, or anything else that stops a build before it starts. */
export class ReleaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReleaseError';
  }
}

/**
 * The release version, or a ReleaseError naming every package and its version when they disagree
 * (the three package.json files under `root` and the SDK's SDK_VERSION constant).
 */
export function releaseVersion(root: string = REPO): string {
  const versions = new Map<string, string>();
  for (const dir of PACKAGE_DIRS) {
    const pkg = JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8')) as { name: string; version: string };
    versions.set(`${pkg.name} (${dir}/package.json)`, pkg.version);
  }
  const sdkConstant = /export const SDK_VERSION = '([^']+)'/.exec(readFileSync(path.join(root, 'sdk', 'src', 'plugin.ts'), 'utf8'))?.[1];
  versions.set('SDK_VERSION (sdk/src/plugin.ts)', sdkConstant ?? '(not found)');
  const distinct = new Set(versions.values());
  if (distinct.size !== 1) {
    throw new ReleaseError(`the packages are released at one version, but: ${[...versions].map(([name, v]) => `${name} ${v}`).join(', ')}. Set them all to the same version first`);
  }
  return [...distinct][0]!;
}

/** Build every package into `outRoot` (a directory per package) or, by default, beside its sources. */
export function buildAll(outRoot?: string): Build {
  const version = releaseVersion();
  const out = (name: string, fallback: string) => (outRoot ? path.join(outRoot, name) : path.join(REPO, fallback));
  const sdk = buildSdkPackage(out('sdk', 'sdk/.package'));
  const isogate = buildIsogatePackage(out('isogate', 'runtime/.package'), { version });
  return {
    version,
    packages: [
      { name: '@isogate/sdk', dir: sdk },
      { name: 'isogate', dir: isogate },
      { name: 'create-isogate', dir: path.join(REPO, 'create-isogate') },
    ],
  };
}

if (import.meta.main) {
  try {
    const started = performance.now();
    const build = buildAll(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(`built ${build.version} in ${seconds} s:\n${build.packages.map((p) => `  ${p.name.padEnd(16)} ${path.relative(process.cwd(), p.dir) || '.'}`).join('\n')}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
