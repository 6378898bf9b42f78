import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import type { GatewayConfig } from '../../sdk/src/config.ts';
import { attachInstrument, type RequestEvent } from '../../runtime/src/chain/instruments.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';
import { Gateway } from '../../runtime/src/gateway.ts';
import { definePluginRegistry, type BuiltinPlugin } from '../../runtime/src/plugins/builtin-plugin.ts';
import { closedPort } from '../../test/helpers/upstream.ts';
import { ratelimitPlugin } from './index.ts';

/** An observing built-in that records the request events it sees, like metrics does. */
const events: RequestEvent[] = [];
const observe: BuiltinPlugin<Record<string, never>> = {
  name: 'observe',
  options: z.strictObject({}),
  create: () => (next) => (req) => {
    attachInstrument(req, { event: (_req, ev) => events.push(ev) });
    return next(req);
  },
};
const registry = definePluginRegistry([ratelimitPlugin as BuiltinPlugin<never>, observe as BuiltinPlugin<never>]);

let upstream: http.Server;
let origin: string;
let upstreamHits = 0;

before(async () => {
  upstream = http.createServer((req, res) => {
    upstreamHits++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(() => {
  upstream.closeAllConnections();
  upstream.close();
});

function gatewayOf(plugins: GatewayConfig['plugins'], routes: { path: string; middleware: string[]; name?: string }[]): Gateway {
  const config = resolveConfig({ plugins, middleware: ['obs'], routes: routes.map((r) => ({ ...r, upstream: origin })) }, registry);
  return new Gateway(config, { plugins: registry });
}
const withObserver = (plugins: NonNullable<GatewayConfig['plugins']>) => ({ obs: { use: 'observe' }, ...plugins }) as unknown as GatewayConfig['plugins'];

async function statuses(gateway: Gateway, path: string, n: number, init: RequestInit & { remoteAddress?: string } = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await gateway.request(path, init);
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

describe('ratelimit plugin', () => {
  it('refuses over the limit with a coded 429, Retry-After and RateLimit headers, before the upstream', async () => {
    const gateway = gatewayOf(withObserver({ rl: { use: 'ratelimit', options: { points: 2, duration: '1m' } } }), [{ path: '/*', middleware: ['rl'] }]);
    events.length = 0;
    const hitsBefore = upstreamHits;
    const first = await gateway.request('/a');
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('ratelimit-limit'), '2');
    assert.equal(first.headers.get('ratelimit-remaining'), '1');
    assert.equal(first.headers.get('ratelimit-reset'), '60');
    await first.arrayBuffer();
    assert.deepEqual(await statuses(gateway, '/a', 1), [200]);

    const refused = await gateway.request('/b', { method: 'POST', body: 'x'.repeat(100_000) });
    assert.equal(refused.status, 429);
    assert.deepEqual(await refused.json(), { error: { code: 'ISOGATE_ERR_RATE_LIMITED', message: 'too many requests' } });
    assert.equal(refused.headers.get('retry-after'), '60');
    assert.equal(refused.headers.get('ratelimit-limit'), '2');
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.equal(refused.headers.get('ratelimit-reset'), '60');
    assert.equal(refused.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(upstreamHits - hitsBefore, 2, 'the refused request never reached the upstream');
    assert.deepEqual(events, [{ type: 'ratelimit-rejected', plugin: 'rl' }]);
    await gateway.close();
  });

  it('reads and drops the body of a refused request', async () => {
    const gateway = gatewayOf(withObserver({ rl: { use: 'ratelimit', options: { points: 1, duration: '1m' } } }), [{ path: '/*', middleware: ['rl'] }]);
    await statuses(gateway, '/', 1);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (++pulled === 20) controller.close();
        else controller.enqueue(new Uint8Array(16 * 1024));
      },
    });
    const refused = await gateway.request('/', { method: 'POST', body, duplex: 'half' } as RequestInit);
    await refused.arrayBuffer();
    assert.equal(refused.status, 429);
    for (let i = 0; i < 50 && pulled < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(pulled, 20, 'the whole body was consumed');
    await gateway.close();
  });

  it('headers: false leaves allowed responses alone; 429s still carry the headers', async () => {
    const gateway = gatewayOf(withObserver({ rl: { use: 'ratelimit', options: { points: 1, duration: '1m', headers: false } } }), [{ path: '/*', middleware: ['rl'] }]);
    const ok = await gateway.request('/');
    await ok.arrayBuffer();
    assert.equal(ok.headers.get('ratelimit-remaining'), null);
    const refused = await gateway.request('/');
    await refused.arrayBuffer();
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    await gateway.close();
  });

  it('global and per-client limits at once: a request the per-client limit refuses spends no global budget; the tighter headers win', async () => {
    const gateway = gatewayOf(
      withObserver({
        client: { use: 'ratelimit', options: { points: 2, duration: '1m' } },
        global: { use: 'ratelimit', options: { points: 5, duration: '1m', key: 'global' } },
      }),
      [{ path: '/*', middleware: ['client', 'global'] }],
    );
    events.length = 0;
    const a = { remoteAddress: '192.0.2.1' };
    const first = await gateway.request('/', a);
    await first.arrayBuffer();
    assert.equal(first.headers.get('ratelimit-limit'), '2', 'client: 1 left, global: 4 left → the client limit is reported');
    assert.equal(first.headers.get('ratelimit-remaining'), '1');
    assert.deepEqual(await statuses(gateway, '/', 9, a), [200, 429, 429, 429, 429, 429, 429, 429, 429]);
    assert.ok(events.every((e) => e.type === 'ratelimit-rejected' && e.plugin === 'client'));
    // The global budget has 3 of 5 left: client A's 8 refusals did not touch it.
    assert.deepEqual(await statuses(gateway, '/', 2, { remoteAddress: '192.0.2.2' }), [200, 200]);
    const third = await gateway.request('/', { remoteAddress: '192.0.2.3' });
    await third.arrayBuffer();
    assert.equal(third.status, 200);
    assert.equal(third.headers.get('ratelimit-limit'), '5', 'global: 0 left is now the tighter one');
    assert.equal(third.headers.get('ratelimit-remaining'), '0');
    const refusedGlobally = await gateway.request('/', { remoteAddress: '192.0.2.4' });
    await refusedGlobally.arrayBuffer();
    assert.equal(refusedGlobally.status, 429);
    assert.equal(refusedGlobally.headers.get('ratelimit-limit'), '5', 'the refusing limit is reported');
    assert.equal(events.at(-1)!.type === 'ratelimit-rejected' && events.at(-1)!.plugin, 'global');
    await gateway.close();
  });

  it('scope: instance shares one budget across routes, route gives each route its own', async () => {
    const gateway = gatewayOf(
      withObserver({
        shared: { use: 'ratelimit', options: { points: 1, duration: '1m' } },
        perRoute: { use: 'ratelimit', options: { points: 1, duration: '1m', scope: 'route' } },
      }),
      [
        { path: '/s1', middleware: ['shared'] },
        { path: '/s2', middleware: ['shared'] },
        { path: '/r1', middleware: ['perRoute'] },
        { path: '/r2', middleware: ['perRoute'] },
      ],
    );
    assert.deepEqual([...(await statuses(gateway, '/s1', 1)), ...(await statuses(gateway, '/s2', 1))], [200, 429]);
    assert.deepEqual([...(await statuses(gateway, '/r1', 2)), ...(await statuses(gateway, '/r2', 2))], [200, 429, 200, 429]);
    await gateway.close();
  });

  it('a config reload keeps the counters of an unchanged instance and resets changed limits', async () => {
    const plugins = withObserver({ rl: { use: 'ratelimit', options: { points: 2, duration: '1m' } } });
    const routes = [{ path: '/*', middleware: ['rl'] }];
    const gateway = gatewayOf(plugins, routes);
    assert.deepEqual(await statuses(gateway, '/', 3), [200, 200, 429]);
    gateway.reload(resolveConfig({ plugins, middleware: ['obs'], routes: routes.map((r) => ({ ...r, upstream: origin })) }, registry));
    assert.deepEqual(await statuses(gateway, '/', 1), [429], 'a reload is not a fresh budget');
    const changed = withObserver({ rl: { use: 'ratelimit', options: { points: 3, duration: '1m' } } });
    gateway.reload(resolveConfig({ plugins: changed, middleware: ['obs'], routes: routes.map((r) => ({ ...r, upstream: origin })) }, registry));
    assert.deepEqual(await statuses(gateway, '/', 4), [200, 200, 200, 429]);
    await gateway.close();
  });

  it('Redis unreachable: insurance keeps limiting, allow passes without headers, deny answers 429', async () => {
    const redis = `redis://127.0.0.1:${await closedPort()}`;
    const gateway = gatewayOf(
      withObserver({
        insured: { use: 'ratelimit', options: { points: 2, duration: '1m', redis } },
        open: { use: 'ratelimit', options: { points: 2, duration: '1m', redis, onStoreError: 'allow' } },
        closed: { use: 'ratelimit', options: { points: 2, duration: '1m', redis, onStoreError: 'deny' } },
      }),
      [
        { path: '/insured', middleware: ['insured'] },
        { path: '/open', middleware: ['open'] },
        { path: '/closed', middleware: ['closed'] },
      ],
    );
    assert.deepEqual(await statuses(gateway, '/insured', 3), [200, 200, 429]);
    const open = await gateway.request('/open');
    await open.arrayBuffer();
    assert.equal(open.status, 200);
    assert.equal(open.headers.get('ratelimit-remaining'), null, 'no count to report');
    assert.deepEqual(await statuses(gateway, '/open', 3), [200, 200, 200]);
    const closed = await gateway.request('/closed');
    await closed.arrayBuffer();
    assert.equal(closed.status, 429);
    assert.equal(closed.headers.get('retry-after'), '1');
    await gateway.close();
  });
});
