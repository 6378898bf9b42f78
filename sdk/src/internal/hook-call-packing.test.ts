import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { definePlugin } from '../plugin.ts';
import { createHookRuntime } from './hook-runtime.ts';
import { packHookCall, requestMessage } from './hook-wire.ts';

/** A runtime around a plugin that reports what its hooks saw, as header values. */
function echoRuntime() {
  const rt = createHookRuntime();
  rt.register(
    definePlugin({
      name: 'echo',
      version: '1.0.0',
      onRequest(req, ctx) {
        req.headers.set('x-seen', JSON.stringify([req.method, req.path, req.query, req.params, req.clientIp, req.routeName, req.headers.get('x-note'), ctx.state, ctx.claims ?? null]));
      },
      onResponse(res, req) {
        res.headers.set('x-seen', JSON.stringify([res.status, res.headers.get('x-up'), req.headers.get('x-note')]));
      },
    }),
  );
  assert.equal(rt.configure('{}'), '{"ok":true}');
  return rt;
}

describe('one-string hook calls (packHookCall → callPacked)', () => {
  const fields = { method: 'PATCH', path: '/ü/ß', query: 'a=1&b=%E2%82%AC', params: { id: 'ü' }, clientIp: '2001:db8::1', routeName: '/ü/:id', state: { tenant: 't€' }, claims: { sub: '42' } };

  it('gives a hook exactly what the three-argument call gives, with text outside ASCII and empty parts', () => {
    const rt = echoRuntime();
    const message = JSON.stringify(requestMessage(fields, null));
    for (const headers of [JSON.stringify({ 'x-note': 'naïve \u2028 "quoted" \\ \u0000' }), '{}']) {
      const packed = rt.callPacked(packHookCall('onRequest', message, headers));
      assert.equal(packed, rt.call('onRequest', message, headers));
      const seen = JSON.parse((JSON.parse(packed) as { h: string[][] }).h[0]![2]!) as unknown[];
      assert.deepEqual(seen.slice(0, 6), ['PATCH', '/ü/ß', 'a=1&b=%E2%82%AC', { id: 'ü' }, '2001:db8::1', '/ü/:id']);
      assert.deepEqual(seen.slice(7), [{ tenant: 't€' }, { sub: '42' }]);
    }
  });

  it('passes the response headers of onResponse as the last part', () => {
    const rt = echoRuntime();
    const message = JSON.stringify({ ...requestMessage(fields, null), rs: { st: 201 } });
    const out = rt.callPacked(packHookCall('onResponse', message, JSON.stringify({ 'x-note': 'n' }), JSON.stringify({ 'x-up': 'ü' })));
    assert.deepEqual(JSON.parse((JSON.parse(out) as { rh: string[][] }).rh[0]![2]!), [201, 'ü', 'n']);
  });
});
