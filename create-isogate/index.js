#!/usr/bin/env node
// `npm create isogate@latest [directory]`: write a new Isogate gateway project (create.js).
// Plain JavaScript for Node 18 and later: npm runs it on the Node that runs npm.
import path from 'node:path';
import { createProject, DEFAULT_DIRECTORY, UsageError } from './create.js';

const HELP = `Usage: npm create isogate@latest [directory]

Writes a new Isogate gateway project into directory (default: ${DEFAULT_DIRECTORY}), which must be
new or empty: a typed gateway.config.ts with one route and one local plugin, the plugin's test,
tsconfig.json, .gitignore, a Dockerfile and a README.
`;

function main(argv) {
  const args = argv.filter((a) => a !== '--');
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const unknown = args.filter((a) => a.startsWith('-'));
  if (unknown.length > 0 || args.length > 1) {
    process.stderr.write(`create-isogate: unexpected ${unknown.length > 0 ? `option ${unknown[0]}` : `argument ${args[1]}`}\n\n${HELP}`);
    return 2;
  }
  const directory = args[0] ?? DEFAULT_DIRECTORY;
  let files;
  try {
    files = createProject(directory);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`create-isogate: ${err.message}\n`);
    return 1;
  }
  const shown = path.relative(process.cwd(), path.resolve(directory)) || '.';
  process.stdout.write(`Created an Isogate gateway in ${shown}:\n${files.map((f) => `  ${f}`).join('\n')}\n\nNext:\n`);
  if (shown !== '.') process.stdout.write(`  cd ${shown}\n`);
  process.stdout.write('  npm install     # also installs Node.js 24 for the project\'s scripts\n  npm start       # the gateway on http://127.0.0.1:8080\n  npm test        # the plugin\'s tests\n');
  return 0;
}

process.exitCode = main(process.argv.slice(2));
