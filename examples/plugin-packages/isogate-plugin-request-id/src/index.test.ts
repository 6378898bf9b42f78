import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PluginOptionsError, testPlugin } from '@isogate/sdk/testing';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('isogate-plugin-request-id', () => {
  it('sets a new UUID on a request without one, and shares it in state', async () => {
    const t = await testPlugin(() => import('./index.ts'), {});
    const out = await t.request({ path: '/orders/7' });
    const id = out.forwarded?.headers['x-request-id'];
    assert.ok(typeof id === 'string' && UUID_V4.test(id), String(id));
    assert.equal(out.state['requestId'], id);
  });

  it('gives every request its own id', async () => {
    const t = await testPlugin(() => import('./index.ts'), {});
    const ids = new Set<unknown>();
    for (let i = 0; i < 1_000; i++) ids.add((await t.request()).forwarded?.headers['x-request-id']);
    assert.equal(ids.size, 1_000);
  });

  it('keeps an acceptable id the client sent (any header case), and replaces a suspicious one', async () => {
    const t = await testPlugin(() => import('./index.ts'), {});
    const kept = await t.request({ headers: { 'X-Request-ID': 'abc-123' } });
    assert.equal(kept.forwarded?.headers['x-request-id'], 'abc-123');
    for (const sent of ['a b', 'x'.repeat(129), ['one', 'two']]) {
      const out = await t.request({ headers: { 'x-request-id': sent } });
      assert.match(String(out.forwarded?.headers['x-request-id']), UUID_V4);
    }
  });

  it('with trustIncoming: false, always sets its own id, on the configured header', async () => {
    const t = await testPlugin(() => import('./index.ts'), { header: 'x-correlation-id', trustIncoming: false });
    const out = await t.request({ headers: { 'x-correlation-id': 'client-chosen' } });
    assert.match(String(out.forwarded?.headers['x-correlation-id']), UUID_V4);
  });

  it('echoes the id on the response unless told not to', async () => {
    const t = await testPlugin(() => import('./index.ts'), {});
    const sent = await t.request();
    const res = await t.response({ status: 200, headers: { 'content-type': 'text/plain' } }, { ...sent.forwarded, state: sent.state });
    assert.equal(res.headers['x-request-id'], sent.forwarded?.headers['x-request-id']);
    const quiet = await testPlugin(() => import('./index.ts'), { echo: false });
    assert.deepEqual((await quiet.response({ status: 200 }, { state: { requestId: 'x' } })).headers, {});
  });

  it('rejects bad options with their path', async () => {
    await assert.rejects(testPlugin(() => import('./index.ts'), { header: '', echo: 'yes' as unknown as boolean }), (err: unknown) => {
      assert.ok(err instanceof PluginOptionsError);
      assert.deepEqual(err.issues.map((i) => i.path.join('.')).sort(), ['echo', 'header']);
      return true;
    });
  });
});
