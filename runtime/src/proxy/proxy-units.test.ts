import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pool } from 'undici';
import { dropConnectionNominated, endToEndRequestHeaders, endToEndResponseHeaders } from './hop-by-hop.ts';
import { compileTemplate, fillTemplate } from './path-template.ts';
import { TrustedProxies } from './trusted-proxies.ts';
import { createTarget, upstreamPath, UpstreamSet } from './upstream-set.ts';
import { isConnectFailure, toGatewayError } from './upstream-errors.ts';

describe('hop-by-hop headers', () => {
  it('drops RFC 9110 hop-by-hop fields and those named in Connection, from requests', () => {
    const incoming: Record<string, string> = {
      connection: 'keep-alive, X-Secret',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      te: 'gzip, trailers',
      trailer: 'x',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      'proxy-authorization': 'Basic x',
      host: 'client.example',
      expect: '100-continue',
      'x-secret': 's',
      'x-kept': 'k',
      authorization: 'Bearer t',
    };
    dropConnectionNominated(incoming); // on arrival
    const out = endToEndRequestHeaders(incoming); // at the proxy
    assert.deepEqual(out, { 'x-kept': 'k', authorization: 'Bearer t' });
    // `TE: trailers` alone is kept: it is how a gRPC client says it takes trailers.
    assert.equal(endToEndRequestHeaders({ te: 'trailers' })['te'], 'trailers');
  });

  it('never lets a client nominate away a header the gateway sets after arrival', () => {
    const incoming: Record<string, string> = { connection: 'keep-alive, x-user-id', 'x-user-id': 'spoofed' };
    dropConnectionNominated(incoming);
    assert.equal(incoming['x-user-id'], undefined, "the client's own copy goes on arrival");
    incoming['x-user-id'] = 'from-the-token'; // what auth propagates
    assert.equal(endToEndRequestHeaders(incoming)['x-user-id'], 'from-the-token');
  });

  it('drops hop-by-hop fields from responses and keeps repeated set-cookie', () => {
    const out = endToEndResponseHeaders({ connection: 'x-up', 'x-up': '1', 'transfer-encoding': 'chunked', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain', 'keep-alive': 'timeout=4' });
    assert.deepEqual(out, { 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
  });
});

describe('TrustedProxies', () => {
  const trusted = new TrustedProxies(['10.0.0.0/8', '192.168.1.1', '::1']);
  it('matches addresses, CIDR ranges and IPv4-mapped IPv6', () => {
    assert.equal(trusted.isTrusted('10.1.2.3'), true);
    assert.equal(trusted.isTrusted('::ffff:10.1.2.3'), true);
    assert.equal(trusted.isTrusted('192.168.1.1'), true);
    assert.equal(trusted.isTrusted('192.168.1.2'), false);
    assert.equal(trusted.isTrusted('::1'), true);
    assert.equal(new TrustedProxies([]).isTrusted('10.0.0.1'), false);
  });
  it('takes the client from X-Forwarded-For only through trusted hops', () => {
    assert.equal(trusted.clientIp('203.0.113.9', '1.2.3.4'), '203.0.113.9');
    assert.equal(trusted.clientIp('10.0.0.2', '1.2.3.4'), '1.2.3.4');
    assert.equal(trusted.clientIp('10.0.0.2', '6.6.6.6, 1.2.3.4, 10.0.0.7'), '1.2.3.4');
    assert.equal(trusted.clientIp('10.0.0.2', 'garbage, 10.0.0.7'), '10.0.0.2');
    assert.equal(trusted.clientIp('10.0.0.2', undefined), '10.0.0.2');
  });
});

describe('path templates', () => {
  it('re-encodes decoded params so they stay one segment', () => {
    const t = compileTemplate('/users/{id}/orders');
    assert.equal(fillTemplate(t, { id: 'a b/c' }), '/users/a%20b%2Fc/orders');
  });
  it('keeps the wildcard rest as the normalised path it already is', () => {
    assert.equal(fillTemplate(compileTemplate('/files/{*}'), { '*': 'a/b%20c' }), '/files/a/b%20c');
    assert.equal(fillTemplate(compileTemplate('{*}'), { '*': '' }), '/');
  });
});

describe('upstream targets and balancing', () => {
  const pool = {} as Pool;
  it('uses a plain upstream path as a prefix and a templated one as the whole path', () => {
    assert.equal(upstreamPath(createTarget('http://u:1', pool), '/a/b', {}), '/a/b');
    assert.equal(upstreamPath(createTarget('http://u:1/v1/', pool), '/a/b', {}), '/v1/a/b');
    assert.equal(upstreamPath(createTarget('http://u:1/users/{id}', pool), '/ignored', { id: '7' }), '/users/7');
    assert.equal(createTarget('http://u:1/x', pool).host, 'u:1');
  });

  it('round-robins, skips a downed upstream for the cooldown, and falls back when all are down', () => {
    const targets = ['http://a:1', 'http://b:1', 'http://c:1'].map((u) => createTarget(u, pool));
    const set = new UpstreamSet(targets, 1_000);
    const now = 10_000;
    assert.deepEqual([1, 2, 3, 4].map(() => set.pick(null, now)!.origin), ['http://a:1', 'http://b:1', 'http://c:1', 'http://a:1']);
    set.markDown(targets[1]!, now);
    assert.deepEqual([1, 2, 3, 4].map(() => set.pick(null, now)!.origin), ['http://c:1', 'http://a:1', 'http://c:1', 'http://a:1']);
    assert.equal(set.pick(null, now + 1_001)!.origin !== undefined, true);
    set.markDown(targets[0]!, now);
    set.markDown(targets[2]!, now + 5);
    set.markDown(targets[1]!, now + 10);
    assert.equal(set.pick(null, now)!.origin, 'http://a:1', 'the one whose cooldown ends first');
    assert.equal(set.pick(new Set(targets), now), null);
  });
});

describe('upstream error mapping', () => {
  it('maps timeouts to 504 and other failures to 502', () => {
    assert.equal(toGatewayError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' })).status, 504);
    assert.equal(toGatewayError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).status, 504);
    assert.equal(toGatewayError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).status, 502);
    assert.equal(toGatewayError(new TypeError('weird')).status, 502);
    assert.equal(toGatewayError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' })).code, 'ISOGATE_ERR_UPSTREAM_UNAVAILABLE');
  });
  it('knows which failures never reached the upstream', () => {
    assert.equal(isConnectFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isConnectFailure(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), true);
    assert.equal(isConnectFailure(Object.assign(new Error('x'), { code: 'ECONNRESET' })), false);
  });
});
