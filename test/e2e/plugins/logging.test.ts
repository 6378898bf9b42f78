import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  Gateway,
  GatewayServer,
  builtinPlugins,
  createLogger,
  resolveConfig,
  silentLogger,
  startGateway as startGatewayFromFile,
  type RunningGateway,
} from '../../../runtime/src/index.ts';
import { errorResponse } from '../../../runtime/src/gateway.ts';
import { emitRequestEvent } from '../../../runtime/src/chain/instruments.ts';
import { definePluginRegistry, type BuiltinPlugin, type BuiltinPluginRegistry } from '../../../runtime/src/plugins/builtin-plugin.ts';
import type { GatewayConfig } from '../../../sdk/src/config.ts';
import { httpRequest } from '../../helpers/http-client.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { deferred, delay, within } from '../../helpers/wait.ts';

type Line = Record<string, unknown>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * Stands in for auth, ratelimit and a failing user plugin: reports the same events they do, chosen
 * by the `x-act` request header, and answers like they would.
 */
const actor: BuiltinPlugin<Record<string, never>> = {
  name: 'test-actor',
  options: z.strictObject({}),
  create: () => (next) =>
    async function act(req) {
      switch (req.headers['x-act']) {
        case 'auth':
          emitRequestEvent(req, { type: 'auth-failed', plugin: 'jwt', reason: 'expired' });
          return errorResponse('UNAUTHORIZED', { 'www-authenticate': 'Bearer error="invalid_token"' });
        case 'rate':
          emitRequestEvent(req, { type: 'ratelimit-rejected', plugin: 'per-client' });
          return errorResponse('RATE_LIMITED', { 'retry-after': '1' });
        case 'plugin':
          emitRequestEvent(req, { type: 'plugin-error', plugin: 'enrich', hook: 'onRequest', kind: 'throw' });
          return next(req);
        case 'crash':
          throw new Error('a bug in a built-in: secret internal detail');
        default:
          return next(req);
      }
    },
};
const registry: BuiltinPluginRegistry = definePluginRegistry([...builtinPlugins.values(), actor as BuiltinPlugin<never>]);

interface Running {
  gateway: Gateway;
  server: GatewayServer;
  url: string;
  port: number;
  close(): Promise<void>;
}

async function start(config: GatewayConfig, gatewayLog?: Writable): Promise<Running> {
  const resolved = resolveConfig({ ...config, server: { ...config.server, port: 0 } }, registry);
  const logger = gatewayLog ? createLogger({ destination: gatewayLog }) : undefined;
  const gateway = new Gateway(resolved, { plugins: registry, logger });
  const server = new GatewayServer(gateway);
  const { port } = await server.listen(0, '127.0.0.1');
  let closing: Promise<unknown> | null = null;
  return {
    gateway,
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      closing ??= server.shutdown(1_000);
      await closing;
    },
  };
}

async function readLines(file: string): Promise<Line[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** The file's lines once `count` of them match (lines reach the file within about a second). */
async function waitForLines(file: string, count: number, match: (l: Line) => boolean = () => true): Promise<Line[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const lines = (await readLines(file)).filter(match);
    if (lines.length >= count || Date.now() > deadline) {
      assert.equal(lines.length, count, `expected ${count} matching lines in ${file}`);
      return lines;
    }
    await delay(50);
  }
}

const byId = (id: unknown) => (l: Line) => l['requestId'] === id;

describe('logging built-in, end to end', () => {
  let dir: string;
  let upstream: Upstream;
  let file: string;
  let gw: Running;

  const config = (logFile: string, extra: Partial<GatewayConfig> = {}): GatewayConfig => ({
    plugins: {
      access: {
        use: 'logging',
        options: { file: logFile, headers: ['authorization', 'cookie', 'x-tenant'], responseHeaders: ['set-cookie'], redactQuery: ['session'] },
      },
      act: { use: 'test-actor' } as never,
    },
    middleware: ['access', 'act'],
    routes: [
      { name: 'user', path: '/users/:id', upstream: upstream.url },
      { name: 'stream', path: '/stream', upstream: upstream.url, timeout: { headers: '10s', idle: '10s' } },
    ],
    ...extra,
  });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'isogate-logging-e2e-'));
    upstream = await startUpstream();
    file = path.join(dir, 'access.log');
    gw = await start(config(file));
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs the route template, status, durations and the bytes the client received', async () => {
    const res = await httpRequest(`${gw.url}/users/42?page=2&session=s3cr3t`, { headers: { 'user-agent': 'e2e/1.0' } });
    assert.equal(res.status, 200);
    const id = res.headers['x-request-id'];
    assert.match(String(id), UUID);
    const [line] = await waitForLines(file, 1, byId(id));
    assert.equal(line!['method'], 'GET');
    assert.equal(line!['route'], '/users/:id');
    assert.equal(line!['routeName'], 'user');
    assert.equal(line!['path'], '/users/42');
    assert.equal(line!['query'], 'page=2&session=[REDACTED]');
    assert.equal(line!['status'], 200);
    assert.equal(typeof line!['durationMs'], 'number');
    assert.equal(typeof line!['upstreamMs'], 'number');
    assert.ok((line!['upstreamMs'] as number) <= (line!['durationMs'] as number));
    assert.equal(line!['upstream'], upstream.url);
    assert.equal(line!['bytes'], res.body.byteLength);
    assert.equal(line!['clientIp'], '127.0.0.1');
    assert.equal(line!['userAgent'], 'e2e/1.0');
    assert.equal(line!['aborted'], false);
  });

  it('forwards a generated id upstream, returns it, and refuses an untrusted client id', async () => {
    const res = await httpRequest(`${gw.url}/users/7`, { headers: { 'x-request-id': 'client-chosen-id' } });
    const id = res.headers['x-request-id'];
    assert.match(String(id), UUID);
    assert.equal(upstream.requests.at(-1)!.headers['x-request-id'], id);
    await waitForLines(file, 1, byId(id));
  });

  it('with forward: false, passes on neither its id nor an untrusted client id', async () => {
    const quietFile = path.join(dir, 'no-forward.log');
    const noForward = await start({
      plugins: { access: { use: 'logging', options: { file: quietFile, requestId: { forward: false } } } },
      middleware: ['access'],
      routes: [{ path: '/users/:id', upstream: upstream.url }],
    });
    try {
      const res = await httpRequest(`${noForward.url}/users/7`, { headers: { 'x-request-id': 'client-chosen-id' } });
      assert.equal(res.status, 200);
      assert.match(String(res.headers['x-request-id']), UUID);
      assert.equal(upstream.requests.at(-1)!.headers['x-request-id'], undefined);
      await waitForLines(quietFile, 1, byId(res.headers['x-request-id']));
    } finally {
      await noForward.close();
    }
  });

  it('accepts the id from a trusted proxy and passes it on unchanged', async () => {
    const trustedFile = path.join(dir, 'trusted.log');
    const trusted = await start(config(trustedFile, { server: { trustedProxies: ['127.0.0.1'] } }));
    try {
      const res = await httpRequest(`${trusted.url}/users/7`, { headers: { 'x-request-id': 'lb-0f3a9c21', 'x-forwarded-for': '198.51.100.4' } });
      assert.equal(res.headers['x-request-id'], 'lb-0f3a9c21');
      assert.equal(upstream.requests.at(-1)!.headers['x-request-id'], 'lb-0f3a9c21');
      const [line] = await waitForLines(trustedFile, 1, byId('lb-0f3a9c21'));
      assert.equal(line!['clientIp'], '198.51.100.4');
    } finally {
      await trusted.close();
    }
  });

  it('returns the id on the gateway’s own error responses too', async () => {
    const down = await start({
      plugins: { access: { use: 'logging', options: { file } } },
      middleware: ['access'],
      routes: [{ path: '/down', upstream: 'http://127.0.0.1:1' }],
    });
    try {
      const res = await httpRequest(`${down.url}/down`);
      assert.equal(res.status, 502);
      const id = res.headers['x-request-id'];
      assert.match(String(id), UUID);
      const [line] = await waitForLines(file, 1, byId(id));
      assert.equal(line!['status'], 502);
      assert.equal(line!['upstreamError'], 'ECONNREFUSED');
      assert.equal(line!['bytes'], res.body.byteLength);
    } finally {
      await down.close();
    }
  });

  it('returns the id on the 500 an unexpected error becomes, and logs the error on the gateway log', async () => {
    const gatewayLines: Line[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const t of chunk.toString('utf8').split('\n')) if (t !== '') gatewayLines.push(JSON.parse(t) as Line);
        done();
      },
    });
    const crashFile = path.join(dir, 'crash.log');
    const crashing = await start(config(crashFile), sink);
    try {
      const res = await httpRequest(`${crashing.url}/users/7`, { headers: { 'x-act': 'crash' } });
      assert.equal(res.status, 500);
      assert.equal(JSON.parse(res.body.toString('utf8')).error.code, 'ISOGATE_ERR_INTERNAL');
      assert.doesNotMatch(res.body.toString('utf8'), /secret internal detail/);
      const id = res.headers['x-request-id'];
      assert.match(String(id), UUID);
      const [line] = await waitForLines(crashFile, 1, byId(id));
      assert.equal(line!['status'], 500);
      const error = gatewayLines.find((l) => l['msg'] === 'unhandled error in the request chain');
      assert.ok(error, 'the error is on the gateway log');
      assert.equal(error['requestId'], id);
      assert.match((error['err'] as { stack: string }).stack, /secret internal detail\n\s+at /);
    } finally {
      await crashing.close();
    }
  });

  it('logs requests answered before routing (404, 405, a refused upgrade) with route null, redacted like the rest', async () => {
    const unroutedFile = path.join(dir, 'unrouted.log');
    const gateway = await start({
      ...config(unroutedFile),
      server: { trustedProxies: ['127.0.0.1'] },
      routes: [
        { name: 'ro', path: '/read-only', methods: ['GET'], upstream: upstream.url },
        { name: 'chat', path: '/chat', upstream: upstream.url, websocket: true },
      ],
    });
    try {
      const missing = await httpRequest(`${gateway.url}/.env?token=s3cr3t&x=1`, {
        headers: { 'x-forwarded-for': '198.51.100.9', 'user-agent': 'scanner/2', authorization: 'Bearer abc.def', 'x-tenant': 't9' },
      });
      assert.equal(missing.status, 404);
      assert.match(String(missing.headers['x-request-id']), UUID, 'a 404 echoes the request id like any answer');
      const wrong = await httpRequest(`${gateway.url}/read-only`, { method: 'DELETE', headers: { 'x-request-id': 'lb-5e1d0c77' } });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers['x-request-id'], 'lb-5e1d0c77');
      // A WebSocket route takes the upgrade path; a handshake without Sec-WebSocket-Key is refused there.
      const refused = await httpRequest(`${gateway.url}/chat`, { headers: { connection: 'Upgrade', upgrade: 'websocket' } }).catch(() => null);
      assert.ok(refused === null || refused.status === 400);
      const lines = await waitForLines(unroutedFile, 3);
      const [notFound, notAllowed, upgrade] = [404, 405, 'upgrade'].map((k) => lines.find((l) => (k === 'upgrade' ? l['upgrade'] === true : l['status'] === k && l['upgrade'] === undefined))!);
      assert.equal(notFound!['route'], null);
      assert.equal(notFound!['method'], 'GET');
      assert.equal(notFound!['path'], '/.env');
      assert.equal(notFound!['query'], 'token=[REDACTED]&x=1');
      assert.equal(notFound!['bytes'], missing.body.byteLength);
      assert.equal(notFound!['aborted'], false);
      assert.equal(notFound!['clientIp'], '198.51.100.9', 'resolved through the trusted proxy, as for routed requests');
      assert.equal(notFound!['userAgent'], 'scanner/2');
      assert.deepEqual(notFound!['headers'], { authorization: '[REDACTED]', 'x-tenant': 't9' });
      assert.equal(notFound!['requestId'], missing.headers['x-request-id'], 'the line and the answer carry the same id');
      assert.equal(notAllowed!['method'], 'DELETE');
      assert.equal(notAllowed!['path'], '/read-only');
      assert.equal(notAllowed!['route'], null);
      assert.equal(notAllowed!['requestId'], 'lb-5e1d0c77', 'an id from a trusted proxy is kept');
      assert.equal(upgrade!['status'], 400);
      assert.equal(upgrade!['path'], '/chat');
      assert.ok(!JSON.stringify(lines).includes('s3cr3t') && !JSON.stringify(lines).includes('abc.def'));
    } finally {
      await gateway.close();
    }
  });

  it('never writes credentials to the file', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'set-cookie': 'sid=upstream-set-cookie-secret; HttpOnly', 'content-type': 'text/plain' });
      res.end('ok');
    };
    try {
      const query = 'access_token=query-token-secret&key=AIza-google-secret&sig=azure-sas-secret&code=oauth-code-secret&session_id=session-secret';
      const res = await httpRequest(`${gw.url}/users/1?${query}`, {
        headers: { authorization: 'Bearer header-token-secret', cookie: 'sid=cookie-secret', 'x-tenant': 'acme' },
      });
      const [line] = await waitForLines(file, 1, byId(res.headers['x-request-id']));
      assert.deepEqual(line!['headers'], { authorization: '[REDACTED]', cookie: '[REDACTED]', 'x-tenant': 'acme' });
      assert.deepEqual(line!['responseHeaders'], { 'set-cookie': '[REDACTED]' });
      assert.equal(line!['query'], 'access_token=[REDACTED]&key=[REDACTED]&sig=[REDACTED]&code=[REDACTED]&session_id=[REDACTED]');
      assert.doesNotMatch(await readFile(file, 'utf8'), /secret/);
    } finally {
      upstream.handler = (await import('../../helpers/upstream.ts')).echoHandler;
    }
  });

  it('logs a client that leaves mid-body as aborted, with the bytes that went out', async () => {
    const upstreamClosed = deferred();
    upstream.handler = (_req, res) => {
      res.once('close', () => upstreamClosed.resolve());
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first-chunk;');
    };
    try {
      const idSeen = deferred<string>();
      const req = http.get(`${gw.url}/stream`, { agent: false }, (res) => {
        res.on('error', () => {});
        res.once('data', () => {
          idSeen.resolve(String(res.headers['x-request-id']));
          req.destroy();
        });
      });
      req.on('error', () => {});
      const id = await within(idSeen.promise, 5_000, 'the first chunk');
      await within(upstreamClosed.promise, 5_000, 'the upstream response to be abandoned');
      const [line] = await waitForLines(file, 1, byId(id));
      assert.equal(line!['route'], '/stream');
      assert.equal(line!['status'], 200);
      assert.equal(line!['aborted'], true);
      assert.equal(line!['bytes'], 'first-chunk;'.length);
    } finally {
      upstream.handler = (await import('../../helpers/upstream.ts')).echoHandler;
    }
  });

  it('records auth failures, rate-limit rejections and plugin errors seen on the request', async () => {
    const expected: [string, number, unknown][] = [
      ['auth', 401, { type: 'auth-failed', plugin: 'jwt', reason: 'expired' }],
      ['rate', 429, { type: 'ratelimit-rejected', plugin: 'per-client' }],
      ['plugin', 200, { type: 'plugin-error', plugin: 'enrich', hook: 'onRequest', kind: 'throw' }],
    ];
    for (const [act, status, event] of expected) {
      const res = await httpRequest(`${gw.url}/users/9`, { headers: { 'x-act': act } });
      assert.equal(res.status, status);
      const [line] = await waitForLines(file, 1, byId(res.headers['x-request-id']));
      assert.equal(line!['status'], status);
      assert.deepEqual(line!['events'], [event]);
    }
  });

  it('neither loses nor duplicates lines across reloads, including requests in flight during one', async () => {
    const reloadFile = path.join(dir, 'reload.log');
    const movedFile = path.join(dir, 'moved.log');
    const g = await start(config(reloadFile));
    const ids: string[] = [];
    const get = async (p: string) => {
      const res = await httpRequest(`${g.url}${p}`);
      assert.equal(res.status, 200);
      ids.push(String(res.headers['x-request-id']));
    };
    try {
      // A slow response that spans two reloads.
      const release = deferred();
      upstream.handler = async (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('slow;');
        await release.promise;
        res.end('done');
      };
      const slow = get('/stream');
      await delay(100);
      upstream.handler = (await import('../../helpers/upstream.ts')).echoHandler;
      for (let round = 0; round < 3; round++) {
        await Promise.all(Array.from({ length: 10 }, (_, i) => get(`/users/${round}-${i}`)));
        g.gateway.reload(resolveConfig({ ...config(reloadFile), server: { port: 0 } }, registry));
      }
      g.gateway.reload(resolveConfig({ ...config(movedFile), server: { port: 0 } }, registry));
      await Promise.all(Array.from({ length: 10 }, (_, i) => get(`/users/moved-${i}`)));
      release.resolve();
      await slow;
    } finally {
      await g.close();
    }
    const lines = [...(await readLines(reloadFile)), ...(await readLines(movedFile))];
    const logged = lines.map((l) => l['requestId'] as string);
    assert.equal(new Set(logged).size, logged.length, 'no line twice');
    assert.deepEqual([...logged].sort(), [...ids].sort(), 'every request exactly once');
    assert.equal((await readLines(movedFile)).length, 10);
    const slowLine = lines.find((l) => l['path'] === '/stream')!;
    assert.equal(slowLine['aborted'], false);
    assert.equal(slowLine['bytes'], 'slow;done'.length);
  });

  it('writes to the gateway’s own log by default', async () => {
    const gatewayLines: Line[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const t of chunk.toString('utf8').split('\n')) if (t !== '') gatewayLines.push(JSON.parse(t) as Line);
        done();
      },
    });
    const g = await start(
      { plugins: { access: { use: 'logging' } }, middleware: ['access'], routes: [{ path: '/users/:id', upstream: upstream.url }] },
      sink,
    );
    try {
      const res = await httpRequest(`${g.url}/users/3`);
      const deadline = Date.now() + 2_000;
      while (!gatewayLines.some(byId(res.headers['x-request-id'])) && Date.now() < deadline) await delay(20);
      const line = gatewayLines.find(byId(res.headers['x-request-id']));
      assert.ok(line, 'the access line is in the gateway log');
      assert.equal(line['plugin'], 'access');
      assert.equal(line['name'], 'isogate');
      assert.equal(line['route'], '/users/:id');
      assert.match(line['msg'] as string, /^GET \/users\/3 200 [\d.]+ms$/);
    } finally {
      await g.close();
    }
  });
});

describe('logging built-in with a failing user plugin, end to end', () => {
  // The plugin-error event here comes from the core's plugin runtime, not from a stand-in.
  const hostile = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/hostile.ts');
  let dir: string;
  let upstream: Upstream;
  let running: RunningGateway;
  let file: string;

  before(async () => {
    upstream = await startUpstream();
    dir = await mkdtemp(path.join(import.meta.dirname, '.tmp-logging-'));
    file = path.join(dir, 'access.log');
    await writeFile(
      path.join(dir, 'gateway.config.ts'),
      `export default {
  plugins: {
    access: { use: 'logging', options: { file: ${JSON.stringify(file)} } },
    closed: { use: ${JSON.stringify(hostile)} },
    open: { use: ${JSON.stringify(hostile)}, failurePolicy: 'fail-open' },
  },
  middleware: ['access'],
  routes: [
    { path: '/closed/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['closed'] },
    { path: '/open/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['open'] },
  ],
};
`,
    );
    running = await startGatewayFromFile({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, logger: silentLogger() });
  });

  after(async () => {
    await running?.stop();
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const [route, status] of [
    ['closed', 500],
    ['open', 200],
  ] as const) {
    it(`logs the plugin error of a fail-${route} plugin with the status it led to (${status})`, async () => {
      const res = await httpRequest(`${running.url}/${route}/x`, { headers: { 'x-mode': 'throw' } });
      assert.equal(res.status, status);
      const id = res.headers['x-request-id'];
      assert.match(String(id), UUID);
      const [line] = await waitForLines(file, 1, byId(id));
      assert.equal(line!['status'], status);
      assert.equal(line!['route'], `/${route}/*`);
      assert.deepEqual(line!['events'], [{ type: 'plugin-error', plugin: route, hook: 'onRequest', kind: 'throw' }]);
      assert.doesNotMatch(await readFile(file, 'utf8'), /secret plugin detail/);
    });
  }
});
