import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildAll, PACKAGE_DIRS, REPO, ReleaseError, releaseVersion } from './build.ts';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'isogate-build-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A repository-shaped directory with these versions. */
async function fixture(name: string, versions: { sdk: string; runtime: string; create: string; constant: string | null }): Promise<string> {
  const root = path.join(tmp, name);
  const manifests = { sdk: ['@isogate/sdk', versions.sdk], runtime: ['isogate', versions.runtime], 'create-isogate': ['create-isogate', versions.create] } as const;
  for (const dir of PACKAGE_DIRS) {
    await mkdir(path.join(root, dir, 'src'), { recursive: true });
    await writeFile(path.join(root, dir, 'package.json'), JSON.stringify({ name: manifests[dir][0], version: manifests[dir][1] }));
  }
  await writeFile(path.join(root, 'sdk/src/plugin.ts'), versions.constant === null ? '// no constant\n' : `export const SDK_VERSION = '${versions.constant}';\n`);
  return root;
}

describe('scripts/build.ts', () => {
  it("the repository's packages agree on one version", async () => {
    const runtime = JSON.parse(await readFile(path.join(REPO, 'runtime/package.json'), 'utf8')) as { version: string };
    assert.equal(releaseVersion(), runtime.version);
    assert.equal(releaseVersion(await fixture('agree', { sdk: '1.2.3', runtime: '1.2.3', create: '1.2.3', constant: '1.2.3' })), '1.2.3');
  });

  it('refuses a version mismatch, naming every package and its version', async () => {
    const runtimeAhead = await fixture('runtime-ahead', { sdk: '1.2.3', runtime: '1.3.0', create: '1.2.3', constant: '1.2.3' });
    assert.throws(() => releaseVersion(runtimeAhead), (err: unknown) => {
      assert.ok(err instanceof ReleaseError);
      assert.equal(
        err.message,
        'the packages are released at one version, but: @isogate/sdk (sdk/package.json) 1.2.3, isogate (runtime/package.json) 1.3.0, ' +
          'create-isogate (create-isogate/package.json) 1.2.3, SDK_VERSION (sdk/src/plugin.ts) 1.2.3. Set them all to the same version first',
      );
      return true;
    });
    const staleConstant = await fixture('stale-constant', { sdk: '2.0.0', runtime: '2.0.0', create: '2.0.0', constant: '1.9.0' });
    assert.throws(() => releaseVersion(staleConstant), /SDK_VERSION \(sdk\/src\/plugin\.ts\) 1\.9\.0/);
    const noConstant = await fixture('no-constant', { sdk: '2.0.0', runtime: '2.0.0', create: '2.0.0', constant: null });
    assert.throws(() => releaseVersion(noConstant), /SDK_VERSION \(sdk\/src\/plugin\.ts\) \(not found\)/);
  });

  it('builds the three packages at that version, in publishing order, isogate requiring exactly that SDK', async () => {
    const out = path.join(tmp, 'out');
    const build = buildAll(out);
    assert.deepEqual(
      build.packages.map((p) => [p.name, p.dir]),
      [
        ['@isogate/sdk', path.join(out, 'sdk')],
        ['isogate', path.join(out, 'isogate')],
        ['create-isogate', path.join(REPO, 'create-isogate')],
      ],
    );
    for (const pkg of build.packages) {
      const manifest = JSON.parse(await readFile(path.join(pkg.dir, 'package.json'), 'utf8')) as { name: string; version: string; private?: boolean; dependencies?: Record<string, string> };
      assert.equal(manifest.name, pkg.name);
      assert.equal(manifest.version, build.version, pkg.name);
      assert.notEqual(manifest.private, true, pkg.name);
      if (pkg.name === 'isogate') assert.equal(manifest.dependencies?.['@isogate/sdk'], build.version);
    }
  });
});
