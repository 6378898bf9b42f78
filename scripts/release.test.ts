import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type PrivateRegistry, startRegistry } from '../test/e2e/release/registry.ts';
import type { Build } from './build.ts';
import { parseReleaseArgs, registryUrl, release, ReleaseError } from './release.ts';

// release() against a real registry (verdaccio, loopback, no uplink), publishing small packages
// that stand in for the three built ones. The repository's own packages go through it in
// test/e2e/release/release.test.ts.
let tmp: string;
let registry: PrivateRegistry;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'isogate-release-'));
  registry = await startRegistry(path.join(tmp, 'registry'));
});
after(async () => {
  await registry?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function pkg(name: string, version: string, text = 'export default 1;\n'): Promise<{ name: string; dir: string }> {
  const dir = path.join(tmp, 'packages', name.replace('/', '+'), version);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name, version, type: 'module', main: 'index.js', files: ['index.js'] }));
  await writeFile(path.join(dir, 'index.js'), text);
  return { name, dir };
}

/** What the registry says about name@version, or null when it does not have it. */
async function view(name: string, version: string): Promise<{ version: string; integrity: string } | null> {
  try {
    const { stdout } = await promisify(execFile)('npm', ['view', `${name}@${version}`, 'version', 'dist.integrity', '--json'], { env: registry.env });
    if (stdout.trim() === '') return null;
    const out = JSON.parse(stdout) as { version: string; 'dist.integrity': string };
    return { version: out.version, integrity: out['dist.integrity'] };
  } catch (err) {
    if (/E404/.test(String((err as { stderr?: string }).stderr))) return null;
    throw err;
  }
}

const quiet = { log: () => {} };

describe('scripts/release.ts', () => {
  it('reads --registry, --tag and --dry-run, and refuses anything else', () => {
    assert.deepEqual(parseReleaseArgs(['--registry', 'http://127.0.0.1:4873', '--dry-run']), { registry: 'http://127.0.0.1:4873', tag: undefined, dryRun: true });
    assert.throws(() => parseReleaseArgs(['--registy', 'x']), (err: unknown) => err instanceof ReleaseError && /Unknown option '--registy'/.test(err.message) && /usage: npm run release/.test(err.message));
    assert.throws(() => parseReleaseArgs(['publish']), ReleaseError);
    assert.equal(registryUrl('http://127.0.0.1:4873'), 'http://127.0.0.1:4873/');
    assert.throws(() => registryUrl('127.0.0.1:4873'), /not an http\(s\) URL|not a URL/);
    assert.throws(() => registryUrl('file:///tmp/registry'), /not an http\(s\) URL/);
  });

  it('publishes every package at the version, in order; a second run leaves them as they are', async () => {
    const packages = [await pkg('@release-test/sdk', '1.0.0'), await pkg('release-test-runtime', '1.0.0'), await pkg('create-release-test', '1.0.0')];
    const build = (): Build => ({ version: '1.0.0', packages });
    const lines: string[] = [];
    const first = await release({ registry: registry.url, env: registry.env, build, log: (l) => lines.push(l) });
    assert.deepEqual(first, { version: '1.0.0', published: packages.map((p) => p.name), unchanged: [] });
    assert.deepEqual(lines.slice(1), packages.map((p) => `published ${p.name}@1.0.0 to ${registry.url}`));
    for (const p of packages) assert.equal((await view(p.name, '1.0.0'))?.version, '1.0.0', p.name);

    const again = await release({ registry: registry.url, env: registry.env, build, ...quiet });
    assert.deepEqual(again, { version: '1.0.0', published: [], unchanged: packages.map((p) => p.name) });
  });

  it('finishes a release that failed half way: only the missing packages are published', async () => {
    const a = await pkg('release-half-a', '3.0.0');
    const b = await pkg('release-half-b', '3.0.0');
    await release({ registry: registry.url, env: registry.env, build: () => ({ version: '3.0.0', packages: [a] }), ...quiet });
    const rest = await release({ registry: registry.url, env: registry.env, build: () => ({ version: '3.0.0', packages: [a, b] }), ...quiet });
    assert.deepEqual(rest, { version: '3.0.0', published: ['release-half-b'], unchanged: ['release-half-a'] });
  });

  it('refuses, publishing nothing, when the registry has the version with other contents', async () => {
    const published = await pkg('release-dirty', '2.0.0');
    await release({ registry: registry.url, env: registry.env, build: () => ({ version: '2.0.0', packages: [published] }), ...quiet });
    const before = await view('release-dirty', '2.0.0');

    const changed = await pkg('release-dirty', '2.0.0', 'export default 2;\n');
    const fresh = await pkg('release-dirty-fresh', '2.0.0');
    await assert.rejects(release({ registry: registry.url, env: registry.env, build: () => ({ version: '2.0.0', packages: [fresh, changed] }), ...quiet }), (err: unknown) => {
      assert.ok(err instanceof ReleaseError);
      assert.match(err.message, /already has release-dirty@2\.0\.0 \(sha512-\S+ there, sha512-\S+ here\) with other contents/);
      assert.match(err.message, /Nothing was published$/);
      return true;
    });
    assert.equal(await view('release-dirty-fresh', '2.0.0'), null, 'the package before the conflicting one was not published either');
    assert.deepEqual(await view('release-dirty', '2.0.0'), before);
  });

  it('--dry-run publishes nothing', async () => {
    const dry = await pkg('release-dry', '1.0.0');
    const out = await release({ registry: registry.url, env: registry.env, build: () => ({ version: '1.0.0', packages: [dry] }), dryRun: true, ...quiet });
    assert.deepEqual(out.published, ['release-dry']);
    assert.equal(await view('release-dry', '1.0.0'), null);
  });

  it('a registry that does not answer is an error naming it, before anything is published', async () => {
    // A port that was free a moment ago: nothing listens there.
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const nowhere = `http://127.0.0.1:${port}/`;
    const p = await pkg('release-nowhere', '1.0.0');
    await assert.rejects(
      release({ registry: nowhere, env: { ...registry.env, npm_config_fetch_retries: '0' }, build: () => ({ version: '1.0.0', packages: [p] }), ...quiet }),
      (err: unknown) => err instanceof ReleaseError && err.message.startsWith(`cannot ask ${nowhere} about release-nowhere: `),
    );
  });
});
