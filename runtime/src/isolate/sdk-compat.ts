import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { SDK_VERSION } from '@isogate/sdk';

/**
 * Whether a bundle built against SDK `pluginSdk` fits this gateway's hook contract: same major
 * version, and the same minor while the SDK is 0.x (semver's rule for 0.x ranges). The version is
 * the one the plugin's bundle carries (`definePlugin` stamps it), so it also catches a package that
 * bundled its own copy of another SDK.
 */
export function sdkVersionCompatible(pluginSdk: unknown, hostSdk: string = SDK_VERSION): boolean {
  if (typeof pluginSdk !== 'string' || !semver.valid(pluginSdk) || !semver.valid(hostSdk)) return false;
  return semver.satisfies(hostSdk, `^${pluginSdk}`, { includePrerelease: true }) || semver.satisfies(pluginSdk, `^${hostSdk}`, { includePrerelease: true });
}

/** The package name of a bare specifier: `pkg`, `pkg/sub` → `pkg`; `@scope/pkg/sub` → `@scope/pkg`. */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * The `@isogate/sdk` range an installed plugin package declares in `peerDependencies`, found by
 * walking up from its resolved entry file to its own package.json. Null when the package declares
 * none (or its package.json cannot be found).
 */
export function declaredSdkRange(entryFile: string, packageName: string): { range: string; packageJson: string } | null {
  let dir = path.dirname(entryFile);
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; peerDependencies?: Record<string, unknown> };
      if (pkg.name === packageName) {
        const range = pkg.peerDependencies?.['@isogate/sdk'];
        return typeof range === 'string' ? { range, packageJson: candidate } : null;
      }
    } catch {
      // no package.json here (or not JSON): keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * Why an installed plugin package does not fit this gateway's SDK, or null when it does: its
 * `peerDependencies` range for `@isogate/sdk` must accept the running SDK version. A range that
 * is not valid semver is refused too (it accepts nothing).
 */
export function peerRangeProblem(entryFile: string, specifier: string, hostSdk: string = SDK_VERSION): string | null {
  const name = packageNameOf(specifier);
  const declared = declaredSdkRange(entryFile, name);
  if (!declared) return null;
  const verdict = sdkRangeVerdict(declared.range, hostSdk);
  if (verdict === 'invalid') return `package "${name}" declares an invalid @isogate/sdk range "${declared.range}" in peerDependencies`;
  if (verdict === 'excludes') return `package "${name}" requires @isogate/sdk ${declared.range} (peerDependencies), this gateway runs ${hostSdk}`;
  return null;
}

/**
 * Whether a plugin's `@isogate/sdk` peer range accepts `hostSdk`: null when it does, 'invalid' for
 * a range that is not semver (it accepts nothing), 'excludes' otherwise. npm's range rules, with
 * prereleases of the host counted.
 */
export function sdkRangeVerdict(range: string, hostSdk: string = SDK_VERSION): 'invalid' | 'excludes' | null {
  if (semver.validRange(range) === null) return 'invalid';
  return semver.satisfies(hostSdk, range, { includePrerelease: true }) ? null : 'excludes';
}
