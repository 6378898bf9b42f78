import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSegment, normalizePath, splitTarget } from './normalize-path.ts';

describe('splitTarget', () => {
  const accepted: Array<[target: string, path: string, query: string]> = [
    ['/', '/', ''],
    ['/a/b', '/a/b', ''],
    ['/a/b?x=1', '/a/b', 'x=1'],
    ['/a?', '/a', ''],
    ['/a?x=1?y=2', '/a', 'x=1?y=2'],
    ['/?q', '/', 'q'],
    // Origin-form: the double slash is part of the path, never an authority.
    ['//evil.example/x', '//evil.example/x', ''],
    ['//evil.example/x?y', '//evil.example/x', 'y'],
    ['http://host:8080/a?x', '/a', 'x'],
    ['http://host', '/', ''],
    ['http://host?x=1', '/', 'x=1'],
    ['HTTPS://host/a/b', '/a/b', ''],
    ['http://user@host/a', '/a', ''],
    ['http://host//evil.example/x', '//evil.example/x', ''],
  ];
  for (const [target, path, query] of accepted) {
    it(`accepts ${JSON.stringify(target)}`, () => {
      assert.deepEqual(splitTarget(target), { ok: true, path, query });
    });
  }

  const rejected = ['*', '', 'a/b', 'evil.example/x', 'ftp://host/a', 'http:/a', 'http:///a', '/a#b', '/a?x#y', 'http://host/a#'];
  for (const target of rejected) {
    it(`rejects ${JSON.stringify(target)}`, () => {
      const r = splitTarget(target);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(typeof r.reason, 'string');
    });
  }
});

describe('normalizePath', () => {
  const accepted: Array<[raw: string, expected: string]> = [
    ['/', '/'],
    ['/a', '/a'],
    ['/a/b/c', '/a/b/c'],
    ['/a/', '/a/'],
    ['/a/b/', '/a/b/'],
    ['/users/123', '/users/123'],
    ['/a-b_c~d.e', '/a-b_c~d.e'],
    ['/a:b@c!$&\'()*+,;=', '/a:b@c!$&\'()*+,;='],
    // Slash merging.
    ['//evil.example/x', '/evil.example/x'],
    ['/a//b', '/a/b'],
    ['///a///b///', '/a/b/'],
    ['//', '/'],
    // Dot segments.
    ['/a/./b/../c', '/a/c'],
    ['/./a', '/a'],
    ['/a/.', '/a/'],
    ['/a/b/..', '/a/'],
    ['/a/b/../', '/a/'],
    ['/a/..', '/'],
    ['/..', '/'],
    ['/.', '/'],
    ['/../../etc', '/etc'],
    ['/a/../../../etc/passwd', '/etc/passwd'],
    ['/a//../b', '/b'],
    ['/.well-known/acme', '/.well-known/acme'],
    ['/a/.../b', '/a/.../b'],
    ['/a/..b/c.', '/a/..b/c.'],
    // Percent-encoding.
    ['/%7euser', '/~user'],
    ['/%41%62%63', '/Abc'],
    ['/a%2db%5fc%2E', '/a-b_c.'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/caf%C3%A9', '/caf%C3%A9'],
    ['/a%3ab', '/a%3Ab'],
    ['/a%20b', '/a%20b'],
    ['/%25', '/%25'],
    ['/%252e%252e', '/%252e%252e'],
    ['/a%3fb', '/a%3Fb'],
    ['/a%23b', '/a%23b'],
    ['/%e2%82%ac', '/%E2%82%AC'],
    ['/%F0%9F%98%80', '/%F0%9F%98%80'],
    ['/%2e%2efoo', '/..foo'],
    ['/a/%2e%2e%2e', '/a/...'],
    // Not dot segments: a name that starts with dots, or `;` after three dots.
    ['/a/.htaccess;x', '/a/.htaccess;x'],
    ['/a/...;x', '/a/...;x'],
    ['/a/b..;/c', '/a/b..;/c'],
    ['/a;x/b', '/a;x/b'],
  ];
  for (const [raw, expected] of accepted) {
    it(`normalises ${JSON.stringify(raw)} to ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(normalizePath(raw), { ok: true, path: expected });
    });
  }

  const rejected: Array<[raw: string, reason: RegExp]> = [
    ['', /start with/],
    ['a/b', /start with/],
    ['/a\\b', /backslash/],
    ['\\a', /start with/],
    ['/a b', /control/],
    ['/a\tb', /control/],
    ['/a\x00', /control/],
    ['/a\x7f', /control/],
    ['/caf\u00e9', /non-ASCII/],
    ['/\u2603', /non-ASCII/],
    ['/a?b', /query/],
    ['/a#b', /fragment/],
    ['/a%', /malformed/],
    ['/a%4', /malformed/],
    ['/a%zz', /malformed/],
    ['/a%g0', /malformed/],
    ['/a/..%2Fb', /encoded slash/],
    ['/a%2fb', /encoded slash/],
    ['/a%5Cb', /encoded backslash/],
    ['/a%5cb', /encoded backslash/],
    ['/a%00', /NUL/],
    ['/a/%2e%2e/b', /dot segment/],
    ['/a/%2E/b', /dot segment/],
    ['/a/.%2E', /dot segment/],
    ['/a/%2e.', /dot segment/],
    ['/%2e', /dot segment/],
    // Path parameters on a dot segment: Tomcat, Jetty and Spring resolve `..;x` to `..`.
    ['/public/..;/admin/secret', /parameters on a dot segment/],
    ['/a/..;jsessionid=1/b', /parameters on a dot segment/],
    ['/a/.;/b', /parameters on a dot segment/],
    ['/a/..;', /parameters on a dot segment/],
    ['/a/..%3b/b', /parameters on a dot segment/],
    ['/a/%2e%2e;/b', /parameters on a dot segment/],
    ['/a/.%2e%3Bx', /parameters on a dot segment/],
    ['/%C0%AF', /UTF-8/],
    ['/%c0%ae%c0%ae/etc', /UTF-8/],
    ['/%ff', /UTF-8/],
    ['/%C3', /UTF-8/],
    ['/%C3/%A9', /UTF-8/],
    ['/%C3x%A9', /UTF-8/],
    ['/%ED%A0%80', /UTF-8/],
    ['/%E0%80%AF', /UTF-8/],
    ['/%F8%88%80%80%80', /UTF-8/],
  ];
  for (const [raw, reason] of rejected) {
    it(`rejects ${JSON.stringify(raw)}`, () => {
      const r = normalizePath(raw);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.reason, reason);
    });
  }

  it('returns the input string itself on the fast path', () => {
    const raw = '/api/v1/users/123';
    const r = normalizePath(raw);
    assert.ok(r.ok);
    assert.equal(r.path, raw);
  });

  it('is idempotent on every accepted case', () => {
    for (const [raw] of accepted) {
      const once = normalizePath(raw);
      assert.ok(once.ok);
      assert.deepEqual(normalizePath(once.path), once, raw);
    }
  });

  it('agrees with splitTarget output for a full request-target', () => {
    const split = splitTarget('//evil.example/%2e/x?y=1');
    assert.ok(split.ok);
    assert.equal(split.query, 'y=1');
    assert.equal(normalizePath(split.path).ok, false);
  });
});

describe('decodeSegment', () => {
  const cases: Array<[string, string]> = [
    ['abc', 'abc'],
    ['a%20b', 'a b'],
    ['caf%C3%A9', 'café'],
    ['%25', '%'],
    ['%3A', ':'],
    ['', ''],
  ];
  for (const [seg, expected] of cases) {
    it(`decodes ${JSON.stringify(seg)}`, () => {
      assert.equal(decodeSegment(seg), expected);
    });
  }

  it('decodes anything normalizePath accepted without throwing', () => {
    const r = normalizePath('/caf%c3%a9/%F0%9F%98%80/a%20b');
    assert.ok(r.ok);
    assert.deepEqual(r.path.slice(1).split('/').map(decodeSegment), ['café', '😀', 'a b']);
  });
});
