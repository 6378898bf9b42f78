import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import type { Middleware } from './chain/types.ts';
import { resolveConfig } from './config/validate-config.ts';
import { Gateway } from './gateway.ts';
import { builtinPlugins } from './plugins/builtins.ts';
import { definePluginRegistry, type BuiltinPlugin } from './plugins/builtin-plugin.ts';

// Test-only built-ins: they prove the chain contract through the real config path.
const trail: string[] = [];
const tracePlugin: BuiltinPlugin<{ label: string }> = {
  name: 'trace',
  options: z.strictObject({ label: z.string() }),
  create({ label }): Middleware {
    return (next) => async (req) => {
      trail.push(`>${label}`);
      req.headers['x-trail'] = `${req.headers['x-trail'] ?? ''}/${label}`;
      const res = await next(req);
      trail.push(`<${label}`);
      res.headers['x-after'] = `${res.headers['x-after'] ?? ''}/${label}`;
      return res;
    };
  },
};
const denyPlugin: BuiltinPlugin<Record<string, never>> = {
  name: 'deny',
  options: z.strictObject({}),
  create: () => () => async () => ({ status: 403, headers: { 'content-type': 'text/plain' }, body: 'denied' }),
};
const throwPlugin: BuiltinPlugin<Record<string, never>> = {
  name: 'throw',
  options: z.strictObject({}),
  create: () => () => async () => {
    throw new Error('secret internal detail at /srv/app.ts:12');
  },
};
const plugins = definePluginRegistry([...builtinPlugins.values(), tracePlugin, denyPlugin, throwPlugin] as BuiltinPlugin<never>[]);

let upstream: http.Server;
let origin: string;
const seen: { url: string; headers: http.IncomingHttpHeaders }[] = [];

before(async () => {
  upstream = http.createServer((req, res) => {
    seen.push({ url: req.url!, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
    res.end(JSON.stringify({ url: req.url, trail: req.headers['x-trail'] ?? null }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(() => {
  upstream.closeAllConnections();
  upstream.close();
});

function gatewayFor(input: Record<string, unknown>): Gateway {
  return new Gateway(resolveConfig(input, plugins), { plugins });
}

describe('Gateway without sockets', () => {
  it('runs global then route middleware in config order, around the proxy', async () => {
    const gateway = gatewayFor({
      plugins: { one: { use: 'trace', options: { label: '1' } }, two: { use: 'trace', options: { label: '2' } }, three: { use: 'trace', options: { label: '3' } } },
      middleware: ['two', 'one'],
      routes: [{ path: '/users/:id', upstream: `${origin}/u/{id}`, middleware: ['three'] }],
    });
    trail.length = 0;
    const res = await gateway.request('/users/42?x=1');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { url: '/u/42?x=1', trail: '/2/1/3' });
    assert.deepEqual(trail, ['>2', '>1', '>3', '<3', '<1', '<2']);
    assert.equal(res.headers.get('x-after'), '/3/1/2');
    assert.equal(res.headers.get('via'), '1.1 isogate');
    await gateway.close();
  });

  it('short-circuits without reaching the upstream', async () => {
    const gateway = gatewayFor({ plugins: { no: { use: 'deny' } }, routes: [{ path: '/*', upstream: origin, middleware: ['no'] }] });
    const before = seen.length;
    const res = await gateway.request('/anything');
    assert.equal(res.status, 403);
    assert.equal(await res.text(), 'denied');
    assert.equal(seen.length, before);
    await gateway.close();
  });

  it('turns a throwing middleware into a coded 500 without internals', async () => {
    const gateway = gatewayFor({ plugins: { boom: { use: 'throw' } }, routes: [{ path: '/*', upstream: origin, middleware: ['boom'] }] });
    const res = await gateway.request('/x');
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), { error: { code: 'ISOGATE_ERR_INTERNAL', message: 'internal gateway error' } });
    assert.doesNotMatch(text, /secret|srv/);
    await gateway.close();
  });

  it('answers health endpoints before routing, bypassing middleware, at configured paths', async () => {
    const gateway = gatewayFor({ server: { health: { liveness: '/live' } }, plugins: { no: { use: 'deny' } }, middleware: ['no'], routes: [{ path: '/*', upstream: origin }] });
    assert.equal((await gateway.request('/live')).status, 200);
    assert.equal((await gateway.request('/readyz')).status, 200);
    assert.equal((await gateway.request('/healthz')).status, 403, 'the default path is not special any more');
    gateway.startDraining();
    const ready = await gateway.request('/readyz');
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'draining' });
    assert.equal((await gateway.request('/live')).status, 200);
    await gateway.close();
  });

  it('answers 404, 405 with Allow, and HEAD where GET works', async () => {
    const gateway = gatewayFor({ routes: [{ path: '/items', methods: ['GET', 'POST'], upstream: origin }] });
    const missing = await gateway.request('/nope');
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'ISOGATE_ERR_NOT_FOUND');
    const wrong = await gateway.request('/items', { method: 'DELETE' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET, HEAD, POST');
    const head = await gateway.request('/items', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('x-upstream'), 'yes');
    await gateway.close();
  });

  it('normalises the path once and forwards the normalised path', async () => {
    const gateway = gatewayFor({ routes: [{ path: '/a/*', upstream: origin }] });
    const res = await gateway.request('/a/./b/../%7Ec//d');
    assert.deepEqual(await res.json(), { url: '/a/~c/d', trail: null });
    const evil = await gateway.request('//evil.example/a/x');
    assert.equal(evil.status, 404, '//evil.example is a path, never a host');
    for (const bad of ['/a/%2e%2e/x', '/a/b%2Fc', '/a/%00', '/a/%C0%AF', '/a/b\\c']) {
      const r = await gateway.request(bad);
      assert.equal(r.status, 400, bad);
      assert.equal((await r.json()).error.code, 'ISOGATE_ERR_BAD_PATH');
    }
    await gateway.close();
  });

  it('enforces the URL length limit and the underscore policy', async () => {
    const gateway = gatewayFor({ server: { limits: { maxUrlLength: 64 }, underscoreHeaders: 'reject' }, routes: [{ path: '/*', upstream: origin }] });
    assert.equal((await gateway.request(`/${'a'.repeat(64)}`)).status, 414);
    const underscored = await gateway.request('/x', { headers: { x_user: 'admin' } });
    assert.equal(underscored.status, 400);
    assert.equal((await underscored.json()).error.code, 'ISOGATE_ERR_UNDERSCORE_HEADER');
    await gateway.close();
    const dropping = gatewayFor({ routes: [{ path: '/*', upstream: origin }] });
    const before = seen.length;
    assert.equal((await dropping.request('/x', { headers: { x_user: 'admin', 'x-user': 'me' } })).status, 200);
    assert.equal(seen[before]!.headers['x_user'], undefined);
    assert.equal(seen[before]!.headers['x-user'], 'me');
    await dropping.close();
  });

  it('refuses a body whose Content-Length is over the limit before reading it', async () => {
    const gateway = gatewayFor({ server: { limits: { maxBodyBytes: 10 } }, routes: [{ path: '/*', upstream: origin }] });
    const before = seen.length;
    const res = await gateway.request('/x', { method: 'POST', body: 'x'.repeat(11), headers: { 'content-length': '11' } });
    assert.equal(res.status, 413);
    assert.equal(seen.length, before);
    await gateway.close();
  });

  it('swaps the routing table atomically on reload', async () => {
    const gateway = gatewayFor({ routes: [{ path: '/old', upstream: origin }] });
    assert.equal((await gateway.request('/old')).status, 200);
    gateway.reload(resolveConfig({ routes: [{ path: '/new', upstream: origin }] }, plugins));
    assert.equal((await gateway.request('/old')).status, 404);
    assert.equal((await gateway.request('/new')).status, 200);
    await gateway.close();
  });

  it('answers 502 with a coded error when the upstream refuses connections', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const gateway = gatewayFor({ routes: [{ path: '/*', upstream: `http://127.0.0.1:${port}` }] });
    const res = await gateway.request('/x');
    assert.equal(res.status, 502);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), { error: { code: 'ISOGATE_ERR_UPSTREAM_UNAVAILABLE', message: 'upstream is unavailable' } });
    assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1/);
    await gateway.close();
  });

  it('accepts a WHATWG Request through fetch()', async () => {
    const gateway = gatewayFor({ routes: [{ path: '/users/:id', upstream: `${origin}/u/{id}` }] });
    const res = await gateway.fetch(new Request('http://gw.example/users/a%20b'));
    assert.deepEqual(await res.json(), { url: '/u/a%20b', trail: null });
    await gateway.close();
  });
});
