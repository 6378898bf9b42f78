import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { z } from 'zod';
import { compose } from '../../runtime/src/chain/compose.ts';
import type { GatewayRequest, GatewayResponse, Handler, HeaderMap } from '../../runtime/src/chain/types.ts';
import { bundlePlugin } from '../../runtime/src/isolate/bundle-plugin.ts';
import { CLAIMS, createPluginMiddleware } from '../../runtime/src/isolate/plugin-middleware.ts';
import { PluginHost, PluginOptionsError as HostOptionsError } from '../../runtime/src/isolate/plugin-host.ts';
import { normalizePath as runtimeNormalizePath } from '../../runtime/src/router/normalize-path.ts';
import { normalizePath } from './internal/normalize-path.ts';
import { definePlugin, type Plugin } from './plugin.ts';
import { HookResultError, PluginOptionsError, testPlugin, type RequestOutcome, type TestRequestInit } from './testing.ts';

const root = path.resolve(import.meta.dirname, '../..');
const examples = path.join(root, 'examples/plugins');

describe('testPlugin: options', () => {
  it('validates options with the schema and reports every issue with its path', async () => {
    const { default: addHeader } = await import(pathToFileURL(path.join(examples, 'add-header.ts')).href);
    await assert.rejects(testPlugin(addHeader, { name: 7 } as never), (err: unknown) => {
      assert.ok(err instanceof PluginOptionsError);
      assert.deepEqual(err.issues.map((i) => i.path.join('.')).sort(), ['name', 'value']);
      assert.match(err.message, /invalid options for plugin "add-header":\n {2}options\.name: /);
      return true;
    });
  });

  it('applies schema defaults, after a JSON round trip of the options', async () => {
    const seen: unknown[] = [];
    const plugin = definePlugin({
      name: 'opts',
      version: '1.0.0',
      options: z.object({ when: z.string(), list: z.array(z.string()).default(['a']) }),
      onRequest(_req, ctx) {
        seen.push(ctx.options);
      },
    });
    const t = await testPlugin(plugin, { when: new Date(0) as unknown as string });
    await t.request();
    assert.deepEqual(seen, [{ when: '1970-01-01T00:00:00.000Z', list: ['a'] }]);
  });

  it('a plugin without a schema gets its options frozen', async () => {
    let frozen = false;
    const t = await testPlugin(definePlugin({ name: 'plain', version: '1.0.0', onRequest: (_r, ctx) => void (frozen = Object.isFrozen(ctx.options)) }), {});
    await t.request();
    assert.equal(frozen, true);
  });

  it('refuses something that is not a defined plugin', async () => {
    await assert.rejects(testPlugin({ name: 'x' } as unknown as Plugin), /export default definePlugin/);
  });
});

describe('testPlugin: request', () => {
  const headerPlugin = definePlugin({
    name: 'hdr',
    version: '1.0.0',
    onRequest(req) {
      req.headers.set('X-Tenant-Seen', req.headers.get('X-TENANT') ?? 'none');
      req.headers.append('X-Multi', 'a');
      req.headers.append('x-multi', 'b');
      req.headers.set('x-accept-all', JSON.stringify(req.headers.getAll('Accept')));
      req.headers.delete('Cookie');
    },
  });

  it('headers are case-insensitive; append and getAll keep repeated fields', async () => {
    const t = await testPlugin(headerPlugin);
    const out = await t.request({ headers: { 'X-Tenant': 'acme', Cookie: 'a=1', accept: ['text/html', 'application/json'] } });
    assert.ok(out.forwarded);
    assert.deepEqual(out.forwarded.headers, {
      'x-tenant': 'acme',
      accept: ['text/html', 'application/json'],
      'x-tenant-seen': 'acme',
      'x-multi': ['a', 'b'],
      'x-accept-all': '["text/html","application/json"]',
    });
  });

  it('forwards a changed path normalised and a changed query cleaned, like the gateway', async () => {
    const t = await testPlugin(
      definePlugin({
        name: 'rw',
        version: '1.0.0',
        onRequest(req) {
          req.path = `/v2//${req.params['id']}/./x/../items`;
          req.query = '?a=1 b#c';
        },
      }),
    );
    const out = await t.request({ path: '/orders/7', params: { id: '7' } });
    assert.deepEqual(out.forwarded, { path: '/v2/7/items', query: 'a=1%20b%23c', headers: {} });
  });

  it('a path the gateway would refuse, or a bad header, is a bad result', async () => {
    const badPath = await testPlugin(definePlugin({ name: 'p', version: '1.0.0', onRequest: (req) => void (req.path = '/a/%2F') }));
    await assert.rejects(badPath.request(), (err: unknown) => err instanceof HookResultError && err.kind === 'bad-result' && /encoded slash/.test(err.message));
    const badHeader = await testPlugin(definePlugin({ name: 'h', version: '1.0.0', onRequest: (req) => req.headers.set('x-a', 'a\r\nb') }));
    await assert.rejects(badHeader.request(), (err: unknown) => err instanceof HookResultError && /invalid header "x-a"/.test(err.message));
  });

  it('state crosses as JSON: the caller’s object is untouched, non-JSON values are lost', async () => {
    const t = await testPlugin(
      definePlugin({
        name: 'st',
        version: '1.0.0',
        onRequest(req, ctx) {
          ctx.state['count'] = Number(ctx.state['count']) + 1;
          ctx.state['at'] = new Date(0);
          ctx.state['gone'] = undefined;
          ctx.state['who'] = { user: ctx.claims?.['sub'], route: req.routeName, ip: req.clientIp, method: req.method };
        },
      }),
    );
    const state = { count: 1 };
    const out = await t.request({ state, claims: { sub: 'u1' }, method: 'post', routeName: 'orders', clientIp: '203.0.113.9' });
    assert.deepEqual(state, { count: 1 });
    assert.deepEqual(out.state, { count: 2, at: '1970-01-01T00:00:00.000Z', who: { user: 'u1', route: 'orders', ip: '203.0.113.9', method: 'POST' } });
  });

  it('params are frozen, as in the isolate', async () => {
    const t = await testPlugin(
      definePlugin({
        name: 'fr',
        version: '1.0.0',
        onRequest(req) {
          (req.params as Record<string, string>)['id'] = 'changed';
        },
      }),
    );
    await assert.rejects(t.request({ params: { id: '7' } }), TypeError);
  });

  it('a direct response is checked and sent as the client would get it', async () => {
    const plugin = definePlugin({
      name: 'direct',
      version: '1.0.0',
      onRequest(req) {
        const mode = req.headers.get('x-mode');
        if (mode === 'json') return { status: 503, headers: { 'Retry-After': 60 as unknown as string }, body: { error: 'maintenance', at: new Date(0) } };
        if (mode === 'text') return { status: 200, body: 'plain' };
        if (mode === 'bad') return { status: 700 };
        if (mode === 'falsy') return 0 as unknown as undefined;
      },
    });
    const t = await testPlugin(plugin);
    const json = await t.request({ headers: { 'x-mode': 'json' } });
    assert.equal(json.forwarded, undefined);
    assert.deepEqual(json.response, {
      status: 503,
      headers: { 'retry-after': '60', 'content-type': 'application/json; charset=utf-8' },
      body: { error: 'maintenance', at: '1970-01-01T00:00:00.000Z' },
      text: '{"error":"maintenance","at":"1970-01-01T00:00:00.000Z"}',
    });
    const text = await t.request({ headers: { 'x-mode': 'text' } });
    assert.deepEqual(text.response, { status: 200, headers: {}, body: 'plain', text: 'plain' });
    await assert.rejects(t.request({ headers: { 'x-mode': 'bad' } }), /a direct response needs a status from 200 to 599, got 700/);
    // The gateway treats a falsy return as "go on".
    assert.ok((await t.request({ headers: { 'x-mode': 'falsy' } })).forwarded);
  });

  it('collects logs, with fields only when given', async () => {
    const t = await testPlugin(
      definePlugin({
        name: 'log',
        version: '1.0.0',
        onRequest(_req, ctx) {
          ctx.log.info('hello', { a: 1 });
          ctx.log.warn('bare');
          for (let i = 0; i < 150; i++) ctx.log.debug(`n${i}`);
        },
      }),
    );
    const { logs } = await t.request();
    assert.deepEqual(logs.slice(0, 3), [{ level: 'info', message: 'hello', fields: { a: 1 } }, { level: 'warn', message: 'bare' }, { level: 'debug', message: 'n0' }]);
    assert.equal(logs.length, 100);
  });

  it('awaits async hooks, within the wall-clock deadline; a throw reaches the test as is', async () => {
    const plugin = definePlugin({
      name: 'async',
      version: '1.0.0',
      async onRequest(req) {
        const mode = req.headers.get('x-mode');
        await new Promise((resolve) => setTimeout(resolve, mode === 'slow' ? 300 : 1));
        if (mode === 'throw') throw new Error('boom');
        req.headers.set('x-async', 'yes');
      },
    });
    const t = await testPlugin(plugin, {}, { wallMs: 100 });
    assert.equal((await t.request()).forwarded?.headers['x-async'], 'yes');
    await assert.rejects(t.request({ headers: { 'x-mode': 'slow' } }), (err: unknown) => err instanceof HookResultError && err.kind === 'deadline');
    await assert.rejects(t.request({ headers: { 'x-mode': 'throw' } }), /^Error: boom$/);
  });

  it('without onRequest, the request goes through unchanged', async () => {
    const t = await testPlugin(definePlugin({ name: 'none', version: '1.0.0' }));
    assert.deepEqual(await t.request({ path: '/a//b', query: '?x', headers: { A: '1' }, state: { k: 1 } }), {
      forwarded: { path: '/a/b', query: 'x', headers: { a: '1' } },
      state: { k: 1 },
      logs: [],
    });
  });
});

describe('testPlugin: response', () => {
  it('runs onResponse: status within 200–599 and header changes apply, other statuses are ignored', async () => {
    const { default: addHeader } = await import(pathToFileURL(path.join(examples, 'add-header.ts')).href);
    const t = await testPlugin(addHeader, { name: 'x-a', value: '1', strip: ['Server'] });
    const out = await t.response({ status: 201, headers: { Server: 'nginx', 'Set-Cookie': ['a=1', 'b=2'] } });
    assert.deepEqual(out, { status: 201, headers: { 'set-cookie': ['a=1', 'b=2'] }, state: {}, logs: [] });

    const statuses = await testPlugin(
      definePlugin({
        name: 'st',
        version: '1.0.0',
        onResponse(res, req, ctx) {
          res.status = Number(req.headers.get('x-status'));
          ctx.state['seen'] = req.path;
        },
      }),
    );
    assert.equal((await statuses.response({ status: 404 }, { headers: { 'x-status': '410' } })).status, 410);
    const ignored = await statuses.response({ status: 404 }, { path: '/p', headers: { 'x-status': '99' } });
    assert.equal(ignored.status, 404);
    assert.deepEqual(ignored.state, { seen: '/p' });
  });
});

describe('the SDK copy of normalizePath', () => {
  it('agrees with the runtime on a corpus of paths', () => {
    const corpus = [
      '/', '', 'x', '/a/b', '/a//b', '/a/./b', '/a/../../b', '/a/b/', '/a/b/..', '/%41%62', '/%2F', '/%2f', '/%5C', '/%00', '/%2e%2e/x',
      '/%', '/%zz', '/caf%C3%A9', '/%C3', '/a b', '/a\\b', '/a?b', '/a#b', '/é', '/a/%7e/%7E', '/.', '/..', '//', '/a/.hidden', '/a%20b',
    ];
    for (const p of corpus) assert.deepEqual(normalizePath(p), runtimeNormalizePath(p), p);
  });
});

// The contract: one fixture plugin, run by the harness and by the real gateway pieces (bundled
// into an isolate by PluginHost, called through the chain middleware), must give the same results.
const fixture = `import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';
export default definePlugin({
  name: 'contract',
  version: '1.0.0',
  options: z.object({ tag: z.string().min(1), weight: z.number().int().default(3) }),
  async onRequest(req, ctx) {
    const c = req.headers.get('X-CASE');
    ctx.state['requests'] = Number(ctx.state['requests'] ?? 0) + 1;
    switch (c) {
      case 'headers':
        req.headers.append('X-Multi', 'a');
        req.headers.append('x-multi', 'b');
        req.headers.set('X-Tenant-Seen', req.headers.get('x-TENANT') ?? 'none');
        req.headers.set('x-accept', JSON.stringify(req.headers.getAll('ACCEPT')));
        req.headers.set('x-has', String(req.headers.has('Cookie')));
        req.headers.delete('cookie');
        req.headers.set('x-entries', String(req.headers.entries().length));
        return;
      case 'path':
        req.path = '/v2//' + req.params['id'] + '/./x/../items/';
        req.query = '?a=1 b#c';
        return;
      case 'bad-path':
        req.path = '/a/%2F';
        return;
      case 'bad-header':
        req.headers.set('x-evil', 'a\\r\\nb');
        return;
      case 'state':
        ctx.state['at'] = new Date(0);
        ctx.state['gone'] = undefined;
        ctx.state['fn'] = () => 1;
        ctx.state['who'] = { claims: ctx.claims ?? null, params: req.params, method: req.method, ip: req.clientIp, route: req.routeName, query: req.query };
        ctx.state['options'] = ctx.options;
        return;
      case 'logs':
        ctx.log.info('hello', { a: 1, d: new Date(0) });
        ctx.log.warn('bare');
        ctx.log.error(42 as unknown as string);
        return;
      case 'async':
        await Promise.resolve();
        req.headers.set('x-async', ctx.options.tag);
        return;
      case 'direct-json':
        return { status: 403, headers: { 'X-Reason': 'nope', 'x-n': 5 as unknown as string }, body: { error: 'forbidden', at: new Date(0) } };
      case 'direct-text':
        return { status: 299, headers: { 'content-type': 'text/plain' }, body: 'plain' };
      case 'direct-empty':
        return { status: 204, body: null };
      case 'direct-bad-status':
        return { status: 199 };
      case 'direct-bad-header':
        return { status: 400, headers: { 'bad header': 'x' } };
      case 'falsy':
        return 0 as unknown as undefined;
      case 'throw':
        throw new Error('boom');
    }
  },
  onResponse(res, req, ctx) {
    const c = req.headers.get('x-case');
    ctx.state['responses'] = 1;
    res.headers.set('x-state', JSON.stringify(ctx.state));
    res.headers.set('x-req', JSON.stringify([req.path, req.query, req.headers.entries()]));
    if (c === 'res-status') res.status = 418;
    if (c === 'res-bad-status') res.status = 99;
    if (c === 'res-headers') {
      res.headers.delete('Server');
      res.headers.append('Set-Cookie', 'c=3');
      res.headers.set('x-cookies', res.headers.get('set-cookie') ?? '');
    }
    if (c === 'res-bad-header') res.headers.set('Bad Name', '1');
    if (c === 'res-throw') throw new Error('boom');
    ctx.log.debug('response', { status: res.status });
  },
});
`;

interface Observed {
  /** What reached the upstream, or null. */
  forwarded: { path: string; query: string; headers: HeaderMap } | null;
  /** What the client got: a coded failure, or status + headers (+ body text). */
  client: 'failed' | { status: number; headers: HeaderMap; text: string | null };
  logs: { level: string; message: string; fields?: unknown }[];
}

const UPSTREAM: GatewayResponse = { status: 200, headers: { server: 'upstream/1', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' }, body: 'ok' };

function capturingLogger(entries: Observed['logs']): Logger {
  const at = (level: string) => (obj: Record<string, unknown>, message: string) => {
    if ('hook' in obj) return; // the gateway's own failure line
    const entry: Observed['logs'][number] = { level, message };
    if (obj['fields'] !== null && obj['fields'] !== undefined) entry.fields = obj['fields'];
    entries.push(entry);
  };
  const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger as unknown as Logger;
}

async function throughGateway(host: PluginHost, init: TestRequestInit): Promise<Observed> {
  const logs: Observed['logs'] = [];
  let forwarded: Observed['forwarded'] = null;
  const upstream: Handler = async (req) => {
    forwarded = { path: req.path, query: req.query, headers: structuredClone(req.headers) };
    return { ...UPSTREAM, headers: structuredClone(UPSTREAM.headers) };
  };
  const handler = compose([{ name: 'contract', middleware: createPluginMiddleware(host, 'contract', 'fail-closed', capturingLogger(logs)) }], upstream);
  const headers: HeaderMap = {};
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  const req: GatewayRequest = {
    method: init.method ?? 'GET', path: init.path ?? '/', query: init.query ?? '', headers, params: init.params ?? {}, clientIp: init.clientIp ?? '127.0.0.1',
    remoteAddress: '127.0.0.1', fromTrustedProxy: false, protocol: 'http', body: null, signal: new AbortController().signal,
    route: { name: init.routeName ?? init.path ?? '/' } as GatewayRequest['route'], state: init.claims ? { [CLAIMS]: init.claims } : {}, upgrade: false,
  };
  const res = await handler(req);
  const text = res.body === null ? null : String(res.body);
  if (res.status === 500 && text?.includes('ISOGATE_ERR_PLUGIN_FAILED')) return { forwarded, client: 'failed', logs };
  return { forwarded, client: { status: res.status, headers: res.headers, text }, logs };
}

async function throughHarness(t: Awaited<ReturnType<typeof testPlugin>>, init: TestRequestInit): Promise<Observed> {
  let out: RequestOutcome;
  try {
    out = await t.request(init);
  } catch (err) {
    return { forwarded: null, client: 'failed', logs: err instanceof HookResultError ? err.logs : [] };
  }
  const logs = [...out.logs];
  if (out.response) return { forwarded: null, client: { status: out.response.status, headers: out.response.headers, text: out.response.text }, logs };
  const forwarded = out.forwarded;
  try {
    const res = await t.response(UPSTREAM as { status: number; headers: HeaderMap }, { ...init, ...forwarded, state: out.state });
    logs.push(...res.logs);
    return { forwarded, client: { status: res.status, headers: res.headers, text: 'ok' }, logs };
  } catch (err) {
    if (err instanceof HookResultError) logs.push(...err.logs);
    return { forwarded, client: 'failed', logs };
  }
}

describe('contract: the harness runs a plugin like the gateway', () => {
  let dir: string;
  let host: PluginHost;
  let harness: Awaited<ReturnType<typeof testPlugin>>;
  let file: string;
  const limits = { memoryMb: 32, cpuMs: 200, wallMs: 1_000 };

  before(async () => {
    dir = await fs.mkdtemp(path.join(import.meta.dirname, '..', '.tmp-contract-'));
    file = path.join(dir, 'contract-plugin.ts');
    await fs.writeFile(file, fixture);
    host = await PluginHost.create('contract', await bundlePlugin(file), { tag: 'T' }, limits, capturingLogger([]));
    const { default: plugin } = (await import(pathToFileURL(file).href)) as { default: Plugin };
    harness = await testPlugin(plugin, { tag: 'T' } as never);
  });
  after(async () => {
    host?.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('rejects the same options with the same issues', async () => {
    const { default: plugin } = (await import(pathToFileURL(file).href)) as { default: Plugin };
    const bad = { tag: '', weight: 1.5, extra: true };
    let hostIssues: unknown;
    await assert.rejects(PluginHost.create('contract', await bundlePlugin(file), bad, limits, capturingLogger([])), (err: unknown) => {
      assert.ok(err instanceof HostOptionsError);
      hostIssues = err.issues;
      return true;
    });
    await assert.rejects(testPlugin(plugin, bad as never), (err: unknown) => {
      assert.ok(err instanceof PluginOptionsError);
      assert.deepEqual(err.issues, hostIssues);
      return true;
    });
  });

  const base: TestRequestInit = { method: 'GET', path: '/orders/7', query: 'x=1', params: { id: '7' }, clientIp: '203.0.113.7', routeName: '/orders/:id' };
  const cases: Record<string, TestRequestInit> = {
    plain: {},
    headers: { headers: { 'x-tenant': 'acme', cookie: 'a=1', accept: ['text/html', 'application/json'] } },
    path: {},
    'bad-path': {},
    'bad-header': {},
    state: { claims: { sub: 'u1', roles: ['admin'] } },
    logs: {},
    async: {},
    'direct-json': {},
    'direct-text': {},
    'direct-empty': {},
    'direct-bad-status': {},
    'direct-bad-header': {},
    falsy: {},
    throw: {},
    'res-status': {},
    'res-bad-status': {},
    'res-headers': {},
    'res-bad-header': {},
    'res-throw': {},
  };
  for (const [name, extra] of Object.entries(cases)) {
    it(`case "${name}"`, async () => {
      const init: TestRequestInit = { ...base, ...extra, headers: { 'x-case': name, ...extra.headers } };
      const gateway = await throughGateway(host, init);
      const tested = await throughHarness(harness, init);
      assert.deepEqual(tested, gateway);
    });
  }
});
