import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Gateway } from '../../runtime/src/gateway.ts';
import { builtinPlugins } from '../../runtime/src/plugins/builtins.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';

let upstream: http.Server;
let origin: string;

before(async () => {
  upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', server: 'upstream/1.0', 'x-internal': 'secret' });
    res.end(JSON.stringify(req.headers));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(() => {
  upstream.closeAllConnections();
  upstream.close();
});

describe('headers plugin', () => {
  it('sets and removes request headers before the upstream and response headers after', async () => {
    const config = resolveConfig(
      {
        plugins: {
          edit: { use: 'headers', options: { request: { set: { 'X-Gateway': 'isogate' }, remove: ['Cookie'] }, response: { set: { 'cache-control': 'no-store' }, remove: ['server', 'x-internal'] } } },
        },
        routes: [{ path: '/*', upstream: origin, middleware: ['edit'] }],
      },
      builtinPlugins,
    );
    const gateway = new Gateway(config);
    const res = await gateway.request('/x', { headers: { cookie: 'session=1', 'x-other': 'kept' } });
    const received = (await res.json()) as Record<string, string>;
    assert.equal(received['x-gateway'], 'isogate');
    assert.equal(received['cookie'], undefined);
    assert.equal(received['x-other'], 'kept');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('server'), null);
    assert.equal(res.headers.get('x-internal'), null);
    await gateway.close();
  });

  it('can be instantiated twice with different options', async () => {
    const config = resolveConfig(
      {
        plugins: { a: { use: 'headers', options: { response: { set: { 'x-a': '1' } } } }, b: { use: 'headers', options: { response: { set: { 'x-b': '2' } } } } },
        routes: [{ path: '/a', upstream: origin, middleware: ['a'] }, { path: '/b', upstream: origin, middleware: ['b'] }],
      },
      builtinPlugins,
    );
    const gateway = new Gateway(config);
    const a = await gateway.request('/a');
    const b = await gateway.request('/b');
    assert.equal(a.headers.get('x-a'), '1');
    assert.equal(a.headers.get('x-b'), null);
    assert.equal(b.headers.get('x-b'), '2');
    await Promise.all([a.body?.cancel(), b.body?.cancel()]);
    await gateway.close();
  });

  it('fills templates from the request and appends to what is there', async () => {
    process.env['ISOGATE_TEST_REGION'] = 'eu-west';
    const config = resolveConfig(
      {
        plugins: {
          tag: {
            use: 'headers',
            options: {
              request: { set: { 'x-item': '{params.id}', 'x-region': '{env.ISOGATE_TEST_REGION}', 'x-client': '{req.clientIp}', 'x-q': '{query.q}' }, append: { 'x-trail': 'gateway' } },
              response: { append: { vary: 'authorization', 'set-cookie': 'b=2' }, set: { 'x-served-for': '{params.id}' } },
            },
          },
        },
        routes: [{ path: '/items/:id', upstream: origin, middleware: ['tag'] }],
      },
      builtinPlugins,
    );
    const gateway = new Gateway(config);
    const res = await gateway.request('/items/42?q=red', { headers: { 'x-trail': 'client' } });
    const received = (await res.json()) as Record<string, string>;
    assert.equal(received['x-item'], '42');
    assert.equal(received['x-region'], 'eu-west');
    assert.equal(received['x-client'], '127.0.0.1');
    assert.equal(received['x-q'], 'red');
    assert.equal(received['x-trail'], 'client, gateway');
    assert.equal(res.headers.get('x-served-for'), '42');
    assert.equal(res.headers.get('vary'), 'authorization');
    await gateway.close();
  });

  it('refuses at load a claim template without auth before it, and a param the route lacks, with key paths', () => {
    const load = (options: unknown, middleware: string[] = ['tag']) => {
      try {
        new Gateway(resolveConfig({ plugins: { tag: { use: 'headers', options }, auth: { use: 'auth', options: { secret: 'x'.repeat(32) } } }, routes: [{ path: '/items/:id', upstream: origin, middleware }] }, builtinPlugins));
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    assert.match(load({ request: { set: { 'x-user': '{claims.sub}' } } }), /plugins\.tag\.options\.request\.set\["x-user"\]: .*needs an auth instance earlier/);
    assert.equal(load({ request: { set: { 'x-user': '{claims.sub}' } } }, ['auth', 'tag']), '');
    assert.match(load({ response: { append: { 'x-o': '{params.org}' } } }), /plugins\.tag\.options\.response\.append\["x-o"\]: .*not a param of route/);
    assert.match(load({ request: { set: { 'x-a': '{env.ISOGATE_UNSET_FOR_TEST}' } } }), /not set/);
  });
});
