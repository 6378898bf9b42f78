import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../logging/logger.ts';
import { bundlePlugin } from './bundle-plugin.ts';
import { PluginFailure, PluginHost } from './plugin-host.ts';

// An async hook whose promise settles while the call runs (the isolate runs its promise jobs
// before the call returns) is answered synchronously: one more synchronous call (`take`), not the
// round trip through isolated-vm's threads that a hook still waiting on something takes.
const fixture = path.join(import.meta.dirname, 'fixtures/async-hooks.ts');
const message = JSON.stringify({ rq: ['GET', '/x', '', {}, '203.0.113.7', 'r'] });

describe('plugin host: async hooks that settle within the call', () => {
  let host: PluginHost;
  before(async () => {
    host = await PluginHost.create('async-hooks', await bundlePlugin(fixture), {}, { memoryMb: 32, cpuMs: 200, wallMs: 300 }, silentLogger());
  });
  after(() => host.dispose());

  it('answers an async hook that awaited nothing slow with a string, not a promise', () => {
    const answer = host.call('onRequest', message, JSON.stringify({ 'x-mode': 'set' }));
    assert.equal(typeof answer, 'string');
    assert.deepEqual(JSON.parse(answer as string).h, [['s', 'x-async', 'yes']]);
  });

  it('runs every promise job the hook queues before answering', () => {
    const answer = host.call('onRequest', message, JSON.stringify({ 'x-mode': 'chain' }));
    assert.equal(typeof answer, 'string');
    assert.deepEqual(JSON.parse(answer as string).h, [['s', 'x-awaited', '50']]);
  });

  it('throws a rejection at once, as a throw, with its message', () => {
    assert.throws(
      () => host.call('onRequest', message, JSON.stringify({ 'x-mode': 'reject' })),
      (err: unknown) => {
        assert.ok(err instanceof PluginFailure);
        assert.equal(err.kind, 'throw');
        assert.match(err.message, /async refusal/);
        assert.match(err.location ?? '', /fixtures\/async-hooks\.ts:9:\d+$/, 'located in the plugin\'s source, as a synchronous throw is');
        return true;
      },
    );
    // The isolate is kept after a throw: the next call is answered as usual.
    assert.equal(typeof host.call('onRequest', message, JSON.stringify({ 'x-mode': 'set' })), 'string');
  });

  it('answers an async verifier the same way', () => {
    const good = host.call('verifier', JSON.stringify({ t: 'good' }));
    assert.equal(typeof good, 'string');
    assert.deepEqual(JSON.parse(good as string).v, { sub: 'u1' });
    assert.equal(JSON.parse(host.call('verifier', JSON.stringify({ t: 'bad' })) as string).v, null);
  });

  it('still waits, within the wall-clock deadline, for a hook whose promise has not settled', async () => {
    const answer = host.call('onRequest', message, JSON.stringify({ 'x-mode': 'pending' }));
    assert.ok(answer instanceof Promise);
    await assert.rejects(answer, (err: unknown) => err instanceof PluginFailure && err.kind === 'deadline');
  });
});
