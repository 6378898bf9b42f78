/**
 * How the hook runtime parks an async hook's answer (`\0<id>`) and hands it over: `take` (the
 * gateway's synchronous path, once the promise has settled), `settle` (when it has not) and
 * `forgetLast` (the call threw after parking it). Run against the runtime directly; in the gateway
 * the same function's source runs in the isolate (runtime/src/isolate/plugin-host-async.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { definePlugin } from '../index.ts';
import { createHookRuntime, type HookRuntime } from './hook-runtime.ts';

const message = JSON.stringify({ rq: ['GET', '/x', '', {}, '203.0.113.7', 'r'] });
const PENDING = '\u0000';

function runtime(onRequest: (req: { headers: { get(n: string): string | null; set(n: string, v: string): void } }) => unknown): HookRuntime {
  const rt = createHookRuntime();
  rt.register(definePlugin({ name: 'answers', version: '1.0.0', onRequest: onRequest as never }));
  JSON.parse(rt.configure('{}'));
  return rt;
}

/** Let every queued promise job run, as isolated-vm does before a call returns. */
const jobs = () => new Promise((resolve) => setImmediate(resolve));
const parked = (answer: string) => {
  assert.equal(answer.charCodeAt(0), 0, `expected a parked answer, got ${answer}`);
  return Number(answer.slice(1));
};

describe('hook runtime: parked answers', () => {
  it('take gives a settled answer once, and pending before it settles', async () => {
    const rt = runtime(async (req) => req.headers.set('x-a', '1'));
    const id = parked(rt.call('onRequest', message, '{}'));
    assert.equal(rt.take(id), PENDING, 'nothing has run yet');
    await jobs();
    assert.deepEqual(JSON.parse(rt.take(id)).h, [['s', 'x-a', '1']]);
    assert.equal(rt.take(id), PENDING, 'taken: the entry is gone');
    await assert.rejects(rt.settle(id), /answer \d+ is gone/);
  });

  it('take throws a rejection and forgets it', async () => {
    const rt = runtime(async () => {
      throw new Error('no');
    });
    const id = parked(rt.call('onRequest', message, '{}'));
    await jobs();
    assert.throws(() => rt.take(id), /^Error: no$/);
    await assert.rejects(rt.settle(id), /is gone/);
  });

  it('settle waits for an answer that has not come, and take leaves it there', async () => {
    let release!: () => void;
    const rt = runtime((req) => new Promise<void>((resolve) => (release = () => (req.headers.set('x-late', '1'), resolve()))));
    const id = parked(rt.call('onRequest', message, '{}'));
    await jobs();
    assert.equal(rt.take(id), PENDING);
    const settled = rt.settle(id);
    release();
    assert.deepEqual(JSON.parse(await settled).h, [['s', 'x-late', '1']]);
  });

  it('forgetLast drops what the last call parked, and only that', async () => {
    const releases: (() => void)[] = [];
    const rt = runtime((req) => new Promise<void>((resolve) => releases.push(() => (req.headers.set('x-n', String(releases.length)), resolve()))));
    const kept = parked(rt.call('onRequest', message, '{}'));
    const dropped = parked(rt.call('onRequest', message, '{}'));
    rt.forgetLast();
    await assert.rejects(rt.settle(dropped), /is gone/);
    rt.forgetLast(); // nothing parked since: a no-op
    const settled = rt.settle(kept);
    for (const release of releases) release();
    assert.ok(JSON.parse(await settled).h, 'an earlier call\'s answer was kept and comes');
  });

  it('a call that throws before parking anything leaves the previous call\'s answer alone', async () => {
    let release!: () => void;
    const rt = runtime((req) => {
      if (req.headers.get('x-throw')) throw new Error('sync');
      return new Promise<void>((resolve) => (release = resolve));
    });
    const kept = parked(rt.call('onRequest', message, '{}'));
    assert.throws(() => rt.call('onRequest', message, JSON.stringify({ 'x-throw': '1' })), /sync/);
    rt.forgetLast(); // what the host does after a call that threw
    const settled = rt.settle(kept);
    release();
    assert.equal(typeof (await settled), 'string');
  });
});
