import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileShape, hasShaping, knownTopLevelFields } from './json-shape.ts';

const user = { id: 7, name: 'Ada', profile: { email: 'a@x', address: { city: 'London', zip: 'N1' } }, secret: 's' };

describe('JSON shaping', () => {
  it('keeps only allowed fields, nested ones by dotted path', () => {
    assert.deepEqual(compileShape({ allow: ['id', 'profile.address.city'] })(user), { ok: true, value: { id: 7, profile: { address: { city: 'London' } } } });
  });

  it('drops denied fields, nested ones by dotted path', () => {
    assert.deepEqual(compileShape({ deny: ['secret', 'profile.address.zip'] })(user), { ok: true, value: { id: 7, name: 'Ada', profile: { email: 'a@x', address: { city: 'London' } } } });
  });

  it('takes a target sub-object before the rest, renames, then groups', () => {
    const shape = compileShape({ target: 'profile', allow: ['email'], mapping: { email: 'contact' }, group: 'who' });
    assert.deepEqual(shape(user), { ok: true, value: { who: { contact: 'a@x' } } });
  });

  it('turns a top-level array into a named field, and refuses one without collection', () => {
    assert.deepEqual(compileShape({ collection: 'items' })([1, 2]), { ok: true, value: { items: [1, 2] } });
    const refused = compileShape({ group: 'g' })([1, 2]);
    assert.equal(refused.ok, false);
  });

  it('refuses a missing target and a non-object answer', () => {
    assert.equal(compileShape({ target: 'nope' })(user).ok, false);
    assert.equal(compileShape({})('text').ok, false);
  });

  it('never changes its input', () => {
    const input = structuredClone(user);
    compileShape({ deny: ['profile.address'], mapping: { id: 'uid' } })(input);
    assert.deepEqual(input, user);
  });

  it('knows the top-level fields a shape can produce, when its options say', () => {
    assert.deepEqual(knownTopLevelFields({ group: 'g' }), ['g']);
    assert.deepEqual(knownTopLevelFields({ allow: ['plan', 'card.last4'], mapping: { plan: 'subscription_plan' } }), ['subscription_plan', 'card']);
    assert.equal(knownTopLevelFields({ deny: ['x'] }), null);
    assert.equal(hasShaping({}), false);
    assert.equal(hasShaping({ deny: ['x'] }), true);
  });
});
