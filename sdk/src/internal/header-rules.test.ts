import assert from 'node:assert/strict';
import vm from 'node:vm';
import { describe, it } from 'node:test';
import { acceptedStatus, applyHeaderOps, headerRules } from './hook-wire.ts';

// The header rules run on the host and, as text, in a shared plugin group's isolate: the text
// must stand alone and give the same answers.
describe('header rules', () => {
  const invalid = (m: string) => new Error(m);

  it('appends to own fields only: a name like `constructor` on a map with a prototype is a new header', () => {
    const headers: Record<string, string | string[]> = { a: '1' };
    applyHeaderOps(headers, [['a', 'constructor', 'x'], ['a', 'a', '2']], invalid);
    assert.deepEqual({ ...headers }, { a: ['1', '2'], constructor: 'x' });
  });

  it('refuses a bad name or value and leaves the map untouched', () => {
    const headers: Record<string, string | string[]> = { a: '1' };
    assert.throws(() => applyHeaderOps(headers, [['s', 'b', '2'], ['s', 'bad name', 'x']], invalid), /invalid header "bad name"/);
    assert.throws(() => applyHeaderOps(headers, [['s', 'b', 'x\r\ny']], invalid), /invalid header "b"/);
    assert.deepEqual(headers, { a: '1' });
  });

  it('its text, evaluated alone in another context, applies and refuses the same', () => {
    const rules = vm.runInNewContext(`(${headerRules.toString()})()`) as ReturnType<typeof headerRules>;
    const ops: [string, string, string?][] = [['s', 'x-a', '1'], ['a', 'x-a', '2'], ['d', 'x-b']];
    const there = rules.applyHeaderOps({ 'x-b': 'y' }, ops as never, invalid);
    const here = applyHeaderOps({ 'x-b': 'y' }, ops as never, invalid);
    assert.deepEqual(JSON.parse(JSON.stringify(there)), JSON.parse(JSON.stringify(here)));
    assert.throws(() => rules.applyHeaderOps({}, [['s', 'Bad', 'x']], invalid), /invalid header "Bad"/);
    for (const status of [199, 200, 299.5, 599, 600, '200']) assert.equal(rules.acceptedStatus(status), acceptedStatus(status));
  });
});
