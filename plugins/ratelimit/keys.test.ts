import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import type { GatewayRequest } from '../../runtime/src/chain/types.ts';
import { ipKey, keyFunction, parseIpv6 } from './keys.ts';
import type { RatelimitKey } from './options.ts';

const keyOf = (key: RatelimitKey, scope: 'instance' | 'route' = 'instance') => keyFunction({ key, ipv6Prefix: 64, scope });

describe('ratelimit keys', () => {
  it('counts IPv4 clients per address and IPv6 clients per /64 (configurable)', () => {
    assert.equal(ipKey('203.0.113.9', 64), 'ip:203.0.113.9');
    assert.equal(ipKey('::ffff:203.0.113.9', 64), 'ip:203.0.113.9');
    assert.equal(ipKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64), 'ip6:2001:db8:1:2:0:0:0:0/64');
    assert.equal(ipKey('2001:db8:1:2::1', 64), ipKey('2001:0db8:0001:0002:ffff::9', 64), 'the same /64 however it is written');
    assert.notEqual(ipKey('2001:db8:1:2::1', 64), ipKey('2001:db8:1:3::1', 64));
    assert.equal(ipKey('2001:db8:1:2:aaaa::1', 56), 'ip6:2001:db8:1:0:0:0:0:0/56');
    assert.equal(ipKey('2001:db8::1', 128), 'ip6:2001:db8:0:0:0:0:0:1/128');
    assert.equal(ipKey('2001:db8:ffff::1', 36), 'ip6:2001:db8:f000:0:0:0:0:0/36');
    assert.equal(ipKey('fe80::1%eth0', 64), 'ip6:fe80:0:0:0:0:0:0:0/64');
  });

  it('parses IPv6 forms and refuses what is not one', () => {
    assert.deepEqual(parseIpv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(parseIpv6('::1'), [0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(parseIpv6('64:ff9b::192.0.2.1'), [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0201]);
    for (const bad of ['1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '::1.2.3.256']) assert.equal(parseIpv6(bad), null, bad);
  });

  it('an IPv4 address written as IPv6 counts as that IPv4 address, however it is spelled, never as ::/64', () => {
    for (const spelling of ['::ffff:1.2.3.4', '::FFFF:1.2.3.4', '::ffff:102:304', '::FFFF:0102:0304', '0:0:0:0:0:ffff:1.2.3.4', '[::ffff:1.2.3.4]']) {
      assert.equal(ipKey(spelling, 64), 'ip:1.2.3.4', spelling);
    }
    assert.equal(ipKey('64:ff9b::1.2.3.4', 64), 'ip:1.2.3.4', 'NAT64 well-known prefix');
    assert.equal(ipKey('64:FF9B::102:304', 64), 'ip:1.2.3.4');
    assert.equal(ipKey('::1', 64), 'ip6:0:0:0:0:0:0:0:0/64');
    assert.notEqual(ipKey('::ffff:102:304', 64), ipKey('::1', 64));
    assert.equal(ipKey('64:ff9b:1::1.2.3.4', 64), 'ip6:64:ff9b:1:0:0:0:0:0/64', 'the local-use NAT64 /48 is not the well-known /96');
    assert.equal(ipKey('::fffe:1.2.3.4', 64), 'ip6:0:0:0:0:0:0:0:0/64', 'not mapped');
  });

  it('keys by a header, falling back to the client IP when it is absent', () => {
    const f = keyOf({ header: 'x-api-key' });
    assert.equal(f(testRequest({ headers: { 'x-api-key': 'k-1' } })), 'h:k-1');
    assert.equal(f(testRequest({ headers: { 'x-api-key': ['k-2'] } })), 'h:k-2');
    assert.equal(f(testRequest({ headers: {}, clientIp: '198.51.100.7' })), 'ip:198.51.100.7');
    assert.equal(f(testRequest({ headers: { 'x-api-key': '' }, clientIp: '198.51.100.7' })), 'ip:198.51.100.7');
  });

  it('one credential however it is written is one key: scheme case, whitespace, the scheme left out', () => {
    const f = keyOf({ header: 'authorization' });
    const tok = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig';
    const keys = new Set(
      [`Bearer ${tok}`, `bearer ${tok}`, `BEARER ${tok}`, `Bearer  ${tok}`, `Bearer \t ${tok}`, ` Bearer ${tok} `, [`Bearer ${tok}`]].map((authorization) =>
        f(testRequest({ headers: { authorization }, clientIp: '192.0.2.1' })),
      ),
    );
    assert.deepEqual([...keys], [`h:${tok}`]);
    const proxy = keyOf({ header: 'proxy-authorization' });
    assert.equal(proxy(testRequest({ headers: { 'proxy-authorization': 'basic   dXNlcjpwYXNz' } })), 'h:dXNlcjpwYXNz');
    assert.equal(f(testRequest({ headers: { authorization: 'k-raw' } })), 'h:k-raw', 'no scheme: the value is the credential');
    assert.equal(f(testRequest({ headers: { authorization: '   ' }, clientIp: '192.0.2.1' })), 'ip:192.0.2.1');
  });

  it('a header sent more than once cannot mint keys: counted by client IP', () => {
    const f = keyOf({ header: 'x-api-key' });
    const ip = '198.51.100.7';
    // Node joins a repeated field with ", " (two X-Api-Key fields arrive as "k, junk").
    for (const repeated of ['k, junk', 'k,junk', 'junk, k', 'k,', ['k', 'junk'], ['k', 'k']]) {
      assert.equal(f(testRequest({ headers: { 'x-api-key': repeated }, clientIp: ip })), `ip:${ip}`, JSON.stringify(repeated));
    }
    assert.equal(f(testRequest({ headers: { 'x-api-key': ' k  1 ' } })), 'h:k 1', 'trimmed, whitespace runs collapsed');
    assert.equal(f(testRequest({ headers: { 'x-api-key': 'k\t1' } })), 'h:k 1');
    assert.equal(f(testRequest({ headers: { 'x-api-key': 'K' } })), 'h:K', 'values stay case-sensitive');
    // Fields HTTP defines as single-valued are never joined (Node keeps the first): a comma is part of the value.
    const ua = keyOf({ header: 'user-agent' });
    assert.equal(ua(testRequest({ headers: { 'user-agent': 'Mozilla/5.0 (KHTML,  like Gecko)' } })), 'h:Mozilla/5.0 (KHTML, like Gecko)');
  });

  it('hashes long client-chosen values so a key stays small', () => {
    const f = keyOf({ header: 'x-api-key' });
    const long = f(testRequest({ headers: { 'x-api-key': 'x'.repeat(10_000) } }));
    assert.match(long, /^h:#[A-Za-z0-9_-]{43}$/);
    assert.notEqual(long, f(testRequest({ headers: { 'x-api-key': 'x'.repeat(9_999) + 'y' } })));
  });

  it('keys by a claim path from the verified claims, falling back to the client IP', () => {
    const f = keyOf({ claim: 'org.id' });
    assert.equal(f(testRequest({ claims: { sub: 'u', org: { id: 'acme' } } })), 'c:acme');
    assert.equal(f(testRequest({ claims: { org: { id: 42 } } })), 'c:42');
    assert.equal(f(testRequest({ claims: null, clientIp: '192.0.2.1' })), 'ip:192.0.2.1', 'no claims (unauthenticated)');
    assert.equal(f(testRequest({ claims: { org: {} }, clientIp: '192.0.2.1' })), 'ip:192.0.2.1');
    assert.equal(f(testRequest({ claims: { org: { id: { nested: 1 } } }, clientIp: '192.0.2.1' })), 'ip:192.0.2.1', 'objects are not keys');
    assert.equal(f(testRequest({ claims: { org: Object.create({ id: 'inherited' }) }, clientIp: '192.0.2.1' })), 'ip:192.0.2.1');
  });

  it('never confuses kinds: a header or claim value that looks like an IP key is its own key', () => {
    const h = keyOf({ header: 'x-api-key' });
    assert.notEqual(h(testRequest({ headers: { 'x-api-key': 'ip:192.0.2.1' } })), h(testRequest({ headers: {}, clientIp: '192.0.2.1' })));
    const c = keyOf({ claim: 'sub' });
    assert.notEqual(c(testRequest({ claims: { sub: '192.0.2.1' } })), c(testRequest({ clientIp: '192.0.2.1' })));
  });

  it('one global key; per-route keys when scoped to the route', () => {
    assert.equal(keyOf('global')(testRequest({ clientIp: '192.0.2.1' })), keyOf('global')(testRequest({ clientIp: '192.0.2.2' })));
    const perRoute = keyOf('ip', 'route');
    const on = (name: string) => testRequest({ route: { name, path: '/' } as GatewayRequest['route'] });
    assert.equal(perRoute(on('users')), 'r5:users|ip:127.0.0.1');
    assert.notEqual(perRoute(on('a|ip:1')), perRoute(on('a')));
  });
});
