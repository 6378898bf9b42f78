import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dispatcher } from 'undici';
import { UpstreamBody } from './upstream-body.ts';

/** undici's controller as the body uses it: what it was asked to do. */
function controller() {
  const calls: string[] = [];
  const c = { pause: () => calls.push('pause'), resume: () => calls.push('resume'), abort: () => calls.push('abort') } as unknown as Dispatcher.DispatchController;
  return { c, calls };
}

describe('UpstreamBody.drain', () => {
  it('reads a small body to its end, keeping the connection', () => {
    const { c, calls } = controller();
    const body = new UpstreamBody(c);
    body.drain();
    body.push(Buffer.alloc(1024));
    body.end(null);
    assert.equal(calls.includes('abort'), false);
    assert.equal(body.finished, true);
  });

  it('stops a body past the limit instead of reading it all (as undici dump() did, 64 KiB)', () => {
    const { c, calls } = controller();
    const body = new UpstreamBody(c);
    body.drain();
    for (let i = 0; i < 64; i++) body.push(Buffer.alloc(1024));
    assert.equal(calls.includes('abort'), false, 'up to 64 KiB is read');
    body.push(Buffer.alloc(1));
    assert.deepEqual(calls.filter((x) => x === 'abort'), ['abort']);
    assert.equal(body.finished, true);
  });
});

describe('UpstreamBody.collect', () => {
  it('gathers what was queued before and what arrives after, in order', async () => {
    const { c, calls } = controller();
    const body = new UpstreamBody(c);
    body.push(Buffer.from('{"a":'));
    const collected = body.collect(1024);
    body.push(Buffer.from('1}'));
    body.end(null);
    assert.equal((await collected)?.toString(), '{"a":1}');
    assert.equal(calls.includes('abort'), false);
  });

  it('answers null past the bound and stops the transfer instead of reading on', async () => {
    const { c, calls } = controller();
    const body = new UpstreamBody(c);
    const collected = body.collect(10);
    body.push(Buffer.alloc(8));
    assert.equal(calls.includes('abort'), false, 'up to the bound is read');
    body.push(Buffer.alloc(8));
    assert.equal(await collected, null);
    assert.deepEqual(calls.filter((x) => x === 'abort'), ['abort']);
    body.push(Buffer.alloc(8)); // a late chunk from undici is ignored, not an error
    assert.equal(body.finished, true);
  });

  it('rejects when the body breaks off', async () => {
    const { c } = controller();
    const body = new UpstreamBody(c);
    const collected = body.collect(1024);
    body.push(Buffer.from('{"a":'));
    body.fail(new Error('socket reset'));
    await assert.rejects(collected, /socket reset/);
  });

  it('answers an empty buffer for an empty body', async () => {
    const { c } = controller();
    const body = new UpstreamBody(c);
    body.end(null);
    assert.equal((await body.collect(10))?.length, 0);
  });
});
