import { builtinModules } from 'node:module';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pluginPackageFiles } from './templates/plugin.ts';

/** The name or the target directory cannot be used; nothing was written. */
export class ScaffoldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScaffoldError';
  }
}

// npm's rules for new package names (what validate-npm-package-name enforces on publish).
const PACKAGE_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;
const RESERVED = new Set(['node_modules', 'favicon.ico']);

/** Why `name` cannot be an npm package name, or null when it can. */
export function invalidPackageName(name: string): string | null {
  if (name.length === 0) return 'the name is empty';
  if (name.length > 214) return 'the name is longer than 214 characters';
  if (name !== name.trim()) return 'the name has leading or trailing spaces';
  if (name !== name.toLowerCase()) return 'the name has capital letters';
  if (/^[._]/.test(name)) return 'the name starts with "." or "_"';
  if (!PACKAGE_NAME.test(name)) return 'use lower-case letters, digits, "-", ".", "_" and "~", optionally scoped as @scope/name';
  if (RESERVED.has(name) || builtinModules.includes(name)) return `"${name}" is reserved`;
  return null;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/**
 * Write a new plugin package: package.json (keyword `isogate-plugin`, the SDK as a peer, a
 * prepack build to dist/, Node 24 and isogate as devDependencies), a working plugin in
 * src/index.ts, its test with `@isogate/sdk/testing`, tsconfigs (sandbox, tests, build), a
 * .gitignore, a README and a CI workflow that runs `isogate plugin verify`. `dir` defaults to the unscoped name under the current directory.
 * Refuses a directory that exists and is not empty. Returns the absolute paths written.
 */
export async function scaffoldPlugin({ name, dir }: { name: string; dir?: string }): Promise<string[]> {
  const problem = invalidPackageName(name);
  if (problem) throw new ScaffoldError(`invalid package name "${name}": ${problem}`);
  const target = path.resolve(dir ?? name.replace(/^@[^/]+\//, ''));
  if (!(await isEmptyOrMissing(target))) throw new ScaffoldError(`${target} exists and is not empty; choose another --dir`);
  const written: string[] = [];
  for (const [relative, text] of Object.entries(pluginPackageFiles(name))) {
    const file = path.join(target, relative);
    await mkdir(path.dirname(file), { recursive: true });
    // 'wx': never overwrite, even if something appeared since the check.
    await writeFile(file, text, { flag: 'wx' });
    written.push(file);
  }
  return written;
}

/** `isogate new plugin <name> [--dir <path>]`: scaffold, then say what to do next. Exit 2 on a bad name or directory. */
export async function newPluginCommand(name: string, flags: { dir?: string }): Promise<void> {
  let files: string[];
  try {
    files = await scaffoldPlugin({ name, dir: flags.dir });
  } catch (err) {
    if (!(err instanceof ScaffoldError)) throw err;
    process.stderr.write(`isogate: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const dir = path.dirname(files[0]!);
  const shown = path.relative(process.cwd(), dir) || '.';
  const unscoped = name.replace(/^@[^/]+\//, '');
  process.stdout.write(`Created plugin ${name} in ${shown}:\n${files.map((f) => `  ${path.relative(dir, f)}`).join('\n')}\n\n`);
  process.stdout.write(
    `Next:\n${shown === '.' ? '' : `  cd ${shown}\n`}` +
      '  npm install     # also installs Node.js 24 for the scripts, and isogate for the tests\n' +
      "  npm test        # the hooks in the gateway's sandbox\n" +
      '  npm run verify  # packed, loaded, tested and type-checked as a gateway uses it (CI runs it too)\n' +
      '  npm publish     # builds dist/ first (prepack)\n' +
      `Then, in the gateway project: npm install ${name}, and in gateway.config.ts\n` +
      `  plugins: { '${unscoped}': usePlugin(() => import('${name}'), { /* options */ }) }\n` +
      `To try it before publishing: npm pack here, then npm install <path to the .tgz> there.\n`,
  );
}
