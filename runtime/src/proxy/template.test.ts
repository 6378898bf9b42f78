import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors.ts';
import { compileValueTemplate, fillValueTemplate, MissingTemplateValue } from './template.ts';

const values = { params: { id: 'a/b', '*': 'x/y' }, claims: { sub: 'u1', org: { id: 42 } }, query: 'q=hello%20world&n=1', clientIp: '10.0.0.1', responses: [{ account: { id: 'acc 9' } }] };

function fill(template: string, encode = true): string {
  const compiled = compileValueTemplate(template, { REGION: 'eu' });
  assert.deepEqual(compiled.problems, []);
  return fillValueTemplate(compiled.template, values, encode);
}

describe('value templates', () => {
  it('fills params (re-encoded), the wildcard rest, claims, query values, earlier answers and env', () => {
    assert.equal(fill('http://u/users/{id}/{params.id}'), 'http://u/users/a%2Fb/a%2Fb');
    assert.equal(fill('http://u/files/{*}'), 'http://u/files/x/y');
    assert.equal(fill('http://u/orgs/{claims.org.id}/{claims.sub}'), 'http://u/orgs/42/u1');
    assert.equal(fill('http://u/search?q={query.q}&missing={query.none}'), 'http://u/search?q=hello%20world&missing=');
    assert.equal(fill('http://u/accounts/{resp0.account.id}'), 'http://u/accounts/acc%209');
    assert.equal(fill('{env.REGION}-{req.clientIp}', false), 'eu-10.0.0.1');
  });

  it('reports unknown placeholders and unset variables', () => {
    assert.match(compileValueTemplate('{nope.x}').problems[0]!, /not a known placeholder/);
    assert.match(compileValueTemplate('{env.UNSET_ISOGATE_TEST}', {}).problems[0]!, /not set/);
    assert.match(compileValueTemplate('{claims.}').problems[0]!, /claim path/);
  });

  it('fails a missing earlier answer as its own error, and missing claims as 401/403', () => {
    assert.throws(() => fill('{resp0.nope}'), MissingTemplateValue);
    const noClaims = compileValueTemplate('{claims.sub}').template;
    assert.throws(() => fillValueTemplate(noClaims, { ...values, claims: null }, true), (e: unknown) => e instanceof GatewayError && e.status === 401);
    assert.throws(() => fillValueTemplate(compileValueTemplate('{claims.role}').template, values, true), (e: unknown) => e instanceof GatewayError && e.status === 403);
  });

  it('refuses header values that would break the header', () => {
    const t = compileValueTemplate('{query.q}').template;
    assert.throws(() => fillValueTemplate(t, { ...values, query: 'q=a%0d%0aX-Evil:%201' }, false), GatewayError);
  });
});
