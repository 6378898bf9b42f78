#!/usr/bin/env node
// Plain JavaScript on purpose: it must run on any Node to say clearly that Node 24 is required,
// before the TypeScript CLI (run by Node 24's type stripping) is imported.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `isogate needs Node.js 24 or newer (this is ${process.version}).\n` +
      'In this repository, run it through npm scripts (npm start, npm run dev), which use the Node 24 from devDependencies.\n',
  );
  process.exit(1);
}
await import('../src/cli/main.ts');
