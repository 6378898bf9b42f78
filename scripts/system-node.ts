import fs from 'node:fs';
import path from 'node:path';

/**
 * The machine's own `node`, not the Node 24 that this repository's `node` devDependency puts first
 * on PATH for npm scripts: the Node that npm (and `npm create`) runs on, and that verdaccio 6.8
 * needs. Throws, saying what to install, when there is none.
 */
export function systemNode(): string {
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter((dir) => dir && !dir.includes('node_modules'));
  for (const candidate of [...dirs.map((dir) => path.join(dir, 'node')), '/usr/local/bin/node', '/usr/bin/node']) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (!fs.realpathSync(candidate).includes(`${path.sep}node_modules${path.sep}`)) return candidate;
    } catch {
      // not there
    }
  }
  throw new Error('no system node outside node_modules on PATH (the Node that runs npm): install one, e.g. apt-get install -y nodejs, or put its directory on PATH');
}
