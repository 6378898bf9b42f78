import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loggingOptions } from './options.ts';
import { ALWAYS_REDACTED_QUERY, compileRedaction, pickHeaders, redactQuery, userAgentOf } from './redaction.ts';

describe('logging: redaction helpers', () => {
  const params = compileRedaction(loggingOptions.parse({ redactQuery: ['Sess'] })).queryParams;

  it('returns the very same string when nothing is redacted', () => {
    const query = 'a=1&b=2&c';
    assert.equal(redactQuery(query, params), query);
    assert.equal(redactQuery('', params), '');
  });

  it('matches names case-insensitively, percent- and plus-decoded, with or without []', () => {
    assert.equal(redactQuery('Access_Token=x&a=1', params), 'Access_Token=[REDACTED]&a=1');
    assert.equal(redactQuery('%61pi_key=x', params), '%61pi_key=[REDACTED]');
    assert.equal(redactQuery('token[]=x&token[]=y', params), 'token[]=[REDACTED]&token[]=[REDACTED]');
    assert.equal(redactQuery('sess=x&sessions=y', params), 'sess=[REDACTED]&sessions=y');
    assert.equal(redactQuery('token', params), 'token=[REDACTED]', 'a bare name may itself be the secret');
    assert.equal(redactQuery('%zz=1&password=p', params), '%zz=1&password=[REDACTED]', 'a malformed escape does not stop the rest');
  });

  it('picks only the named headers, redacting credentials', () => {
    const { requestHeaders } = compileRedaction(loggingOptions.parse({ headers: ['cookie', 'x-a', 'x-a', 'x-b'] }));
    assert.deepEqual(pickHeaders({ cookie: 'c=1', 'x-a': ['1', '2'], 'x-c': 'no' }, requestHeaders!), { cookie: '[REDACTED]', 'x-a': ['1', '2'] });
    assert.equal(pickHeaders({ 'x-c': 'no' }, requestHeaders!), undefined);
  });

  it('redacts the credentials seen in real query strings: API keys, SAS signatures, OAuth codes, JWTs, sessions, passwords', () => {
    const query =
      'key=AIzaSyXXXX&sig=AzureSAS&code=oauthcode&jwt=eyJ&auth=basic&session_id=s1&SID=s2&sessionid=s3&JSESSIONID=s4' +
      '&assertion=a1&client_assertion=a2&otp=123456&password=p&passwd=p2&secret=s&client_secret=cs&refresh_token=rt&id_token=it' +
      '&apikey=k1&api_key=k2&signature=sg&page=2';
    const expected = query
      .split('&')
      .map((part) => (part === 'page=2' ? part : `${part.slice(0, part.indexOf('='))}=[REDACTED]`))
      .join('&');
    assert.equal(redactQuery(query, params), expected);
    for (const name of ALWAYS_REDACTED_QUERY) assert.equal(redactQuery(`${name.toUpperCase()}=v`, params), `${name.toUpperCase()}=[REDACTED]`, name);
  });

  it('redacts a credential nested in brackets or after a ";" separator, and all of a value containing ";"', () => {
    assert.equal(redactQuery('user[password]=p&auth[token]=t&a[b]=1', params), 'user[password]=[REDACTED]&auth[token]=[REDACTED]&a[b]=1');
    assert.equal(redactQuery('token[0]=t', params), 'token[0]=[REDACTED]');
    assert.equal(redactQuery('access_token=a;b&x=1', params), 'access_token=[REDACTED]&x=1');
    assert.equal(redactQuery('a=1;token=t;rest=r&x=1', params), 'a=1;token=[REDACTED]&x=1', 'what follows a credential may be part of it');
    assert.equal(redactQuery('a=1;b=2', params), 'a=1;b=2');
  });

  it('with queryAllow, logs only the allowed values and redacts every other parameter, keeping its name', () => {
    const { queryParams, queryAllow } = compileRedaction(loggingOptions.parse({ queryAllow: ['Page', 'sort'] }));
    assert.equal(
      redactQuery('page=2&SORT=name&mystery=xyz&token=t&filter[]=a&page[]=3', queryParams, queryAllow),
      'page=2&SORT=name&mystery=[REDACTED]&token=[REDACTED]&filter[]=[REDACTED]&page[]=3',
    );
    assert.equal(redactQuery('opaque-secret-as-name&page=1', queryParams, queryAllow), '[REDACTED]&page=1', 'a bare name may itself be the secret');
    assert.equal(redactQuery('page=1;x=2', queryParams, queryAllow), 'page=1;x=[REDACTED]');
    assert.equal(redactQuery('page=1', queryParams, queryAllow), 'page=1');
    const none = compileRedaction(loggingOptions.parse({ queryAllow: [] }));
    assert.equal(redactQuery('a=1&b', none.queryParams, none.queryAllow), 'a=[REDACTED]&[REDACTED]');
  });

  it('cuts a long user agent and long header values, marking the cut', () => {
    const ua = userAgentOf({ 'user-agent': 'A'.repeat(16_000) })!;
    assert.equal(ua, 'A'.repeat(512) + '…[truncated]');
    assert.equal(userAgentOf({ 'user-agent': 'curl/8.5' }), 'curl/8.5');
    const { requestHeaders } = compileRedaction(loggingOptions.parse({ headers: ['referer', 'x-many'] }));
    const picked = pickHeaders({ referer: 'r'.repeat(5000), 'x-many': Array.from({ length: 20 }, () => 'v'.repeat(2000)) }, requestHeaders!)!;
    assert.equal(picked['referer'], 'r'.repeat(1024) + '…[truncated]');
    const many = picked['x-many'] as string[];
    assert.equal(many.length, 9);
    assert.ok(many.slice(0, 8).every((v) => v === 'v'.repeat(1024) + '…[truncated]'));
    assert.equal(many[8], '…[truncated]');
    assert.deepEqual(pickHeaders({ referer: 'short' }, requestHeaders!), { referer: 'short' });
  });
});
