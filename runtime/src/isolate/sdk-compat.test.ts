import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { declaredSdkRange, packageNameOf, peerRangeProblem, sdkRangeVerdict, sdkVersionCompatible } from './sdk-compat.ts';

describe('SDK compatibility of plugins', () => {
  it('judges a peer range as npm does: accepted, excluded, or not a range at all (one verdict for the gateway and isogate plugin verify)', () => {
    assert.equal(sdkRangeVerdict('^0.1.0', '0.1.4'), null);
    assert.equal(sdkRangeVerdict('>=0.1.0 <0.3.0', '0.2.0-rc.1'), null, 'a prerelease of the host counts');
    assert.equal(sdkRangeVerdict('^0.2.0', '0.1.4'), 'excludes');
    assert.equal(sdkRangeVerdict('^9.0.0', '0.1.4'), 'excludes');
    assert.equal(sdkRangeVerdict('not a range', '0.1.4'), 'invalid');
  });

  it('accepts a bundle built for the same major (and, on 0.x, the same minor) SDK', () => {
    assert.equal(sdkVersionCompatible('0.1.0', '0.1.3'), true);
    assert.equal(sdkVersionCompatible('0.1.7', '0.1.3'), true);
    assert.equal(sdkVersionCompatible('0.2.0', '0.1.3'), false);
    assert.equal(sdkVersionCompatible('1.4.0', '1.9.2'), true);
    assert.equal(sdkVersionCompatible('2.0.0', '1.9.2'), false);
    assert.equal(sdkVersionCompatible(undefined, '0.1.0'), false);
    assert.equal(sdkVersionCompatible('banana', '0.1.0'), false);
  });

  it('names the package of a bare specifier', () => {
    assert.equal(packageNameOf('isogate-plugin-x'), 'isogate-plugin-x');
    assert.equal(packageNameOf('isogate-plugin-x/sub/entry'), 'isogate-plugin-x');
    assert.equal(packageNameOf('@acme/plugin/sub'), '@acme/plugin');
  });

  describe('peer range of an installed package', () => {
    let dir: string;
    const install = async (name: string, pkg: Record<string, unknown>): Promise<string> => {
      const pkgDir = path.join(dir, 'node_modules', name);
      await fs.mkdir(path.join(pkgDir, 'src'), { recursive: true });
      await fs.writeFile(path.join(pkgDir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...pkg }));
      const entry = path.join(pkgDir, 'src', 'index.ts');
      await fs.writeFile(entry, 'export default {};\n');
      return entry;
    };
    before(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'isogate-sdk-compat-'));
    });
    after(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('accepts a range that includes the running SDK, and a package that declares none', async () => {
      const entry = await install('fits', { peerDependencies: { '@isogate/sdk': '^0.1.0' } });
      assert.equal(declaredSdkRange(entry, 'fits')?.range, '^0.1.0');
      assert.equal(peerRangeProblem(entry, 'fits', '0.1.4'), null);
      assert.equal(peerRangeProblem(await install('silent', {}), 'silent', '0.1.4'), null);
    });

    it('refuses a range that excludes it, and one that is not a range at all', async () => {
      const entry = await install('@acme/old', { peerDependencies: { '@isogate/sdk': '>=0.3.0 <0.4.0' } });
      assert.equal(peerRangeProblem(entry, '@acme/old/sub', '0.1.4'), 'package "@acme/old" requires @isogate/sdk >=0.3.0 <0.4.0 (peerDependencies), this gateway runs 0.1.4');
      const junk = await install('junk', { peerDependencies: { '@isogate/sdk': 'the latest one' } });
      assert.match(peerRangeProblem(junk, 'junk', '0.1.4')!, /invalid @isogate\/sdk range "the latest one"/);
    });

    it("reads the package's own package.json, not a nested one of another name", async () => {
      const entry = await install('outer', { peerDependencies: { '@isogate/sdk': '^9.0.0' } });
      // A package.json of another name between the entry and the package root (e.g. a "type" marker).
      await fs.writeFile(path.join(path.dirname(entry), 'package.json'), JSON.stringify({ type: 'module' }));
      assert.match(peerRangeProblem(entry, 'outer', '0.1.4')!, /requires @isogate\/sdk \^9\.0\.0/);
    });
  });
});
