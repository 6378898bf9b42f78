import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Logger } from 'pino';
import { z } from 'zod';
import { compose } from '../../runtime/src/chain/compose.ts';
import { silentLogger, startGateway, type RunningGateway } from '../../runtime/src/index.ts';
import type { GatewayRequest, GatewayResponse, Handler, HeaderMap } from '../../runtime/src/chain/types.ts';
import { bundlePlugin } from '../../runtime/src/isolate/bundle-plugin.ts';
import { createPluginMiddleware } from '../../runtime/src/isolate/plugin-middleware.ts';
import { PluginHost, PluginOptionsError as HostOptionsError } from '../../runtime/src/isolate/plugin-host.ts';
import { normalizePath as runtimeNormalizePath } from '../../runtime/src/router/normalize-path.ts';
import { normalizePath } from './internal/normalize-path.ts';
import { definePlugin, type OptionsInputOf, type Plugin } from './plugin.ts';
import type { StandardSchemaV1 } from './standard-schema.ts';
import { streamOrBytes } from '../../runtime/src/proxy/upstream-body.ts';
import { HookResultError, PluginOptionsError, testPlugin, type PluginTester, type RequestOutcome, type TestBody, type TestPluginSettings, type TestRequestInit, type TestResponseInit } from './testing.ts';

const root = path.resolve(import.meta.dirname, '../..');
const examples = path.join(root, 'examples/plugins');

/**
 * The harness's own logic (encoding, applying results) with plugins defined inline in this file,
 * which can only run in Node. The contract suites below prove both modes agree with the gateway.
 */
function inNode<Schema extends StandardSchemaV1 | undefined>(plugin: Plugin<Schema>, options?: OptionsInputOf<Schema>, settings: TestPluginSettings = {}): Promise<PluginTester> {
  return testPlugin(plugin, options, { ...settings, mode: 'node' });
}

describe('testPlugin: options', () => {
  it('validates options with the schema and reports every issue with its path', async () => {
    await assert.rejects(testPlugin(path.join(examples, 'add-header.ts'), { name: 7 }), (err: unknown) => {
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
    const t = await inNode(plugin, { when: new Date(0) as unknown as string });
    await t.request();
    assert.deepEqual(seen, [{ when: '1970-01-01T00:00:00.000Z', list: ['a'] }]);
  });

  it('a plugin without a schema gets its options frozen', async () => {
    let frozen = false;
    const t = await inNode(definePlugin({ name: 'plain', version: '1.0.0', onRequest: (_r, ctx) => void (frozen = Object.isFrozen(ctx.options)) }), {});
    await t.request();
    assert.equal(frozen, true);
  });

  it('refuses something that is not a defined plugin', async () => {
    await assert.rejects(inNode({ name: 'x' } as unknown as Plugin), /export default definePlugin/);
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
    const t = await inNode(headerPlugin);
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
    const t = await inNode(
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
    const badPath = await inNode(definePlugin({ name: 'p', version: '1.0.0', onRequest: (req) => void (req.path = '/a/%2F') }));
    await assert.rejects(badPath.request(), (err: unknown) => err instanceof HookResultError && err.kind === 'bad-result' && /encoded slash/.test(err.message));
    const badHeader = await inNode(definePlugin({ name: 'h', version: '1.0.0', onRequest: (req) => req.headers.set('x-a', 'a\r\nb') }));
    await assert.rejects(badHeader.request(), (err: unknown) => err instanceof HookResultError && /invalid header "x-a"/.test(err.message));
  });

  it('state crosses as JSON: the caller’s object is untouched, non-JSON values are lost', async () => {
    const t = await inNode(
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
    const t = await inNode(
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
    const t = await inNode(plugin);
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
    const t = await inNode(
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
    const t = await inNode(plugin, {}, { wallMs: 100 });
    assert.equal((await t.request()).forwarded?.headers['x-async'], 'yes');
    await assert.rejects(t.request({ headers: { 'x-mode': 'slow' } }), (err: unknown) => err instanceof HookResultError && err.kind === 'deadline');
    await assert.rejects(t.request({ headers: { 'x-mode': 'throw' } }), /^Error: boom$/);
  });

  it('without onRequest, the request goes through unchanged', async () => {
    const t = await inNode(definePlugin({ name: 'none', version: '1.0.0' }));
    assert.deepEqual(await t.request({ path: '/a//b', query: '?x', headers: { A: '1' }, state: { k: 1 } }), {
      forwarded: { path: '/a/b', query: 'x', headers: { a: '1' } },
      state: { k: 1 },
      logs: [],
    });
  });
});

describe('testPlugin: response', () => {
  it('runs onResponse: status within 200–599 and header changes apply, other statuses are ignored', async () => {
    const t = await testPlugin(() => import('../../examples/plugins/add-header.ts'), { name: 'x-a', value: '1', strip: ['Server'] });
    const out = await t.response({ status: 201, headers: { Server: 'nginx', 'Set-Cookie': ['a=1', 'b=2'] } });
    assert.deepEqual(out, { status: 201, headers: { 'set-cookie': ['a=1', 'b=2'] }, state: {}, logs: [] });

    const statuses = await inNode(
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

describe('normalizePath', () => {
  it('is one implementation: the runtime re-exports the SDK’s', () => {
    assert.equal(runtimeNormalizePath, normalizePath);
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
      case 'bigint':
        // Does not survive the JSON crossing: the gateway fails the hook.
        return { status: 200, body: { n: 10n } };
      case 'cyclic': {
        const loop: Record<string, unknown> = {};
        loop['self'] = loop;
        ctx.state['loop'] = loop;
        return;
      }
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
  /** What reached the upstream (its body as base64, '' for none), or null. */
  forwarded: { path: string; query: string; headers: HeaderMap; body: string } | null;
  /**
   * What the client got: a coded plugin failure, a coded answer of the gateway's own (413, 400,
   * 502 for bodies), or status + headers + body (base64, null for none).
   */
  client: 'failed' | `gateway ${number}` | { status: number; headers: HeaderMap; body: string | null };
  logs: { level: string; message: string; fields?: unknown; source?: string }[];
}

const UPSTREAM: TestResponseInit = { status: 200, headers: { server: 'upstream/1', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' }, body: 'ok' };

/** The bytes a harness body stands for, as the gateway would receive them. */
function bytesOf(body: TestBody | undefined): Buffer | null {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body));
}

async function readAll(given: GatewayRequest['body'] | GatewayResponse['body']): Promise<Buffer | null> {
  const body = streamOrBytes({ body: given });
  if (body === null) return null;
  if (typeof body === 'string') return Buffer.from(body);
  if (!(body instanceof Readable)) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

function lowerCased(headers: Record<string, string | string[]> = {}): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

function capturingLogger(entries: Observed['logs']): Logger {
  const at = (level: string) => (obj: Record<string, unknown>, message: string) => {
    if ('hook' in obj) return; // the gateway's own failure line
    const entry: Observed['logs'][number] = { level, message };
    if (obj['fields'] !== null && obj['fields'] !== undefined) entry.fields = obj['fields'];
    if (typeof obj['source'] === 'string') entry.source = obj['source'];
    entries.push(entry);
  };
  const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger as unknown as Logger;
}

/** The request through the real chain middleware and isolate; the upstream answers `upstreamRes` as a stream. */
async function throughGateway(host: PluginHost, init: TestRequestInit, upstreamRes: TestResponseInit = UPSTREAM): Promise<Observed> {
  const logs: Observed['logs'] = [];
  let forwarded: Observed['forwarded'] = null;
  const upstream: Handler = async (req) => {
    const sent = await readAll(req.body);
    forwarded = { path: req.path, query: req.query, headers: structuredClone(req.headers), body: sent?.toString('base64') ?? '' };
    const bytes = bytesOf(upstreamRes.body);
    return { status: upstreamRes.status ?? 200, headers: lowerCased(upstreamRes.headers), body: bytes === null ? null : Readable.from([bytes], { objectMode: false }) };
  };
  const handler = compose([{ name: 'contract', middleware: createPluginMiddleware(host, 'contract', 'fail-closed', capturingLogger(logs)) }], upstream);
  const body = bytesOf(init.body);
  const req: GatewayRequest = {
    method: init.method ?? 'GET', path: init.path ?? '/', query: init.query ?? '', headers: lowerCased(init.headers), params: init.params ?? {}, clientIp: init.clientIp ?? '127.0.0.1',
    remoteAddress: '127.0.0.1', fromTrustedProxy: false, protocol: 'http', body: body === null ? null : Readable.from([body], { objectMode: false }), signal: new AbortController().signal,
    route: { name: init.routeName ?? init.path ?? '/' } as GatewayRequest['route'], state: {}, claims: init.claims ?? null, instruments: null, upgrade: false,
  };
  const res = await handler(req);
  const sent = await readAll(res.body);
  const code = /ISOGATE_ERR_[A-Z_]+/.exec(sent?.toString() ?? '')?.[0];
  if (res.status === 500 && code === 'ISOGATE_ERR_PLUGIN_FAILED') return { forwarded, client: 'failed', logs };
  if (code) return { forwarded, client: `gateway ${res.status}`, logs };
  return { forwarded, client: { status: res.status, headers: res.headers, body: sent?.toString('base64') ?? null }, logs };
}

/** The gateway's own answer the harness announces by throwing (a body over the bound, not JSON). */
function gatewayAnswer(err: unknown): Observed['client'] | null {
  const status = err instanceof TypeError ? /the gateway would answer (\d{3})/.exec(err.message)?.[1] : undefined;
  return status === undefined ? null : `gateway ${Number(status)}`;
}

async function throughHarness(t: Awaited<ReturnType<typeof testPlugin>>, init: TestRequestInit, upstreamRes: TestResponseInit = UPSTREAM): Promise<Observed> {
  let out: RequestOutcome;
  try {
    out = await t.request(init);
  } catch (err) {
    return { forwarded: null, client: gatewayAnswer(err) ?? 'failed', logs: err instanceof HookResultError ? err.logs : [] };
  }
  const logs = [...out.logs];
  if (out.response) {
    const text = out.response.text;
    return { forwarded: null, client: { status: out.response.status, headers: out.response.headers, body: text === null ? null : Buffer.from(text).toString('base64') }, logs };
  }
  const { body: sent, text: _text, ...rest } = out.forwarded;
  const forwarded = { ...rest, body: sent ? Buffer.from(sent).toString('base64') : '' };
  try {
    const res = await t.response(upstreamRes, { ...init, ...rest, body: undefined, state: out.state });
    logs.push(...res.logs);
    return { forwarded, client: { status: res.status, headers: res.headers, body: res.body ? Buffer.from(res.body).toString('base64') : null }, logs };
  } catch (err) {
    if (err instanceof HookResultError) logs.push(...err.logs);
    return { forwarded, client: gatewayAnswer(err) ?? 'failed', logs };
  }
}

// Both modes of the harness against the gateway: 'sandbox' (the default, the runtime's isolate)
// and 'node' (the hook runtime in this process).
const MODES = ['sandbox', 'node'] as const;

for (const mode of MODES) describe(`contract (${mode}): the harness runs a plugin like the gateway`, () => {
  let dir: string;
  let host: PluginHost;
  let harness: PluginTester;
  let file: string;
  const limits = { memoryMb: 32, cpuMs: 200, wallMs: 1_000 };

  before(async () => {
    dir = await fs.mkdtemp(path.join(import.meta.dirname, '..', '.tmp-contract-'));
    file = path.join(dir, 'contract-plugin.ts');
    await fs.writeFile(file, fixture);
    host = await PluginHost.create('contract', await bundlePlugin(file), { tag: 'T' }, limits, capturingLogger([]));
    harness = await testPlugin(file, { tag: 'T' }, { mode, limits });
    assert.equal(harness.mode, mode);
  });
  after(async () => {
    host?.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('rejects the same options with the same issues', async () => {
    const bad = { tag: '', weight: 1.5, extra: true };
    let hostIssues: unknown;
    await assert.rejects(PluginHost.create('contract', await bundlePlugin(file), bad, limits, capturingLogger([])), (err: unknown) => {
      assert.ok(err instanceof HostOptionsError);
      hostIssues = err.issues;
      return true;
    });
    await assert.rejects(testPlugin(file, bad, { mode }), (err: unknown) => {
      assert.ok(err instanceof PluginOptionsError);
      assert.deepEqual(err.issues, hostIssues);
      assert.match(err.message, /^invalid options for plugin "contract":/);
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
    bigint: {},
    cyclic: {},
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

// Bodies: one fixture per declared kind, run through both sides with bodies both ways.
const bodyFixture = (kind: 'text' | 'json' | 'bytes') => `import { definePlugin } from '@isogate/sdk';
const show = (v: unknown) => v instanceof Uint8Array ? 'bytes:' + Array.from(v).join(',') : v === undefined ? 'undefined' : typeof v + ':' + JSON.stringify(v);
export default definePlugin({
  name: 'contract-${kind}',
  version: '1.0.0',
  requestBody: '${kind}',
  responseBody: '${kind}',
  maxBodyBytes: 64,
  onRequest(req) {
    const c = req.headers.get('x-case') ?? '';
    if (c !== 'quiet') req.headers.set('x-seen', show(req.body));
    if (c === 'replace-text') req.body = 'replaced é';
    if (c === 'replace-json') req.body = { replaced: true, n: [1, 2] };
    if (c === 'replace-bytes') req.body = new Uint8Array([0, 255, 1, 128]);
    if (c === 'edit' && req.body instanceof Uint8Array) req.body[0] = 122;
    if (c === 'edit' && req.body !== null && typeof req.body === 'object' && !(req.body instanceof Uint8Array)) (req.body as Record<string, unknown>)['added'] = 1;
    if (c === 'same') req.body = req.body instanceof Uint8Array ? new Uint8Array(req.body) : JSON.parse(JSON.stringify(req.body ?? null)) ?? undefined;
    if (c === 'clear') req.body = null;
    if (c === 'echo') return { status: 200, body: { got: show(req.body) } };
  },
  onResponse(res, req) {
    const c = req.headers.get('x-case') ?? '';
    res.headers.set('x-res-seen', show(res.body));
    if (c === 'res-text') res.body = 'réplaced';
    if (c === 'res-json') res.body = [{ a: 1 }, null];
    if (c === 'res-bytes') res.body = new Uint8Array([7, 0, 255]);
    if (c === 'res-edit' && res.body instanceof Uint8Array) res.body[1] = 0;
    if (c === 'res-edit' && res.body !== null && typeof res.body === 'object' && !(res.body instanceof Uint8Array)) (res.body as Record<string, unknown>)['added'] = true;
    if (c === 'res-clear') res.body = undefined;
    if (c === 'res-204') {
      res.status = 204;
      res.body = 'gone';
    }
  },
});
`;

for (const mode of MODES) describe(`contract (${mode}): bodies go through the harness like through the gateway`, () => {
  const kinds = ['text', 'json', 'bytes'] as const;
  let dir: string;
  const hosts = new Map<string, PluginHost>();
  const harnesses = new Map<string, PluginTester>();
  const limits = { memoryMb: 32, cpuMs: 200, wallMs: 1_000 };

  before(async () => {
    dir = await fs.mkdtemp(path.join(import.meta.dirname, '..', '.tmp-contract-body-'));
    for (const kind of kinds) {
      const file = path.join(dir, `contract-${kind}.ts`);
      await fs.writeFile(file, bodyFixture(kind));
      hosts.set(kind, await PluginHost.create(`contract-${kind}`, await bundlePlugin(file), {}, limits, capturingLogger([])));
      harnesses.set(kind, await testPlugin(file, {}, { mode, limits }));
    }
  });
  after(async () => {
    for (const host of hosts.values()) host.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const bodies = {
    text: { body: 'héllo wörld', headers: { 'content-type': 'text/plain; charset=utf-8' }, upstream: 'upstream ✓' },
    json: { body: '{ "a" : [1, 2], "s": "é" }', headers: { 'content-type': 'application/json' }, upstream: '{"u":1,"list":[1,2]}' },
    bytes: { body: new Uint8Array([1, 2, 3, 250, 0]), headers: { 'content-type': 'application/octet-stream' }, upstream: new Uint8Array([9, 8, 7, 0, 255]) },
  };
  type Case = { req?: Partial<TestRequestInit>; res?: Partial<TestResponseInit>; only?: (typeof kinds)[number][] };
  const cases: Record<string, Case> = {
    unchanged: {},
    quiet: {},
    'no-body': { req: { body: undefined } },
    'empty-body': { req: { body: '' } },
    'replace-text': {},
    'replace-json': {},
    'replace-bytes': {},
    edit: {},
    same: {},
    clear: {},
    echo: {},
    'as-object': { req: { body: { a: 1, nested: { b: [true] } } }, only: ['json'] },
    'chunked-header': { req: { headers: { 'transfer-encoding': 'chunked' } } },
    compressed: { req: { headers: { 'content-encoding': 'gzip' } }, res: { headers: { 'content-encoding': 'gzip', 'content-length': '5' } } },
    'bad-json': { req: { body: '{"a":' }, only: ['json'] },
    'too-large': { req: { body: 'x'.repeat(65) } },
    'res-text': { res: { headers: { 'content-md5': 'x' } } },
    'res-json': {},
    'declared-too-large': { req: { headers: { 'content-length': '99' } }, res: { headers: { 'content-length': '99' } } },
    'res-bytes': {},
    'res-edit': {},
    'res-clear': {},
    'res-204': {},
    'res-bad-json': { res: { body: '{oops' }, only: ['json', 'text'] },
    'res-empty': { res: { body: undefined } },
    'res-too-large': { res: { body: 'y'.repeat(65) } },
  };
  for (const kind of kinds) {
    for (const [name, c] of Object.entries(cases)) {
      if (c.only && !c.only.includes(kind)) continue;
      it(`${kind}: case "${name}"`, async () => {
        const b = bodies[kind];
        const init: TestRequestInit = { method: 'POST', path: '/items', body: b.body, ...c.req, headers: { 'x-case': name, ...b.headers, ...c.req?.headers } };
        const upstreamBody = c.res && 'body' in c.res ? c.res.body : b.upstream;
        const length = bytesOf(upstreamBody)?.length;
        const upstream: TestResponseInit = {
          status: 200,
          body: upstreamBody,
          headers: { 'content-type': b.headers['content-type'], etag: '"v1"', ...(length === undefined ? {} : { 'content-length': String(length) }), ...c.res?.headers },
        };
        const gateway = await throughGateway(hosts.get(kind)!, init, upstream);
        const tested = await throughHarness(harnesses.get(kind)!, init, upstream);
        assert.deepEqual(tested, gateway);
      });
    }
  }

  it('reports bodies as bytes and text, decoded like the gateway decodes them', async () => {
    const json = harnesses.get('json')!;
    const out = await json.request({ headers: { 'x-case': 'replace-json' }, body: { a: 1 } });
    assert.equal(out.forwarded?.text, '{"replaced":true,"n":[1,2]}');
    assert.deepEqual(out.forwarded?.body, new TextEncoder().encode('{"replaced":true,"n":[1,2]}'));
    assert.equal(out.forwarded?.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(out.forwarded?.headers['content-length'], '27');
    assert.equal(out.forwarded?.headers['x-seen'], 'object:{"a":1}');

    const bytes = harnesses.get('bytes')!;
    const res = await bytes.response({ body: new Uint8Array([1, 2, 3]) }, { headers: { 'x-case': 'res-edit' } });
    assert.deepEqual(res.body, new Uint8Array([1, 0, 3]));
    assert.equal(res.headers['x-res-seen'], 'bytes:1,2,3');
    assert.equal(res.headers['content-length'], '3');

    const text = harnesses.get('text')!;
    const untouched = await text.response({ body: 'as is', headers: { 'content-length': '5' } }, { headers: { 'x-case': 'none' } });
    assert.equal(untouched.text, 'as is');
    assert.equal(untouched.headers['content-length'], '5');
    await assert.rejects(text.request({ body: 'x'.repeat(65) }), /the gateway would answer 413/);
    await assert.rejects(json.request({ body: '{' }), /the gateway would answer 400/);
    await assert.rejects(text.response({ body: 'x'.repeat(65) }), /the gateway would answer 502/);
  });

  it('a plugin that declares no body still forwards the body it never sees', async () => {
    const t = await inNode(definePlugin({ name: 'nb', version: '1.0.0', onRequest: (req) => req.headers.set('x-body', String(req.body)) }));
    const out = await t.request({ body: 'kept', headers: { 'content-length': '4' } });
    assert.deepEqual(out.forwarded, { path: '/', query: '', headers: { 'content-length': '4', 'x-body': 'undefined' }, body: new TextEncoder().encode('kept'), text: 'kept' });
  });
});

describe('testPlugin: verifier', () => {
  const verifierPlugin = definePlugin({
    name: 'verifier-under-test',
    version: '1.0.0',
    async verifier(token, ctx) {
      if (token === 'good') return { sub: 'u1' };
      if (token === 'throw') throw new Error('revoked');
      if (token === 'odd') return 'yes' as unknown as Record<string, unknown>;
      ctx.log.warn('unknown token', { length: token.length });
      return null;
    },
  });

  it('runs the verifier as the gateway does: claims, null and a throw are answers; a non-object is a bug', async () => {
    const t = await inNode(verifierPlugin);
    assert.deepEqual(await t.verify('good'), { claims: { sub: 'u1' }, logs: [] });
    const rejected = await t.verify('nope');
    assert.equal(rejected.claims, null);
    assert.deepEqual(rejected.logs, [{ level: 'warn', message: 'unknown token', fields: { length: 4 } }]);
    assert.equal((await t.verify('throw')).reason, 'revoked');
    await assert.rejects(t.verify('odd'), (err: unknown) => err instanceof HookResultError && err.kind === 'bad-result');
  });

  it('refuses to verify with a plugin that has no verifier', async () => {
    const t = await inNode(definePlugin({ name: 'none', version: '1.0.0', onRequest() {} }));
    await assert.rejects(t.verify('x'), /has no verifier hook/);
  });
});

describe('testPlugin: ctx.fetch', () => {
  const introspect = definePlugin({
    name: 'introspect-under-test',
    version: '1.0.0',
    async verifier(token, ctx) {
      const res = await ctx.fetch!('https://idp.test/introspect', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` });
      const body = res.json() as { active: boolean; sub?: string };
      return body.active ? { sub: body.sub } : null;
    },
  });

  it('answers from the fake the test supplies, and a throw reaches the plugin as a rejected fetch', async () => {
    const calls: [string, unknown][] = [];
    const t = await inNode(introspect, undefined, {
      fetch: (url, init) => {
        calls.push([url, init]);
        if (init.body === 'token=down') throw new Error('connect ECONNREFUSED');
        return { status: 200, body: JSON.stringify(init.body === 'token=ok' ? { active: true, sub: 'u9' } : { active: false }) };
      },
    });
    assert.deepEqual((await t.verify('ok')).claims, { sub: 'u9' });
    assert.equal((await t.verify('no')).claims, null);
    // A failed fetch that escapes the verifier is an outage, not a verdict (the gateway answers 503).
    await assert.rejects(t.verify('down'), (err: unknown) => err instanceof HookResultError && err.kind === 'unavailable' && /ECONNREFUSED/.test(err.message));
    assert.deepEqual(calls[0], ['https://idp.test/introspect', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=ok' }]);
  });

  it('answers from the fake in the sandbox (the default mode), a throw reaching the plugin as a rejected fetch', async () => {
    // Failed to load before the host gave a function fetch source an identity of its own.
    const calls: [string, unknown][] = [];
    const t = await testPlugin(path.join(examples, 'introspect.ts'), { introspectionUrl: 'https://idp.test/introspect' }, {
      fetch: (url, init) => {
        calls.push([url, init.body]);
        if (init.body === 'token=down') throw new Error('connect ECONNREFUSED');
        return { status: 200, body: JSON.stringify(init.body === 'token=good' ? { active: true, sub: 'u9' } : { active: false }) };
      },
    });
    const good = await t.request({ headers: { authorization: 'Bearer good' } });
    assert.equal(good.forwarded?.headers['x-user-id'], 'u9');
    const bad = await t.request({ headers: { authorization: 'Bearer bad' } });
    assert.equal(bad.response?.status, 401);
    await assert.rejects(t.request({ headers: { authorization: 'Bearer down' } }), (err: unknown) => err instanceof HookResultError && /ECONNREFUSED/.test(err.message));
    assert.deepEqual(calls, [
      ['https://idp.test/introspect', 'token=good'],
      ['https://idp.test/introspect', 'token=bad'],
      ['https://idp.test/introspect', 'token=down'],
    ]);
  });

  it('is undefined without a fake, as in the gateway without an allow-list', async () => {
    const probe = definePlugin({ name: 'probe', version: '1.0.0', onRequest(req, ctx) { req.headers.set('x-has-fetch', String(ctx.fetch !== undefined)); } });
    const t = await inNode(probe);
    const out = await t.request();
    assert.equal(out.forwarded?.headers['x-has-fetch'], 'false');
  });
});

// The sandbox's globals (URL, TextEncoder/TextDecoder, atob/btoa, structuredClone, crypto, console),
// through the harness and through the gateway. `console` goes to the request's log in the sandbox
// and to the test's stdout in Node: the one case only the sandbox mode can agree on.
const globalsFixture = `import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';
const hex = (buf: ArrayBuffer) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
export default definePlugin({
  name: 'globals',
  version: '1.0.0',
  options: z.object({ secret: z.string().min(1) }),
  async onRequest(req, ctx) {
    switch (req.headers.get('x-case')) {
      case 'url': {
        const target = new URL(req.path + '?' + req.query, 'https://shop.example');
        target.searchParams.set('from', 'gateway é');
        target.searchParams.delete('drop');
        req.path = '/moved' + target.pathname;
        req.query = target.searchParams.toString();
        req.headers.set('x-origin', target.origin);
        return;
      }
      case 'redirect': {
        const to = new URL('/login', 'https://auth.example');
        to.searchParams.set('next', req.path + '?' + req.query);
        return { status: 302, headers: { location: to.href } };
      }
      case 'encode': {
        const bytes = new TextEncoder().encode(req.headers.get('x-text') ?? '');
        req.headers.set('x-bytes', Array.from(bytes).join(','));
        req.headers.set('x-b64', btoa(String.fromCharCode(...bytes)));
        req.headers.set('x-round-trip', new TextDecoder().decode(bytes));
        req.headers.set('x-atob', atob('aXNvZ2F0ZQ=='));
        return;
      }
      case 'hmac': {
        const enc = new TextEncoder();
        const key = await crypto.subtle.importKey('raw', enc.encode(ctx.options.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
        const payload = enc.encode(req.headers.get('x-payload') ?? '');
        const signature = hex(await crypto.subtle.sign('HMAC', key, payload));
        if (signature !== req.headers.get('x-signature')) return { status: 401, body: { error: 'bad signature' } };
        req.headers.set('x-verified', String(await crypto.subtle.verify('HMAC', key, await crypto.subtle.sign('HMAC', key, payload), payload)));
        req.headers.set('x-digest', hex(await crypto.subtle.digest('SHA-256', payload)));
        return;
      }
      case 'random': {
        const id = crypto.randomUUID();
        const bytes = crypto.getRandomValues(new Uint8Array(8));
        req.headers.set('x-random', String(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id) && bytes.length === 8));
        return;
      }
      case 'clone': {
        const original = { list: [1, { deep: true }], when: new Date(0) };
        const copy = structuredClone(original);
        ctx.state['clone'] = { equal: JSON.stringify(copy) === JSON.stringify(original), same: copy === original, date: copy.when instanceof Date };
        return;
      }
      case 'console':
        console.log('hello from console', 42);
        console.warn('careful');
        return;
    }
  },
});
`;

const SECRET = 'webhook-s3cret';
const payload = '{"event":"paid","id":7}';
const signature = createHmac('sha256', SECRET).update(payload).digest('hex');
const globalCases: Record<string, TestRequestInit & { only?: 'sandbox' }> = {
  url: { path: '/cart/items', query: 'drop=1&keep=2' },
  redirect: { path: '/orders/7', query: 'tab=2' },
  encode: { headers: { 'x-text': 'héllo ✓' } },
  'hmac-good': { headers: { 'x-case': 'hmac', 'x-payload': payload, 'x-signature': signature } },
  'hmac-bad': { headers: { 'x-case': 'hmac', 'x-payload': payload, 'x-signature': '00'.repeat(32) } },
  random: {},
  clone: {},
  console: { only: 'sandbox' },
};

for (const mode of MODES) describe(`contract (${mode}): the sandbox's globals, through the harness like through the gateway`, () => {
  let dir: string;
  let host: PluginHost;
  let harness: PluginTester;
  const limits = { memoryMb: 64, cpuMs: 200, wallMs: 1_000 };

  before(async () => {
    dir = await fs.mkdtemp(path.join(import.meta.dirname, '..', '.tmp-contract-globals-'));
    const file = path.join(dir, 'globals.ts');
    await fs.writeFile(file, globalsFixture);
    host = await PluginHost.create('globals', await bundlePlugin(file), { secret: SECRET }, limits, capturingLogger([]));
    harness = await testPlugin(file, { secret: SECRET }, { mode, limits });
  });
  after(async () => {
    host?.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  for (const [name, { only, ...init }] of Object.entries(globalCases)) {
    if (only && only !== mode) continue;
    it(`case "${name}"`, async () => {
      const request: TestRequestInit = { path: '/p', ...init, headers: { 'x-case': name, ...init.headers } };
      const gateway = await throughGateway(host, request);
      const tested = await throughHarness(harness, request);
      assert.deepEqual(tested, gateway);
      if (name === 'hmac-good') assert.equal(tested.forwarded?.headers['x-verified'], 'true');
      if (name === 'hmac-bad') assert.equal((tested.client as { status: number }).status, 401);
      if (name === 'console') {
        const line = (text: string) => globalsFixture.split('\n').findIndex((l) => l.includes(text)) + 1;
        assert.deepEqual(tested.logs.map((l) => [l.level, l.message, path.basename(String(l.source))]), [
          ['info', 'hello from console 42', `globals.ts:${line('console.log(')}:17`],
          ['warn', 'careful', `globals.ts:${line('console.warn(')}:17`],
        ]);
      }
    });
  }
});

// The same fixtures through testPlugin (the sandbox, its default) and through a real gateway
// started from a config file, over sockets: a real client, the gateway's HTTP handling, a real
// upstream. Compared: what reaches the upstream and what the client gets, for every header the
// harness reports or the request carried.
const socketFixture = `import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';
export default definePlugin({
  name: 'socket-contract',
  version: '1.0.0',
  options: z.object({ tag: z.string() }),
  onRequest(req, ctx) {
    const c = req.headers.get('x-case');
    ctx.state['seen'] = c;
    switch (c) {
      case 'headers':
        req.headers.set('x-tenant-seen', req.headers.get('X-Tenant') ?? 'none');
        req.headers.append('x-multi', 'a');
        req.headers.append('x-multi', 'b');
        req.headers.delete('x-secret');
        req.headers.set('x-tag', ctx.options.tag);
        return;
      case 'path':
        req.path = '/v2//' + req.params['id'] + '/./x/../items/';
        req.query = '?a=1 b#c';
        return;
      case 'direct':
        return { status: 403, headers: { 'x-reason': 'nope' }, body: { error: 'forbidden', at: new Date(0) } };
      case 'bad-status':
        return { status: 199 };
      case 'throw':
        throw new Error('boom');
      case 'bigint':
        return { status: 200, body: { n: 10n } };
      case 'spin': {
        // Well past cpuMs: stopped by the watchdog in both.
        const until = Date.now() + 3_000;
        while (Date.now() < until) {}
        return;
      }
    }
  },
  onResponse(res, req, ctx) {
    const c = req.headers.get('x-case');
    res.headers.set('x-state', JSON.stringify(ctx.state));
    if (c === 'res-status') res.status = 418;
    if (c === 'res-headers') {
      res.headers.delete('server');
      res.headers.append('set-cookie', 'c=3');
    }
  },
});
`;

describe('contract over sockets: testPlugin (sandbox) agrees with a real gateway', () => {
  let dir: string;
  let upstream: http.Server;
  let gateway: RunningGateway;
  let harness: PluginTester;
  let upstreamSaw: { path: string; headers: Record<string, string | string[]> } | null = null;
  const lastUpstreamRequest = () => upstreamSaw;
  const limits = { memoryMb: 64, cpuMs: 50, wallMs: 1_000 };
  const files: Record<string, string> = {};

  before(async () => {
    upstream = http.createServer((req, res) => {
      upstreamSaw = { path: req.url ?? '', headers: distinct(req.headersDistinct) };
      res.writeHead(200, { 'content-type': 'text/plain', server: 'upstream/1', 'set-cookie': ['a=1', 'b=2'] });
      res.end('ok');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    dir = await fs.mkdtemp(path.join(import.meta.dirname, '..', '.tmp-contract-socket-'));
    files['plugin'] = path.join(dir, 'socket-contract.ts');
    await fs.writeFile(files['plugin'], socketFixture);
    await fs.writeFile(
      path.join(dir, 'gateway.config.ts'),
      `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: { sc: usePlugin(() => import('./socket-contract.ts'), { tag: 'T' }, { limits: ${JSON.stringify(limits)} }) },
  routes: [{ path: '/orders/:id', upstream: ${JSON.stringify(upstreamUrl)}, middleware: ['sc'] }],
});
`,
    );
    gateway = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, host: '127.0.0.1', logger: silentLogger() });
    harness = await testPlugin(files['plugin'], { tag: 'T' }, { limits });
  });
  after(async () => {
    await gateway?.stop();
    upstream?.closeAllConnections();
    upstream?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Node's distinct header lists, a single value as a string (the harness's shape). */
  function distinct(headers: Record<string, string[] | undefined>): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = v.length === 1 ? v[0]! : v;
    return out;
  }
  function pick(headers: Record<string, string | string[]>, names: Iterable<string>): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const name of names) if (headers[name] !== undefined) out[name] = headers[name]!;
    return out;
  }

  function send(init: TestRequestInit): Promise<{ status: number; headers: Record<string, string | string[]>; body: string }> {
    return new Promise((resolve, reject) => {
      const target = new URL(`${gateway.url}${init.path}${init.query ? `?${init.query}` : ''}`);
      const req = http.request(target, { method: init.method, headers: init.headers as http.OutgoingHttpHeaders, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: distinct(res.headersDistinct), body: Buffer.concat(chunks).toString('base64') }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  const base: TestRequestInit = { method: 'GET', path: '/orders/7', query: 'x=1', params: { id: '7' }, clientIp: '127.0.0.1', routeName: '/orders/:id' };
  const cases: Record<string, TestRequestInit> = {
    plain: {},
    headers: { headers: { 'x-tenant': 'acme', 'x-secret': 'hidden' } },
    path: {},
    direct: {},
    'bad-status': {},
    throw: {},
    bigint: {},
    spin: {},
    'res-status': {},
    'res-headers': {},
  };
  for (const [name, extra] of Object.entries(cases)) {
    it(`case "${name}"`, async () => {
      const init: TestRequestInit = { ...base, ...extra, headers: { 'x-case': name, ...extra.headers } };
      const tested = await throughHarness(harness, init, { status: 200, headers: { 'content-type': 'text/plain', server: 'upstream/1', 'set-cookie': ['a=1', 'b=2'] }, body: 'ok' });
      upstreamSaw = null;
      const res = await send(init);
      // Read back through a function: TypeScript narrowed the variable to null at the assignment above.
      const saw = lastUpstreamRequest();
      if (tested.client === 'failed') {
        assert.equal(res.status, 500, `${name}: the harness failed the hook, the gateway answered ${res.status}`);
        assert.match(Buffer.from(res.body, 'base64').toString(), /ISOGATE_ERR_PLUGIN_FAILED/);
      } else {
        assert.ok(typeof tested.client === 'object');
        assert.equal(res.status, tested.client.status);
        assert.deepEqual(pick(res.headers, Object.keys(tested.client.headers)), tested.client.headers);
        assert.equal(res.body, tested.client.body ?? '');
      }
      if (tested.forwarded === null) assert.equal(saw, null, `${name}: the harness says nothing went upstream`);
      else {
        assert.ok(saw);
        const names = new Set([...Object.keys(tested.forwarded.headers), ...Object.keys(init.headers ?? {})]);
        assert.deepEqual(pick(saw.headers, names), tested.forwarded.headers);
        assert.equal(saw.path, `${tested.forwarded.path}${tested.forwarded.query ? `?${tested.forwarded.query}` : ''}`);
      }
    });
  }
});
