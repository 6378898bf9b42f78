import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinPlugins } from '../plugins/builtins.ts';
import { ConfigError } from './config-error.ts';
import { resolveConfig } from './validate-config.ts';

const upstream = 'http://127.0.0.1:3001';

function problems(input: unknown): string[] {
  try {
    resolveConfig(input, builtinPlugins);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('config was accepted');
}

function expectProblem(input: unknown, path: string, message?: RegExp): void {
  const found = problems(input);
  const hit = found.find((p) => p.startsWith(`${path}: `));
  assert.ok(hit, `no problem at ${path}; got:\n${found.join('\n')}`);
  if (message) assert.match(hit, message);
}

describe('resolveConfig: rejections name the key path', () => {
  const cases: [string, unknown, string, RegExp?][] = [
    ['routes missing', {}, 'routes', /expected array/],
    ['unknown top-level key', { routes: [], rotues: [] }, 'rotues', /unknown key/],
    ['unknown nested key', { server: { limits: { maxBody: 1 } }, routes: [] }, 'server.limits.maxBody', /unknown key/],
    ['wrong type', { server: { port: 'eighty' }, routes: [] }, 'server.port', /number/],
    ['port out of range', { server: { port: 70000 }, routes: [] }, 'server.port'],
    ['bad upstream', { routes: [{ path: '/a', upstream: 'not a url' }] }, 'routes[0].upstream', /http\(s\) URL/],
    ['ftp upstream', { routes: [{ path: '/a', upstream: 'ftp://x' }] }, 'routes[0].upstream', /http\(s\) URL/],
    ['upstream with credentials', { routes: [{ path: '/a', upstream: 'http://u:p@x' }] }, 'routes[0].upstream'],
    ['bad upstream in a list', { routes: [{ path: '/a', upstream: [upstream, 'nope'] }] }, 'routes[0].upstream[1]', /http\(s\) URL/],
    ['empty upstream list', { routes: [{ path: '/a', upstream: [] }] }, 'routes[0].upstream', /at least one/],
    ['bad path pattern', { routes: [{ path: 'a', upstream }] }, 'routes[0].path'],
    ['wildcard not last', { routes: [{ path: '/a/*/b', upstream }] }, 'routes[0].path'],
    ['bad method', { routes: [{ path: '/a', upstream, methods: ['FETCH'] }] }, 'routes[0].methods[0]'],
    ['bad duration', { routes: [{ path: '/a', upstream, timeout: { connect: 'soon' } }] }, 'routes[0].timeout.connect', /duration/],
    ['bad size', { server: { limits: { maxBodyBytes: '1 gallon' } }, routes: [] }, 'server.limits.maxBodyBytes', /size/],
    ['bad trusted proxy', { server: { trustedProxies: ['10.0.0.0/33'] }, routes: [] }, 'server.trustedProxies[0]', /CIDR/],
    ['bad underscore policy', { server: { underscoreHeaders: 'allow' }, routes: [] }, 'server.underscoreHeaders'],
    ['unknown middleware', { routes: [{ path: '/a', upstream, middleware: ['tracing'] }] }, 'routes[0].middleware[0]', /no plugin instance named "tracing"/],
    ['unknown global middleware', { middleware: ['auth'], routes: [] }, 'middleware[0]', /no plugin instance named "auth"/],
    ['isolate limits on a built-in', { plugins: { h: { use: 'headers', limits: { cpuMs: 5 } } }, routes: [] }, 'plugins.h.limits', /user plugins only/],
    ['fetch allow-list entry with a path', { plugins: { u: { use: './u.ts', fetch: { allow: ['https://idp.example.com/introspect'] } } }, routes: [] }, 'plugins.u.fetch.allow[0]', /origin/],
    ['fetch on a built-in', { plugins: { h: { use: 'headers', fetch: { allow: ['https://idp.example.com'] } } }, routes: [] }, 'plugins.h.fetch', /user plugins only/],
    ['bad user plugin limits', { plugins: { u: { use: './u.ts', limits: { memoryMb: 1 } } }, routes: [] }, 'plugins.u.limits.memoryMb'],
    ['bad plugin options', { plugins: { h: { use: 'headers', options: { request: { sett: {} } } } }, routes: [] }, 'plugins.h.options.request.sett', /unknown key/],
    ['bad header value', { plugins: { h: { use: 'headers', options: { response: { set: { 'x-a': 'a\r\nb' } } } } }, routes: [] }, 'plugins.h.options.response.set["x-a"]', /CR, LF/],
    ['middleware listed twice', { plugins: { h: { use: 'headers' } }, routes: [{ path: '/a', upstream, middleware: ['h', 'h'] }] }, 'routes[0].middleware[1]', /twice/],
    ['route repeats global middleware', { plugins: { h: { use: 'headers' } }, middleware: ['h'], routes: [{ path: '/a', upstream, middleware: ['h'] }] }, 'routes[0].middleware[0]', /globally/],
    ['unknown template param', { routes: [{ path: '/u/:id', upstream: `${upstream}/users/{uid}` }] }, 'routes[0].upstream', /\{uid\}/],
    ['wildcard placeholder without wildcard', { routes: [{ path: '/u', upstream, rewrite: '/x/{*}' }] }, 'routes[0].rewrite', /\{\*\}/],
    ['stripPrefix not a prefix', { routes: [{ path: '/u/*', upstream, stripPrefix: '/api' }] }, 'routes[1]'.slice(0, 0) + 'routes[0].stripPrefix', /not a prefix/],
    ['both stripPrefix and rewrite', { routes: [{ path: '/api/*', upstream, stripPrefix: '/api', rewrite: '/{*}' }] }, 'routes[0].stripPrefix', /either/],
    [
      'indistinguishable routes',
      { routes: [{ path: '/users/:id', upstream }, { path: '/users/:uid', upstream, methods: ['GET'] }] },
      'routes[1].path',
      /never be told apart from routes\[0\]/,
    ],
  ];
  for (const [name, input, path, message] of cases) {
    it(`${name} → ${path}`, () => expectProblem(input, path, message));
  }

  it('reports every problem at once', () => {
    const found = problems({ server: { port: -1 }, routes: [{ path: '/a', upstream: 'x' }] });
    assert.ok(found.length >= 2, found.join('\n'));
  });

  it('the error message lists the problems for a person', () => {
    try {
      resolveConfig({ routes: [{ path: '/a', upstream: 'x' }] }, builtinPlugins, '/srv/gateway.config.ts');
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^invalid config \/srv\/gateway\.config\.ts \(1 problem\):\n {2}routes\[0\]\.upstream: expected an http\(s\) URL/);
    }
  });
});

describe('resolveConfig: accepted configs', () => {
  it('fills defaults, converts units and freezes the result', () => {
    const config = resolveConfig(
      { server: { timeouts: { headers: '10s' }, limits: { maxBodyBytes: '2mb' } }, routes: [{ path: '/users/:id', upstream: `${upstream}/users/{id}`, timeout: { connect: 250 } }] },
      builtinPlugins,
    );
    assert.equal(config.server.port, 8080);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.timeouts.headers, 10_000);
    assert.equal(config.server.timeouts.request, 60_000);
    assert.equal(config.server.limits.maxBodyBytes, 2 * 1024 * 1024);
    assert.equal(config.server.limits.maxHeaderCount, 100);
    assert.equal(config.server.limits.bufferBodyBytes, 1024 * 1024);
    assert.equal(config.server.limits.maxInFlightPerClient, 64);
    assert.equal(config.server.timeouts.send, 30_000);
    assert.equal(config.server.underscoreHeaders, 'drop');
    assert.deepEqual(config.server.health, { liveness: '/healthz', readiness: '/readyz', requireUpstreams: false });
    const route = config.routes[0]!;
    assert.equal(route.name, '/users/:id');
    assert.deepEqual(route.upstreams, [`${upstream}/users/{id}`]);
    assert.deepEqual(route.timeout, { connect: 250, queue: 5_000, headers: 30_000, idle: 60_000, total: null });
    assert.equal(route.circuitBreaker, null, 'no breaker, health checks or retries unless asked for');
    assert.equal(route.healthCheck, null);
    assert.equal(route.retry, null);
    assert.equal(route.websocket, false, 'upgrades are opt-in per route');
    assert.equal(route.requestBuffering, true);
    assert.equal(route.methods, null);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.server.limits) && Object.isFrozen(route.timeout));
    assert.throws(() => {
      (config.server as { port: number }).port = 1;
    }, TypeError);
  });

  it('allows the same pattern for disjoint methods and different param names', () => {
    const config = resolveConfig(
      { routes: [{ path: '/u/:id', upstream, methods: ['GET'] }, { path: '/u/:uid', upstream, methods: ['POST'] }] },
      builtinPlugins,
    );
    assert.equal(config.routes.length, 2);
  });

  it('treats a non-built-in `use` as a user plugin with default limits (loaded and checked later)', () => {
    const config = resolveConfig({ plugins: { u: { use: './plugins/u.ts', options: { a: 1 } } }, routes: [] }, builtinPlugins);
    assert.deepEqual(config.plugins['u'], { kind: 'user', use: './plugins/u.ts', options: { a: 1 }, failurePolicy: 'fail-closed', isolation: 'own', limits: { memoryMb: 64, cpuMs: 50, wallMs: 1_000 }, fetch: null });
  });

  it('loads `kind: "user"` (what usePlugin writes) as a user plugin even when its name is a built-in\'s', () => {
    const config = resolveConfig({ plugins: { log: { kind: 'user', use: 'logging', options: { level: 'x' }, failurePolicy: 'fail-open' } }, middleware: ['log'], routes: [] }, builtinPlugins);
    assert.deepEqual(config.plugins['log'], { kind: 'user', use: 'logging', options: { level: 'x' }, failurePolicy: 'fail-open', isolation: 'own', limits: { memoryMb: 64, cpuMs: 50, wallMs: 1_000 }, fetch: null });
    // Without it, the name is the built-in's, as before.
    assert.equal(resolveConfig({ plugins: { log: { use: 'logging' } }, routes: [] }, builtinPlugins).plugins['log']!.kind, 'builtin');
  });

  it('a user package named "auth" does not make a route authenticated', () => {
    expectProblem(
      { plugins: { auth: { kind: 'user', use: 'auth' } }, routes: [{ path: '/me', upstream: `${upstream}/users/{claims.sub}`, middleware: ['auth'] }] },
      'routes[0].upstream',
      /needs an auth plugin/,
    );
    expectProblem({ plugins: { x: { kind: 'builtin', use: 'logging' } }, routes: [] }, 'plugins.x.kind');
  });

  it('validates plugin options with the plugin schema and keeps the parsed options', () => {
    const config = resolveConfig({ plugins: { h: { use: 'headers', options: { response: { set: { 'X-A': '1' } } } } }, middleware: ['h'], routes: [] }, builtinPlugins);
    assert.deepEqual(config.plugins['h'], { kind: 'builtin', use: 'headers', options: { request: { set: {}, append: {}, remove: [] }, response: { set: { 'X-A': '1' }, append: {}, remove: [] } } });
  });
});
