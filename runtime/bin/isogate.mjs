#!/usr/bin/env node
// Plain JavaScript on purpose: it must run on any Node to say clearly that Node 24 is required,
// before the CLI is imported (TypeScript run by Node 24's type stripping in this repository, the
// compiled JavaScript in the published package: runtime/scripts/build-package.ts rewrites the
// import below).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  // One line, no stack trace. npm scripts put node_modules/.bin first on PATH, where a project's
  // `node` devDependency (this repository's, or one from `npm create isogate`) is Node 24.
  process.stderr.write(`isogate needs Node.js 24 or newer (this is ${process.version}). Run it through npm scripts or npx in a project whose devDependencies bring Node 24 (npm install -D node@24; npm create isogate sets that up), or install Node 24.\n`);
  process.exit(1);
}
await import('../src/cli/main.ts');
