import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** test/e2e/lifecycle: temp dirs created here can `import { defineConfig } from '@isogate/sdk'`. */
export const LIFECYCLE_DIR = path.resolve(import.meta.dirname, '..');
export const REPO_ROOT = path.resolve(LIFECYCLE_DIR, '../../..');

export interface ConfigDir {
  readonly dir: string;
  path(name: string): string;
  /** Rewrite in place (truncate + write), like most editors. */
  write(name: string, content: string): Promise<string>;
  /** Write a sibling temp file and rename it over the target (vim-style atomic save). */
  writeAtomic(name: string, content: string): Promise<string>;
  remove(): Promise<void>;
}

/**
 * A temp dir for config files. 'project': under test/e2e/lifecycle/.tmp-* (git-ignored), so the
 * SDK resolves by package name. 'os': under os.tmpdir(), for configs without imports.
 */
export async function makeConfigDir(kind: 'project' | 'os'): Promise<ConfigDir> {
  const dir = await fs.mkdtemp(kind === 'project' ? path.join(LIFECYCLE_DIR, '.tmp-') : path.join(os.tmpdir(), 'isogate-lifecycle-'));
  let counter = 0;
  return {
    dir,
    path: (name) => path.join(dir, name),
    async write(name, content) {
      const file = path.join(dir, name);
      await fs.writeFile(file, content);
      return file;
    },
    async writeAtomic(name, content) {
      const file = path.join(dir, name);
      const tmp = path.join(dir, `.${name}.${process.pid}.${counter++}.swp`);
      await fs.writeFile(tmp, content);
      await fs.rename(tmp, file);
      return file;
    },
    remove: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

export interface RouteSpec {
  path: string;
  upstream: string;
  methods?: string[];
}

/**
 * The source of a config file. `sdk: true` writes `import { defineConfig } from '@isogate/sdk'`
 * (needs a 'project' dir); otherwise a plain `export default {...}`.
 */
export function configSource(options: { sdk: boolean; routes: RouteSpec[]; server?: Record<string, unknown> }): string {
  const body = JSON.stringify({ ...(options.server ? { server: options.server } : {}), routes: options.routes }, null, 2);
  return options.sdk
    ? `import { defineConfig } from '@isogate/sdk';\n\nexport default defineConfig(${body});\n`
    : `// plain config, no imports\nexport default ${body};\n`;
}
