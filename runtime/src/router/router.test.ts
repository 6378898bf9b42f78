import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Router, RouterConflictError, RouterPatternError, checkPattern, patternKey } from './router.ts';
import type { RouteMatch } from './router.ts';

type Route = [pattern: string, methods: string[] | null];

function build(routes: readonly Route[]): Router<string> {
  const r = new Router<string>();
  // The value is the pattern plus methods so a test can tell which route won.
  for (const [pattern, methods] of routes) r.add(pattern, methods, routeId(pattern, methods));
  return r;
}

function routeId(pattern: string, methods: readonly string[] | null): string {
  return `${methods === null ? '*' : methods.join(',')} ${pattern}`;
}

function winner(m: RouteMatch<string>): string {
  if (m.kind === 'found') return m.value;
  if (m.kind === 'method-not-allowed') return `405 ${m.allow.join(',')}`;
  return '404';
}

describe('Router specificity', () => {
  const routes: Route[] = [
    ['/', ['GET']],
    ['/users', ['GET']],
    ['/users/', ['GET']],
    ['/users/me', ['GET']],
    ['/users/:id', ['GET']],
    ['/users/:id/posts', ['GET']],
    ['/users/*', ['GET']],
    ['/a/:x/c', ['GET']],
    ['/a/b/d', ['GET']],
    ['/files/*', ['GET']],
    ['/files/images/*', ['GET']],
    ['/files/images/logo.png', ['GET']],
    ['/*', ['GET']],
  ];

  // [path, expected winner]
  const table: Array<[string, string]> = [
    ['/', 'GET /'],
    ['/users', 'GET /users'],
    ['/users/', 'GET /users/'],
    ['/users/me', 'GET /users/me'],
    ['/users/42', 'GET /users/:id'],
    ['/users/42/posts', 'GET /users/:id/posts'],
    ['/users/me/posts', 'GET /users/:id/posts'],
    ['/users/42/other', 'GET /users/*'],
    ['/users/me/', 'GET /users/*'],
    // Backtracking: static 'b' leads to a dead end, param ':x' then succeeds.
    ['/a/b/c', 'GET /a/:x/c'],
    ['/a/b/d', 'GET /a/b/d'],
    ['/a/z/c', 'GET /a/:x/c'],
    ['/a/b/e', 'GET /*'],
    ['/files', 'GET /files/*'],
    ['/files/', 'GET /files/*'],
    ['/files/readme.md', 'GET /files/*'],
    ['/files/images', 'GET /files/images/*'],
    ['/files/images/cat.png', 'GET /files/images/*'],
    ['/files/images/logo.png', 'GET /files/images/logo.png'],
    ['/files/images/logo.png/x', 'GET /files/images/*'],
    ['/nothing/here', 'GET /*'],
  ];

  const forward = build(routes);
  const reversed = build([...routes].reverse());
  for (const [path, expected] of table) {
    it(`${path} -> ${expected}`, () => {
      assert.equal(winner(forward.match('GET', path)), expected);
    });
    it(`${path} -> ${expected} (reversed insertion order)`, () => {
      assert.equal(winner(reversed.match('GET', path)), expected);
    });
  }

  it('does not let a pattern without trailing slash match a path with one', () => {
    const r = build([['/users', ['GET']]]);
    assert.equal(winner(r.match('GET', '/users/')), '404');
    const s = build([['/users/', ['GET']]]);
    assert.equal(winner(s.match('GET', '/users')), '404');
  });

  it('never matches a param against an empty segment', () => {
    const r = build([['/users/:id', ['GET']]]);
    assert.equal(winner(r.match('GET', '/users/')), '404');
    assert.equal(winner(r.match('GET', '/users')), '404');
    const root = build([['/:id', ['GET']]]);
    assert.equal(winner(root.match('GET', '/')), '404');
  });
});

describe('Router params', () => {
  const r = build([
    ['/users/:id', ['GET']],
    ['/users/:userId/posts/:postId', ['GET']],
    ['/files/*', ['GET']],
    ['/s/:name/*', ['GET']],
    ['/root-wild/*', null],
    ['/*', ['POST']],
  ]);

  const table: Array<[method: string, path: string, params: Record<string, string>]> = [
    ['GET', '/users/42', { id: '42' }],
    ['GET', '/users/a%20b', { id: 'a b' }],
    ['GET', '/users/caf%C3%A9', { id: 'café' }],
    ['GET', '/users/%25', { id: '%' }],
    ['GET', '/users/a%3Ab', { id: 'a:b' }],
    ['GET', '/users/7/posts/9', { userId: '7', postId: '9' }],
    ['GET', '/files', { '*': '' }],
    ['GET', '/files/', { '*': '' }],
    ['GET', '/files/a', { '*': 'a' }],
    ['GET', '/files/a/b/', { '*': 'a/b/' }],
    // The wildcard rest stays raw (normalised, not decoded).
    ['GET', '/files/a%20b/c', { '*': 'a%20b/c' }],
    ['GET', '/s/x%20y/rest/of', { name: 'x y', '*': 'rest/of' }],
    ['DELETE', '/root-wild/q', { '*': 'q' }],
    ['POST', '/', { '*': '' }],
    ['POST', '/anything/at/all', { '*': 'anything/at/all' }],
  ];
  for (const [method, path, params] of table) {
    it(`${method} ${path} params`, () => {
      const m = r.match(method, path);
      assert.equal(m.kind, 'found');
      if (m.kind === 'found') assert.deepEqual(m.params, params);
    });
  }

  it('uses the param names of the route that matched, not of a sibling with the same shape', () => {
    const s = build([
      ['/u/:id', ['GET']],
      ['/u/:uid', ['POST']],
    ]);
    assert.deepEqual(s.match('GET', '/u/1'), { kind: 'found', value: 'GET /u/:id', params: { id: '1' }, pattern: '/u/:id' });
    assert.deepEqual(s.match('POST', '/u/1'), { kind: 'found', value: 'POST /u/:uid', params: { uid: '1' }, pattern: '/u/:uid' });
  });

  it('does not leak params from an abandoned backtracking branch', () => {
    const s = build([
      ['/a/:x/c', ['GET']],
      ['/a/:y/d/:z', ['POST']],
      ['/a/*', ['GET']],
    ]);
    assert.deepEqual(s.match('GET', '/a/b/d/e'), { kind: 'found', value: 'GET /a/*', params: { '*': 'b/d/e' }, pattern: '/a/*' });
  });

  it('returns fresh params objects', () => {
    const s = build([['/x', ['GET']]]);
    const a = s.match('GET', '/x');
    const b = s.match('GET', '/x');
    assert.ok(a.kind === 'found' && b.kind === 'found');
    assert.notEqual(a.params, b.params);
  });
});

describe('Router methods', () => {
  const r = build([
    ['/items', ['GET', 'POST']],
    ['/items/:id', ['GET']],
    ['/items/:id', ['DELETE']],
    ['/items/:id', ['OPTIONS']],
    ['/only-post', ['POST']],
    ['/explicit-head', ['GET']],
    ['/explicit-head', ['HEAD']],
    ['/any', null],
    ['/fallback/special', ['POST']],
    ['/fallback/*', ['GET']],
    ['/deep/:a/x', ['PUT']],
    ['/deep/b/:c', ['PATCH']],
  ]);

  const table: Array<[method: string, path: string, expected: string]> = [
    ['GET', '/items', 'GET,POST /items'],
    ['POST', '/items', 'GET,POST /items'],
    ['HEAD', '/items', 'GET,POST /items'],
    ['PUT', '/items', '405 GET,HEAD,POST'],
    ['HEAD', '/items/1', 'GET /items/:id'],
    ['DELETE', '/items/1', 'DELETE /items/:id'],
    ['OPTIONS', '/items/1', 'OPTIONS /items/:id'],
    ['PATCH', '/items/1', '405 DELETE,GET,HEAD,OPTIONS'],
    ['GET', '/only-post', '405 POST'],
    ['HEAD', '/only-post', '405 POST'],
    ['OPTIONS', '/only-post', '405 POST'],
    ['HEAD', '/explicit-head', 'HEAD /explicit-head'],
    ['GET', '/explicit-head', 'GET /explicit-head'],
    ['BREW', '/any', '* /any'],
    ['GET', '/any', '* /any'],
    ['GET', '/missing', '404'],
    ['DELETE', '/missing', '404'],
    // The exact route does not accept GET, but the wildcard does: fall back to it.
    ['GET', '/fallback/special', 'GET /fallback/*'],
    ['POST', '/fallback/special', 'POST /fallback/special'],
    ['DELETE', '/fallback/special', '405 GET,HEAD,POST'],
    // 405 Allow is the union over every node the path reached, including via backtracking.
    ['GET', '/deep/b/x', '405 PATCH,PUT'],
    ['PUT', '/deep/b/x', 'PUT /deep/:a/x'],
    ['PATCH', '/deep/b/x', 'PATCH /deep/b/:c'],
    ['PATCH', '/deep/q/x', '405 PUT'],
    // Methods are case-sensitive (RFC 9110 §9.1).
    ['get', '/items', '405 GET,HEAD,POST'],
  ];
  for (const [method, path, expected] of table) {
    it(`${method} ${path} -> ${expected}`, () => {
      assert.equal(winner(r.match(method, path)), expected);
    });
  }

  it('reports found with pattern and empty params for a static route', () => {
    assert.deepEqual(r.match('GET', '/items'), { kind: 'found', value: 'GET,POST /items', params: {}, pattern: '/items' });
  });

  it('an empty router finds nothing', () => {
    assert.deepEqual(new Router<number>().match('GET', '/'), { kind: 'not-found' });
  });

  it('rejects bad method lists', () => {
    const s = new Router<string>();
    assert.throws(() => s.add('/x', [], 'a'), TypeError);
    assert.throws(() => s.add('/x', ['get'], 'a'), TypeError);
    assert.throws(() => s.add('/x', ['GET POST'], 'a'), TypeError);
    s.add('/x', ['GET', 'GET'], 'a');
    assert.equal(winner(s.match('POST', '/x')), '405 GET,HEAD');
  });
});

describe('Router conflicts', () => {
  const cases: Array<[name: string, first: Route, second: Route, conflicts: boolean]> = [
    ['same param shape, same method', ['/u/:id', ['GET']], ['/u/:x', ['GET']], true],
    ['same param shape, different method', ['/u/:id', ['GET']], ['/u/:x', ['POST']], false],
    ['overlapping method lists', ['/u/:id', ['GET', 'PUT']], ['/u/:x', ['PUT', 'DELETE']], true],
    ['null methods after a method route', ['/u/:id', ['GET']], ['/u/:x', null], true],
    ['method route after null methods', ['/u/:id', null], ['/u/:x', ['PATCH']], true],
    ['null and null', ['/u', null], ['/u', null], true],
    ['identical static routes', ['/u', ['GET']], ['/u', ['GET']], true],
    ['GET and explicit HEAD', ['/u', ['GET']], ['/u', ['HEAD']], false],
    ['wildcards with the same prefix', ['/f/*', ['GET']], ['/f/*', ['GET']], true],
    ['wildcard vs exact at the same prefix', ['/f/*', null], ['/f', null], false],
    ['param vs static', ['/u/:id', null], ['/u/me', null], false],
    ['trailing slash vs none', ['/u', null], ['/u/', null], false],
    ['different depth', ['/u/:id', null], ['/u/:id/x', null], false],
  ];
  for (const [name, first, second, conflicts] of cases) {
    it(`${name}: ${conflicts ? 'throws' : 'ok'}`, () => {
      const r = build([first]);
      if (conflicts) assert.throws(() => r.add(second[0], second[1], 'second'), RouterConflictError);
      else assert.doesNotThrow(() => r.add(second[0], second[1], 'second'));
    });
  }

  it('leaves the router unchanged after a conflict', () => {
    const r = build([['/u/:id', ['GET']]]);
    assert.throws(() => r.add('/u/:x', ['POST', 'GET'], 'bad'), RouterConflictError);
    assert.equal(winner(r.match('POST', '/u/1')), '405 GET,HEAD');
  });

  it('throws RouterPatternError for an invalid pattern', () => {
    assert.throws(() => new Router<number>().add('/a/*/b', null, 1), RouterPatternError);
  });
});

describe('patternKey', () => {
  const table: Array<[string, string]> = [
    ['/', '/'],
    ['/users', '/users'],
    ['/users/', '/users/'],
    ['/users/:id', '/users/:'],
    ['/users/:uid', '/users/:'],
    ['/users/:id/posts/:pid', '/users/:/posts/:'],
    ['/files/*', '/files/*'],
    ['/*', '/*'],
    ['/v1/models:predict', '/v1/models:predict'],
  ];
  for (const [pattern, key] of table) {
    it(`${pattern} -> ${key}`, () => {
      assert.equal(patternKey(pattern), key);
    });
  }

  it('throws on invalid patterns', () => {
    assert.throws(() => patternKey('users'), RouterPatternError);
  });
});

describe('checkPattern', () => {
  const valid = ['/', '/users', '/users/', '/users/:id', '/users/:id/', '/:a/:b', '/files/*', '/*', '/_x/:_y9', '/v1/models:predict', '/~user', '/caf%C3%A9', '/a.b/..c'];
  for (const pattern of valid) {
    it(`accepts ${pattern}`, () => {
      assert.equal(checkPattern(pattern), null);
    });
  }

  const invalid: Array<[pattern: string, message: RegExp]> = [
    ['', /start with/],
    ['users', /start with/],
    ['/a/*/b', /last segment/],
    ['/a/*/', /last segment/],
    ['/a/b*', /whole segment/],
    ['/a/:', /param name/],
    ['/a/:1x', /param name/],
    ['/a/:x-y', /param name/],
    ['/a/:x/:x', /duplicate/],
    ['/a/:__proto__', /reserved/],
    ['/a//b', /empty segment/],
    ['//', /empty segment/],
    ['/a/../b', /dot segment/],
    ['/a/./b', /dot segment/],
    ['/a b', /invalid segment/],
    ['/a%2Fb', /invalid segment/],
    ['/%7Euser', /not normalised/],
    ['/caf%c3%a9', /not normalised/],
  ];
  for (const [pattern, message] of invalid) {
    it(`rejects ${JSON.stringify(pattern)}`, () => {
      const err = checkPattern(pattern);
      assert.notEqual(err, null);
      assert.match(err ?? '', message);
    });
  }
});
