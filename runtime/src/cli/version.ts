import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The version of the installed `isogate`: its package.json is the nearest one named "isogate"
 * above this file (runtime/ in this repository; the package root once built, where this file is
 * dist/runtime/src/cli/version.js).
 */
export function isogateVersion(): string {
  for (let dir = import.meta.dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'isogate' && pkg.version) return pkg.version;
  }
  return 'unknown';
}
