import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from './config-error.ts';
import { evaluateConfig } from './evaluate-config.ts';

// Code as esbuild bundles a config: CommonJS assigning module.exports.default.
const FILE = path.join(import.meta.dirname, 'gateway.config.ts');
const exporting = (expression: string, before = '') => `${before}\nmodule.exports.default = ${expression};\n`;

async function rejection(code: string, options?: Parameters<typeof evaluateConfig>[2]): Promise<ConfigError> {
  try {
    await evaluateConfig(code, FILE, options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.equal(err.file, FILE);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('evaluateConfig', () => {
  it('returns the default export, with shared objects, cycles and getters as plain data', async () => {
    const value = (await evaluateConfig(
      exporting('{ routes: [route, route], self: undefined, get port() { return 8080; } }', `const route = { path: '/a', upstream: 'http://x' };`),
      FILE,
    )) as { routes: unknown[]; port: number };
    assert.deepEqual(value.routes, [{ path: '/a', upstream: 'http://x' }, { path: '/a', upstream: 'http://x' }]);
    assert.equal(value.routes[0], value.routes[1], 'a shared object stays shared');
    assert.equal(value.port, 8080);
    const cyclic = (await evaluateConfig(exporting('c', 'const c = { routes: [] }; c.me = c;'), FILE)) as { me: unknown };
    assert.equal(cyclic.me, cyclic);
  });

  it('requires packages and shares the environment, as it is at each evaluation', async () => {
    const code = exporting(
      `{ base: require('node:path').basename(__filename), value: process.env.ISOGATE_TEST_EVALUATE }`,
      `process.env.ISOGATE_TEST_EVALUATE_SET = 'by the config';`,
    );
    process.env['ISOGATE_TEST_EVALUATE'] = 'one';
    assert.deepEqual(await evaluateConfig(code, FILE), { base: 'gateway.config.ts', value: 'one' });
    process.env['ISOGATE_TEST_EVALUATE'] = 'two';
    assert.deepEqual(await evaluateConfig(code, FILE), { base: 'gateway.config.ts', value: 'two' });
    assert.equal(process.env['ISOGATE_TEST_EVALUATE_SET'], 'by the config');
    delete process.env['ISOGATE_TEST_EVALUATE'];
    delete process.env['ISOGATE_TEST_EVALUATE_SET'];
  });

  it('reports a throw with its message, and a missing environment variable at (environment)', async () => {
    const thrown = await rejection(`throw new Error('boom at load');`);
    assert.deepEqual(thrown.issues, [{ path: 'gateway.config.ts', message: 'evaluating the config failed: boom at load' }]);
    const missing = await rejection(`const e = new Error('environment variable X is not set (and no default was given)'); e.code = 'ISOGATE_ERR_CONFIG_ENV'; throw e;`);
    assert.deepEqual(missing.issues, [{ path: '(environment)', message: 'evaluating the config failed: environment variable X is not set (and no default was given)' }]);
    const notAnError = await rejection(`throw null;`);
    assert.equal(notAnError.issues[0]!.message, 'evaluating the config failed: null');
  });

  it('requires a default export', async () => {
    const err = await rejection(`module.exports.config = {};`);
    assert.match(err.issues[0]!.message, /must `export default defineConfig/);
  });

  it('names the key path of anything that is not plain data', async () => {
    const cases: [string, string, RegExp][] = [
      [`{ plugins: { p: { use: './p.ts', options: { pick() {} } } } }`, 'plugins.p.options.pick', /^a function \(pick\) cannot be part of a config/],
      [`{ routes: [{ path: '/a', upstream: new URL('http://x') }] }`, 'routes[0].upstream', /^a URL object /],
      [`{ server: { when: new Date(0) } }`, 'server.when', /^a Date object /],
      [`{ routes: [], tag: Symbol('t') }`, 'tag', /^a symbol /],
      [`{ routes: [], n: 1n }`, 'n', /^a bigint /],
      [`{ routes: [], server: new (class Server { port = 1 })() }`, 'server', /^a Server object /],
      [`Promise.resolve({ routes: [] })`, '', /^a Promise object /],
    ];
    for (const [expression, at, message] of cases) {
      const err = await rejection(exporting(expression));
      assert.equal(err.issues[0]!.path, at, expression);
      assert.match(err.issues[0]!.message, message, expression);
    }
  });

  it('stops a config that does not finish by the deadline, naming the file and the deadline', async () => {
    const err = await rejection(`while (true) {}`, { deadlineMs: 300 });
    assert.deepEqual(err.issues, [{ path: 'gateway.config.ts', message: 'evaluating gateway.config.ts did not finish within 0.3 s (an endless loop at its top level?)' }]);
  });

  it('reports a config that ends its thread', async () => {
    const err = await rejection(`process.exit(3);`);
    assert.match(err.issues[0]!.message, /ended its thread \(process\.exit\(3\)\?\)/);
  });

  it('rejects with the abort reason (not the deadline\'s error) when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = evaluateConfig(`while (true) {}`, FILE, { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await assert.rejects(pending, /shutting down/);
    await assert.rejects(evaluateConfig(exporting('{}'), FILE, { signal: controller.signal }), /shutting down/);
  });
});
