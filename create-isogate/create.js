// What `npm create isogate` does (index.js is the command): the project's files from template/.
//
// Plain JavaScript with no dependencies, for Node 18 and later: npm runs an initializer on the Node
// that runs npm, which may be older than the Node 24 the gateway needs (the project brings that
// one itself, as its `node` devDependency).
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TEMPLATE = path.join(HERE, 'template');
export const DEFAULT_DIRECTORY = 'my-gateway';

/** Files stored under another name: npm never publishes `.npmrc`, and renames `.gitignore`. */
const RENAMED = { _gitignore: '.gitignore', _npmrc: '.npmrc', _dockerignore: '.dockerignore' };

/** Files a project directory may already have and still count as empty. */
const IGNORABLE = new Set(['.git', '.DS_Store', 'Thumbs.db', '.idea', '.vscode']);

/** The directory cannot be used; nothing was written. */
export class UsageError extends Error {}

/** The version of this package, which is the version of isogate and @isogate/sdk it installs. */
export function ownVersion() {
  return JSON.parse(readFileSync(path.join(HERE, 'package.json'), 'utf8')).version;
}

/** An npm package name for the project, from its directory's name. */
export function projectName(directory) {
  const name = path
    .basename(path.resolve(directory))
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[._-]+/, '')
    .replace(/-+$/, '');
  return name || 'gateway';
}

function templateFiles(dir = TEMPLATE) {
  const files = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) files.push(...templateFiles(full));
    else files.push(path.relative(TEMPLATE, full));
  }
  return files.sort();
}

/**
 * Write the project into `directory` (created if missing; it must be empty). Returns the files
 * written, relative to it.
 */
export function createProject(directory, { version = ownVersion() } = {}) {
  const target = path.resolve(directory);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new UsageError(`${directory} exists and is not a directory`);
    const present = readdirSync(target).filter((entry) => !IGNORABLE.has(entry));
    if (present.length > 0) throw new UsageError(`${directory} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}): choose a new directory`);
  }
  const name = projectName(target);
  const written = [];
  for (const relative of templateFiles()) {
    const base = path.basename(relative);
    const out = path.join(path.dirname(relative), RENAMED[base] ?? base);
    let text = readFileSync(path.join(TEMPLATE, relative), 'utf8');
    if (out === 'package.json') {
      const pkg = JSON.parse(text);
      pkg.name = name;
      // The runtime and the SDK are released together, at the version of this initializer.
      pkg.dependencies.isogate = `^${version}`;
      pkg.dependencies['@isogate/sdk'] = `^${version}`;
      text = `${JSON.stringify(pkg, null, 2)}\n`;
    } else if (out === 'README.md') {
      text = text.replaceAll('{{name}}', name);
    }
    mkdirSync(path.dirname(path.join(target, out)), { recursive: true });
    writeFileSync(path.join(target, out), text, { flag: 'wx' });
    written.push(out);
  }
  return written;
}
