import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { BuiltinInstance } from '../../runtime/src/plugins/builtin-plugin.ts';
import { authPlugin } from './index.ts';
import { authOptionsSchema, type AuthOptionsInput } from './options.ts';
import { factoryContext } from './test-support.ts';
import type { JwksSlot } from './token-verifier.ts';

// The JWKS caches live in the gateway's shared state, one per distinct setting: reference-counted
// by the instances (one per routing table) that use them, so a reload keeps an unchanged one and
// a setting nobody uses any more is closed with its connection pool.

let idp: http.Server;
let url: string;

before(async () => {
  idp = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'));
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks`;
});

after(() => {
  idp.closeAllConnections();
  idp.close();
});

describe('JWKS caches across instances and reloads', () => {
  it('shares a cache per setting, keeps it while any instance holds it, closes it after the last', async () => {
    const shared = new Map<string, unknown>();
    const ctx = factoryContext({
      shared: <T>(key: string, create: () => T) => {
        if (!shared.has(key)) shared.set(key, create());
        return shared.get(key) as T;
      },
    });
    const create = (jwks: AuthOptionsInput['jwks']) => authPlugin.create(authOptionsSchema.parse({ jwks }), ctx) as BuiltinInstance;
    const slots = () => [...shared.values()] as JwksSlot[];

    const first = create({ url, timeout: '1s' });
    const other = create({ url, timeout: '1s' });
    assert.equal(shared.size, 1, 'one cache for one setting');
    const cache = slots()[0]!.current!;

    // A reload with the same settings: the new instance is created before the old one is disposed.
    const reloaded = create({ url, timeout: '1s' });
    await first.dispose?.();
    await first.dispose?.(); // idempotent: does not release someone else's hold
    assert.equal(slots()[0]!.current, cache);
    assert.equal(cache.closed, false);

    // A reload that changes the timeout: another cache; the old one goes with its last user.
    const changed = create({ url, timeout: '2s' });
    assert.equal(shared.size, 2);
    const newer = slots()[1]!.current!;
    assert.notEqual(newer, cache);
    await other.dispose?.();
    assert.equal(cache.closed, false, 'still used by the reloaded instance');
    await reloaded.dispose?.();
    assert.equal(cache.closed, true);
    assert.equal(slots()[0]!.current, null);
    assert.equal(newer.closed, false);
    await changed.dispose?.();
    assert.equal(newer.closed, true);

    // Used again later: a fresh cache.
    const again = create({ url, timeout: '1s' });
    assert.ok(slots()[0]!.current !== null && slots()[0]!.current !== cache);
    await again.dispose?.();
  });
});
