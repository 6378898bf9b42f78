import { SDK_VERSION } from '@isogate/sdk';
import { isogateVersion } from '../version.ts';

/**
 * The ranges of the repository's own Node and TypeScript tooling, which a plugin package brings
 * the same way (create-isogate's template writes the same ones).
 */
const NODE_RANGE = '^24.21.0';
const TYPES_NODE_RANGE = '^24.10.0';
const TYPESCRIPT_RANGE = '~5.9.3';

/**
 * The files of a new plugin package, by path relative to its directory. Kept as code rather than
 * template files so the runtime's type-check and test globs never mistake them for sources.
 */
export function pluginPackageFiles(name: string): Record<string, string> {
  const sdkRange = `^${SDK_VERSION}`;
  const isogate = isogateVersion();
  const packageJson = {
    name,
    version: '0.1.0',
    description: 'An Isogate gateway plugin',
    type: 'module',
    keywords: ['isogate-plugin'],
    license: 'MIT',
    // Published as JavaScript with declarations (the prepack build): a consumer's own tsc would
    // refuse TypeScript sources that import each other by their .ts names (TS5097), and Node does
    // not strip types under node_modules.
    main: './dist/index.js',
    types: './dist/index.d.ts',
    exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
    files: ['dist'],
    engines: { node: '>=24' },
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      // npm pack and npm publish build first, so what is published is always dist/ of these sources.
      prepack: 'npm run build',
      // Runs on the Node 24 of the `node` devDependency (npm puts it first on PATH): on an older
      // Node, `node --test` finds no .ts test and reports 0 tests as a success.
      test: 'node --test',
      // The plugin in its sandbox's environment, then the tests in Node's.
      typecheck: 'tsc -p tsconfig.json && tsc -p tsconfig.test.json',
      // The package as a gateway will use it: packed, loaded in an isolate with the example
      // options below, tested, and type-checked in a consumer's config (the CI workflow runs it).
      verify: 'isogate plugin verify .',
    },
    peerDependencies: { '@isogate/sdk': sdkRange },
    dependencies: { zod: '^4.0.0' },
    devDependencies: {
      '@isogate/sdk': sdkRange,
      '@types/node': TYPES_NODE_RANGE,
      // testPlugin runs the hooks in the gateway's sandbox, which comes with the runtime.
      isogate: isogate === 'unknown' ? sdkRange : `^${isogate}`,
      node: NODE_RANGE,
      typescript: TYPESCRIPT_RANGE,
    },
    // Of the dependencies' install scripts, run node's (it installs that Node 24) and
    // isolated-vm's (the sandbox's binary); the others are not needed.
    allowScripts: { node: true, 'isolated-vm': true, esbuild: false, protobufjs: false, 'core-js-pure': false },
    // Options a gateway config would give: isogate plugin verify loads the plugin with them and
    // type-checks a consumer config that passes them.
    isogate: { exampleOptions: { header: 'x-hello', value: 'world' } },
  };

  const tsconfig = {
    compilerOptions: {
      target: 'es2024',
      lib: ['es2024'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
      erasableSyntaxOnly: true,
      skipLibCheck: true,
      // The plugin's globals (URL, TextEncoder, crypto, console…) and nothing else: no Node, no
      // DOM, so `process`, `setTimeout` or `fetch` in the plugin is an error in the editor.
      types: ['@isogate/sdk/sandbox'],
    },
    include: ['src'],
    exclude: ['src/**/*.test.ts'],
  };

  // What npm pack publishes: JavaScript, declarations and source maps (with the sources inlined,
  // since src/ is not published) of the plugin, never its tests. Imports keep their .ts names in
  // src/ and become .js in dist/.
  const tsconfigBuild = {
    extends: './tsconfig.json',
    compilerOptions: {
      noEmit: false,
      rootDir: 'src',
      outDir: 'dist',
      declaration: true,
      sourceMap: true,
      inlineSources: true,
      rewriteRelativeImportExtensions: true,
    },
    include: ['src'],
    exclude: ['src/**/*.test.ts'],
  };

  // The tests run in Node (node --test): Node's types, for the tests and what they import.
  const tsconfigTest = {
    extends: './tsconfig.json',
    compilerOptions: { types: ['node'] },
    include: ['src'],
    exclude: [],
  };

  const index = `import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * Sets a header on requests that arrive without it, before they go upstream.
 *
 * This code runs in a V8 isolate inside the gateway, not in Node: no process, require, timers
 * or node: imports (ctx.fetch is its network). It has URL, TextEncoder/TextDecoder, atob/btoa,
 * structuredClone, crypto (subtle, randomUUID) and console. Importing a Node built-in fails when the gateway
 * bundles the plugin, naming the file and line.
 */
export default definePlugin({
  name: ${JSON.stringify(name)},
  version: '0.1.0',
  options: z.object({
    header: z.string().min(1).default('x-hello'),
    value: z.string().default('world'),
  }),
  onRequest(req, ctx) {
    const { header, value } = ctx.options;
    if (req.headers.has(header)) return;
    req.headers.set(header, value);
    ctx.log.debug('header set', { header, route: req.routeName });
  },
});
`;

  const test = `import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PluginOptionsError, testPlugin } from '@isogate/sdk/testing';

// testPlugin bundles the plugin as the gateway does and runs its hooks in the gateway's own
// sandbox (from the isogate devDependency): same globals, limits, option validation and JSON
// crossing, so a plugin that passes here cannot fail in the gateway for a missing global.
describe(${JSON.stringify(name)}, () => {
  it('sets the header on a request that has none', async () => {
    await using t = await testPlugin(() => import('./index.ts'), { header: 'x-greeting', value: 'hi' });
    const out = await t.request({ path: '/orders/7' });
    assert.equal(out.forwarded?.headers['x-greeting'], 'hi');
  });

  it('keeps the value the client sent (names are case-insensitive)', async () => {
    await using t = await testPlugin(() => import('./index.ts'), {});
    const out = await t.request({ headers: { 'X-Hello': 'mine' } });
    assert.equal(out.forwarded?.headers['x-hello'], 'mine');
  });

  it('rejects bad options with their path', async () => {
    await assert.rejects(testPlugin(() => import('./index.ts'), { header: '' }), (err: unknown) => {
      assert.ok(err instanceof PluginOptionsError);
      assert.deepEqual(err.issues[0]?.path, ['header']);
      return true;
    });
  });
});
`;

  const unscoped = name.replace(/^@[^/]+\//, '');
  const readme = `# ${name}

An Isogate gateway plugin: sets a header on requests that
arrive without it.

## Use it in a gateway

\`\`\`sh
npm install ${name}
\`\`\`

Name it in \`gateway.config.ts\` by a function that imports the package: your editor and
\`isogate check\` type-check the options against the plugin's schema (from its declarations), the
function is never called, and the plugin's code only ever runs in its own isolate.

\`\`\`ts
import { defineConfig, usePlugin } from '@isogate/sdk';

export default defineConfig({
  plugins: {
    '${unscoped}': usePlugin(() => import('${name}'), { header: 'x-hello', value: 'world' }),
  },
  routes: [{ path: '/api/*', upstream: 'http://127.0.0.1:3000', middleware: ['${unscoped}'] }],
});
\`\`\`

Options:

| option | default | meaning |
|---|---|---|
| \`header\` | \`x-hello\` | the request header to set |
| \`value\` | \`world\` | its value, when the request has none |

## Develop

\`\`\`sh
npm install         # also installs Node.js 24 for the scripts (the node devDependency)
npm test            # node --test: the hooks in the gateway's sandbox, through @isogate/sdk/testing
npm run typecheck
npm run verify      # isogate plugin verify: packed, loaded, tested and type-checked as a gateway uses it
npm publish         # prepack builds dist/ (JavaScript, declarations, source maps) first
\`\`\`

\`npm run verify\` packs the package (\`npm pack\`, so the prepack build runs), checks its
\`@isogate/sdk\` peer range, loads the packed plugin into an isolate with the options in
\`package.json\` \`isogate.exampleOptions\`, runs \`npm test\`, and type-checks a gateway config
that names the package against its published declarations. \`.github/workflows/ci.yml\` runs it on
every push (commit \`package-lock.json\`: the workflow installs with \`npm ci\`).

To try it in a gateway project before publishing: \`npm pack\` here, then
\`npm install <path to the .tgz>\` there.

\`src/index.ts\` is bundled by the gateway into a V8 isolate: no Node APIs there (no \`process\`,
\`require\`, timers or \`node:\` imports; \`ctx.fetch\` instead of \`fetch\`), but \`URL\`,
\`TextEncoder\`/\`TextDecoder\`, \`atob\`/\`btoa\`, \`structuredClone\`, \`crypto\` (\`subtle\`,
\`randomUUID\`) and \`console\`. \`tsconfig.json\` types \`src\` with exactly those
(\`@isogate/sdk/sandbox\`); \`tsconfig.test.json\` types the tests with Node's. The tests run the
hooks through \`@isogate/sdk/testing\` in the gateway's own sandbox (the \`isogate\`
devDependency): the same globals, limits and option validation as in a gateway.

The package is published as \`dist/\` only (\`tsconfig.build.json\`: the tests are not built).
Tests and scripts need Node 24; the \`node\` devDependency brings it, so the machine's Node only
has to run npm.
`;

  // npm never publishes a .npmrc; this one only quiets npm for whoever develops the plugin.
  const npmrc = `# npm runs on this machine's Node; the scripts run on the Node 24 of the \`node\` devDependency.
# npm checks \`engines\` against its own Node and would warn about every package that wants 22 or
# 24: show errors only (\`npm install --loglevel=warn\` shows the warnings).
loglevel=error
fund=false
`;

  // CI for the plugin: the Node the scripts use, then the same checks a gateway team relies on.
  const workflow = `name: ci
on:
  push:
  pull_request:
jobs:
  verify:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 24
      - run: npm ci
      - run: npm run typecheck
      - run: npm run verify
`;

  return {
    'package.json': `${JSON.stringify(packageJson, null, 2)}\n`,
    '.github/workflows/ci.yml': workflow,
    'tsconfig.json': `${JSON.stringify(tsconfig, null, 2)}\n`,
    'tsconfig.build.json': `${JSON.stringify(tsconfigBuild, null, 2)}\n`,
    'tsconfig.test.json': `${JSON.stringify(tsconfigTest, null, 2)}\n`,
    '.gitignore': 'node_modules/\ndist/\n*.tgz\n',
    '.npmrc': npmrc,
    'src/index.ts': index,
    'src/index.test.ts': test,
    'README.md': readme,
  };
}
