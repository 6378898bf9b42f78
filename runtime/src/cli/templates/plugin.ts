import { SDK_VERSION } from '@isogate/sdk';

/**
 * The files of a new plugin package, by path relative to its directory. Kept as code rather than
 * template files so the runtime's type-check and test globs never mistake them for sources.
 */
export function pluginPackageFiles(name: string): Record<string, string> {
  const sdkRange = `^${SDK_VERSION}`;
  const packageJson = {
    name,
    version: '0.1.0',
    description: 'An Isogate gateway plugin',
    type: 'module',
    keywords: ['isogate-plugin'],
    license: 'MIT',
    // TypeScript sources are published as they are: the gateway bundles a plugin with esbuild
    // into its isolate, so Node never has to load (or strip) them.
    main: './src/index.ts',
    exports: { '.': './src/index.ts' },
    files: ['src', '!src/**/*.test.ts'],
    engines: { node: '>=24' },
    scripts: {
      test: 'node --test',
      typecheck: 'tsc -p tsconfig.json',
    },
    peerDependencies: { '@isogate/sdk': sdkRange },
    dependencies: { zod: '^4.0.0' },
    devDependencies: { '@isogate/sdk': sdkRange, '@types/node': '^24.10.0', typescript: '~5.9.3' },
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
      types: ['node'],
    },
    include: ['src'],
  };

  const index = `import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * Sets a header on requests that arrive without it, before they go upstream.
 *
 * This code runs in a V8 isolate inside the gateway: plain JavaScript only, no Node APIs
 * (no process, fetch, crypto, timers or node: imports). Importing one fails when the gateway
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
import plugin from './index.ts';

// testPlugin runs the hooks the way the gateway does: options validated by the schema, one JSON
// crossing each way, results checked with the gateway's rules.
describe(${JSON.stringify(name)}, () => {
  it('sets the header on a request that has none', async () => {
    const t = await testPlugin(plugin, { header: 'x-greeting', value: 'hi' });
    const out = await t.request({ path: '/orders/7' });
    assert.equal(out.forwarded?.headers['x-greeting'], 'hi');
  });

  it('keeps the value the client sent (names are case-insensitive)', async () => {
    const t = await testPlugin(plugin, {});
    const out = await t.request({ headers: { 'X-Hello': 'mine' } });
    assert.equal(out.forwarded?.headers['x-hello'], 'mine');
  });

  it('rejects bad options with their path', async () => {
    await assert.rejects(testPlugin(plugin, { header: '' }), (err: unknown) => {
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

Reference it by package name in \`gateway.config.ts\`. The type argument is a type-only import:
your editor and \`isogate check\` type-check the options against the plugin's schema, and the
plugin's code only ever runs in its own isolate.

\`\`\`ts
import { defineConfig, usePlugin } from '@isogate/sdk';

export default defineConfig({
  plugins: {
    '${unscoped}': usePlugin<typeof import('${name}')>('${name}', { header: 'x-hello', value: 'world' }),
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
npm install
npm test            # node --test, with @isogate/sdk/testing (no gateway needed)
npm run typecheck
\`\`\`

\`src/index.ts\` is bundled by the gateway into a V8 isolate: no Node APIs there (no \`process\`,
\`fetch\`, \`crypto\`, timers or \`node:\` imports). The tests run the hooks in Node through
\`@isogate/sdk/testing\`, which reproduces the gateway's handling of options, headers, state and
direct responses, but not the isolate's missing globals: \`isogate check\` on a config that uses
the plugin is the final word.

Tests need Node 24 (type stripping).
`;

  return {
    'package.json': `${JSON.stringify(packageJson, null, 2)}\n`,
    'tsconfig.json': `${JSON.stringify(tsconfig, null, 2)}\n`,
    'src/index.ts': index,
    'src/index.test.ts': test,
    'README.md': readme,
  };
}
