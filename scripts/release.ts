/**
 * `npm run release -- [--registry <url>] [--tag <tag>] [--dry-run]`: build the three packages
 * (scripts/build.ts) and publish them at one version, the SDK first (isogate depends on it at
 * exactly that version) and create-isogate last (the projects it writes depend on both).
 *
 * The registry defaults to npm's own. Credentials are npm's as usual (`npm login --registry <url>`,
 * or an `//host/:_authToken=` line in an .npmrc). Before publishing anything, each package is
 * compared with what the registry has at this version:
 *   - not there: published;
 *   - there with the same contents (npm pack is reproducible: same files, same tarball
 *     integrity): left as it is, so a release that failed half way is finished by running it again;
 *   - there with other contents: the release is refused and nothing is published, since a version
 *     cannot be published twice: bump the version of all three packages first.
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { buildAll, ReleaseError, type Build, type BuiltPackage } from './build.ts';

export { ReleaseError };

const run = promisify(execFile);
export const NPM_REGISTRY = 'https://registry.npmjs.org/';

export interface ReleaseOptions {
  registry?: string;
  tag?: string;
  dryRun?: boolean;
  log?: (line: string) => void;
  /** The packages to publish (default: `buildAll()`, the repository's three). */
  build?: () => Build;
  /** The environment npm runs in (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export interface Released {
  readonly version: string;
  /** Published by this run (or, with dryRun, that would have been). */
  readonly published: readonly string[];
  /** Already on the registry at this version with the same contents. */
  readonly unchanged: readonly string[];
}

/** The registry as npm writes it (with a trailing slash), or a ReleaseError for anything not http(s). */
export function registryUrl(registry: string): string {
  let url: URL;
  try {
    url = new URL(registry);
  } catch {
    throw new ReleaseError(`--registry ${registry}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ReleaseError(`--registry ${registry}: not an http(s) URL`);
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

function npmError(err: unknown): string {
  const e = err as { stdout?: string; stderr?: string };
  return `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || String(err);
}

/** The integrity of the tarball `npm pack` makes of `dir` (nothing is written). */
async function packedIntegrity(pkg: BuiltPackage, env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await run('npm', ['pack', pkg.dir, '--dry-run', '--json', '--ignore-scripts'], { env, maxBuffer: 64 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout) as [{ integrity: string }];
    return packed.integrity;
  } catch (err) {
    throw new ReleaseError(`npm pack ${pkg.dir} failed:\n${npmError(err)}`);
  }
}

/** The integrity of `name@version` on the registry, or null when it is not there (npm view answers E404). */
async function publishedIntegrity(pkg: BuiltPackage, version: string, registry: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  try {
    const { stdout } = await run('npm', ['view', `${pkg.name}@${version}`, 'dist.integrity', '--json', '--registry', registry], { env, timeout: 60_000 });
    // An exact version that is not there prints nothing (or E404 below); one that is prints its integrity.
    return stdout.trim() === '' ? null : (JSON.parse(stdout) as string);
  } catch (err) {
    if (/E404|404 Not Found/.test(npmError(err))) return null;
    throw new ReleaseError(`cannot ask ${registry} about ${pkg.name}: ${npmError(err)}`);
  }
}

/** Build, compare with the registry, and publish what is missing; refuses before publishing anything. */
export async function release(options: ReleaseOptions = {}): Promise<Released> {
  const registry = registryUrl(options.registry ?? NPM_REGISTRY);
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const build = (options.build ?? buildAll)();
  log(`built ${build.version}: ${build.packages.map((p) => p.name).join(', ')}`);

  const toPublish: BuiltPackage[] = [];
  const unchanged: string[] = [];
  const conflicts: string[] = [];
  for (const pkg of build.packages) {
    const [there, here] = await Promise.all([publishedIntegrity(pkg, build.version, registry, env), packedIntegrity(pkg, env)]);
    if (there === null) toPublish.push(pkg);
    else if (there === here) unchanged.push(pkg.name);
    else conflicts.push(`${pkg.name}@${build.version} (${there} there, ${here} here)`);
  }
  if (conflicts.length > 0) {
    throw new ReleaseError(
      `${registry} already has ${conflicts.join(', ')} with other contents than this build, and a version cannot be published twice: ` +
        'set a new version in the three package.json files and SDK_VERSION, then release again. Nothing was published',
    );
  }
  for (const name of unchanged) log(`${name}@${build.version} is on ${registry} with the same contents: left as it is`);

  for (const pkg of toPublish) {
    const args = ['publish', pkg.dir, '--registry', registry, '--access', 'public', '--tag', options.tag ?? 'latest'];
    if (options.dryRun) args.push('--dry-run');
    try {
      await run('npm', args, { env, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      throw new ReleaseError(`npm publish ${pkg.name}@${build.version} to ${registry} failed:\n${npmError(err)}`);
    }
    log(`${options.dryRun ? 'would publish' : 'published'} ${pkg.name}@${build.version} to ${registry}`);
  }
  return { version: build.version, published: toPublish.map((p) => p.name), unchanged };
}

/** The command line: `[--registry <url>] [--tag <tag>] [--dry-run]`; anything else is a ReleaseError. */
export function parseReleaseArgs(argv: readonly string[]): Pick<ReleaseOptions, 'registry' | 'tag' | 'dryRun'> {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { registry: { type: 'string' }, tag: { type: 'string' }, 'dry-run': { type: 'boolean' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ReleaseError(`${(err as Error).message}\nusage: npm run release -- [--registry <url>] [--tag <tag>] [--dry-run]`);
  }
  return { registry: values.registry, tag: values.tag, dryRun: values['dry-run'] };
}

if (import.meta.main) {
  try {
    await release(parseReleaseArgs(process.argv.slice(2)));
  } catch (err) {
    process.stderr.write(`release: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
