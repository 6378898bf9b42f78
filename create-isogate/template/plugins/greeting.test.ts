import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PluginOptionsError, testPlugin } from '@isogate/sdk/testing';

// testPlugin bundles the plugin and runs it in the gateway's own sandbox (from the isogate
// package), with its limits: what passes here runs the same way in the gateway.
describe('greeting', () => {
  it('sets the header on a request that has none', async () => {
    await using t = await testPlugin(() => import('./greeting.ts'), { header: 'x-greeting', value: 'hi' });
    const out = await t.request({ path: '/users/7' });
    assert.equal(out.forwarded?.headers['x-greeting'], 'hi');
  });

  it('keeps the value the client sent (names are case-insensitive)', async () => {
    await using t = await testPlugin(() => import('./greeting.ts'), {});
    const out = await t.request({ headers: { 'X-Greeting': 'mine' } });
    assert.equal(out.forwarded?.headers['x-greeting'], 'mine');
  });

  it('marks the response', async () => {
    await using t = await testPlugin(() => import('./greeting.ts'), {});
    const out = await t.response({ status: 200 });
    assert.equal(out.headers['x-greeted'], 'yes');
  });

  it('rejects bad options with their path', async () => {
    await assert.rejects(testPlugin(() => import('./greeting.ts'), { header: '' }), (err: unknown) => {
      assert.ok(err instanceof PluginOptionsError);
      assert.deepEqual(err.issues[0]?.path, ['header']);
      return true;
    });
  });
});
