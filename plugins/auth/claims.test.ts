import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerToken, BAD_TOKEN, NO_TOKEN } from './bearer.ts';
import { checkClaims, compileClaimRules, compileRoleCheck, readClaim } from './claims.ts';
import { authOptionsSchema } from './options.ts';
import { headerValue } from './propagate.ts';
import { SECRET } from './test-support.ts';

const rules = (o: object = {}, delegated = false) => compileClaimRules(authOptionsSchema.parse({ secret: SECRET, ...o }), delegated);

describe('claim checks', () => {
  const now = 1_700_000_000_000;
  const sec = now / 1000;

  it('folds exp and iat + maxTokenAge into validUntil (what bounds a cache entry)', () => {
    assert.deepEqual(checkClaims({ exp: sec + 100 }, rules({ clockTolerance: '5s' }), now), { ok: true, validUntilMs: (sec + 105) * 1000 });
    assert.deepEqual(checkClaims({ exp: sec + 100, iat: sec - 50 }, rules({ clockTolerance: 0, maxTokenAge: '60s' }), now), { ok: true, validUntilMs: (sec + 10) * 1000 });
    assert.deepEqual(checkClaims({ sub: 'x' }, rules({ requireExp: false }), now), { ok: true, validUntilMs: Infinity });
  });

  it('requires exp by default, but not from a delegated verifier', () => {
    assert.deepEqual(checkClaims({ sub: 'x' }, rules(), now), { ok: false, reason: 'missing-claim' });
    assert.equal(checkClaims({ sub: 'x' }, rules({}, true), now).ok, true);
    assert.deepEqual(checkClaims({ sub: 'x' }, rules({ maxTokenAge: '1m', requireExp: false }), now), { ok: false, reason: 'missing-claim' }, 'maxTokenAge needs iat');
  });

  it('accepts an audience list intersecting the configured ones, and nothing else', () => {
    const r = rules({ audience: ['a', 'b'], requireExp: false });
    assert.equal(checkClaims({ aud: 'b' }, r, now).ok, true);
    assert.equal(checkClaims({ aud: ['x', 'a'] }, r, now).ok, true);
    for (const aud of [undefined, 'c', ['c'], [1], { a: 1 }]) assert.deepEqual(checkClaims({ aud }, r, now), { ok: false, reason: 'bad-audience' });
  });

  it('reads claim paths through own properties only', () => {
    const claims = JSON.parse('{"a":{"b":{"c":1}},"__proto__":{"polluted":true},"x.y":2}') as Record<string, unknown>;
    assert.equal(readClaim(claims, ['a', 'b', 'c']), 1);
    assert.equal(readClaim(claims, ['x.y']), 2);
    assert.equal(readClaim(claims, ['constructor']), undefined);
    assert.equal(readClaim(claims, ['a', 'toString']), undefined);
    assert.deepEqual(readClaim(claims, ['__proto__']), { polluted: true }, 'a JSON key named __proto__ is an own property');
  });

  it('role checks: arrays, scope strings, any/all, nothing granted', () => {
    const any = compileRoleCheck({ claim: 'scope', required: ['a', 'b'], match: 'any' })!;
    const all = compileRoleCheck({ claim: ['https://example.com/roles'], required: ['a', 'b'], match: 'all' })!;
    assert.equal(any({ scope: 'x  b\ty' }), true);
    assert.equal(any({ scope: 'x' }), false);
    assert.equal(any({ scope: 42 }), false);
    assert.equal(all({ 'https://example.com/roles': ['a', 'b', 'c'] }), true);
    assert.equal(all({ 'https://example.com/roles': ['a'] }), false);
    assert.equal(compileRoleCheck(undefined), null);
  });
});

describe('bearer tokens and propagated values', () => {
  it('parses the Authorization header (RFC 6750 §2.1)', () => {
    assert.equal(bearerToken(undefined), NO_TOKEN);
    assert.equal(bearerToken('Basic abc'), NO_TOKEN);
    assert.equal(bearerToken('Bearerish abc'), NO_TOKEN, 'another scheme whose name starts with bearer');
    assert.equal(bearerToken('bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(bearerToken('Bearer  abc=='), 'abc==');
    assert.equal(bearerToken('Bearer'), BAD_TOKEN);
    assert.equal(bearerToken('Bearer a,b'), BAD_TOKEN);
    // Only reachable in process (Gateway#request, a plugin earlier in the chain): over a socket
    // Node keeps the first Authorization field and drops the others.
    assert.equal(bearerToken(['Bearer a', 'Bearer b']), BAD_TOKEN);
  });

  it('takes any whitespace after the bearer scheme as a bearer attempt, never as no token', () => {
    // Lenient on spaces and tabs: the same token as with one space.
    for (const header of ['Bearer\tabc.def', 'BEARER \t abc.def', 'bearer\t\tabc.def\t', ' Bearer abc.def']) {
      assert.equal(bearerToken(header), 'abc.def', JSON.stringify(header));
    }
    // Anything else after the scheme is malformed (a 401 even in optional mode).
    for (const header of ['Bearer\vabc.def', 'Bearer\fabc.def', 'Bearer\u00a0abc.def', 'Bearer:abc.def', 'Bearer=abc', 'Bearer\t', 'Bearer \t ', 'bearer ,abc']) {
      assert.equal(bearerToken(header), BAD_TOKEN, JSON.stringify(header));
    }
  });

  it('turns claims into safe header values', () => {
    assert.equal(headerValue('alice'), 'alice');
    assert.equal(headerValue('Jane Doe'), 'Jane Doe', 'inner spaces stay');
    assert.equal(headerValue(42), '42');
    assert.equal(headerValue(true), 'true');
    assert.equal(headerValue(['a', 'b']), 'a,b');
    assert.equal(headerValue(['a', 'b', { no: 1 }, null]), 'a,b,{"no":1},null', 'nothing is dropped silently');
    assert.equal(headerValue({ id: 1, n: 'x' }), '{"id":1%2C"n":"x"}');
    assert.equal(headerValue('José'), 'Jos%C3%A9');
    assert.equal(headerValue('a\r\nX-Injected: 1'), 'a%0D%0AX-Injected: 1');
    assert.equal(headerValue('\ud800'), null, 'a lone surrogate has no UTF-8 form');
    assert.equal(headerValue(''), null);
    assert.equal(headerValue([]), null);
    assert.equal(headerValue(null), null);
    assert.equal(headerValue(undefined), null);
  });

  it('never gives two different claim values the same header value', () => {
    const pairs: [unknown, unknown][] = [
      ['José', 'Jos%C3%A9'],
      ['100%', '100%25'],
      ['alice ', 'alice'],
      [' alice', 'alice'],
      ['a\tb', 'a b'],
      [['a,b'], ['a', 'b']],
      ['a,b', ['a', 'b']],
      [['a ', 'b'], ['a', 'b']],
      [['a', ' b'], ['a', 'b']],
      [['a', ''], ['a']],
      [{ a: '1,2' }, { a: '1%2C2' }],
    ];
    for (const [x, y] of pairs) {
      const hx = headerValue(x);
      const hy = headerValue(y);
      assert.notEqual(hx, null);
      assert.notEqual(hx, hy, `${JSON.stringify(x)} and ${JSON.stringify(y)} both give ${hx}`);
    }
    assert.equal(headerValue('100%'), '100%25');
    assert.equal(headerValue('alice '), 'alice%20');
    assert.equal(headerValue(['a,b', 'c']), 'a%2Cb,c');
    // Decoding is: split on commas, percent-decode each item.
    const decode = (h: string) => h.split(',').map(decodeURIComponent);
    for (const value of [['x,y', ' z ', '%41', 'é'], ['', ''], ['tab\there']]) assert.deepEqual(decode(headerValue(value)!), value);
  });
});
