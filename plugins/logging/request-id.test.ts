import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import { loggingOptions } from './options.ts';
import { requestIdPolicy } from './request-id.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const policy = (requestId: unknown = {}) => requestIdPolicy(loggingOptions.parse({ requestId }).requestId);
const from = (id: string | string[] | undefined, fromTrustedProxy = true) =>
  testRequest({ fromTrustedProxy, headers: id === undefined ? {} : { 'x-request-id': id } });

describe('logging: request id policy', () => {
  it('generates a distinct UUID when there is no acceptable incoming id', () => {
    const settle = policy();
    const a = settle(from(undefined));
    const b = settle(from(undefined));
    assert.match(a, UUID);
    assert.notEqual(a, b);
  });

  it('keeps common id formats from a trusted peer', () => {
    const settle = policy();
    for (const id of ['0b6e9f0e-3c1f-4a8e-9d2b-5f1c2a3b4c5d', '01HF7YAT00T6B4ZK6M3Q8V2W1X', 'Root=1-5759e988-bd862e3fe1be46a994272793', 'svc:42/a+b==', 'a.b_c~d@e']) {
      assert.equal(settle(from(id)), id);
    }
  });

  it('refuses ids that could break a log line or a header, or are too long, or repeated', () => {
    const settle = policy({ maxLength: 16 });
    for (const id of ['', 'has space', 'quote"d', 'semi;colon', 'a, b', 'new\nline', 'tab\t', 'é', 'x'.repeat(17)]) {
      assert.match(settle(from(id)), UUID, JSON.stringify(id));
    }
    assert.equal(settle(from('x'.repeat(16))), 'x'.repeat(16));
    assert.match(settle(from(['one', 'two'])), UUID);
  });

  it('trusts by peer, always or never', () => {
    assert.match(policy()(from('abc', false)), UUID);
    assert.equal(policy({ trustIncoming: 'always' })(from('abc', false)), 'abc');
    assert.match(policy({ trustIncoming: 'never' })(from('abc', true)), UUID);
  });
});
