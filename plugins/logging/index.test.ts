import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emitRequestEvent } from '../../runtime/src/chain/instruments.ts';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import type { GatewayRequest, GatewayResponse, Handler, Middleware } from '../../runtime/src/chain/types.ts';
import { GatewayError } from '../../runtime/src/errors.ts';
import { REQUEST_ID } from './index.ts';
import type { EndpointRequest, UnroutedRequest } from '../../runtime/src/plugins/builtin-plugin.ts';
import { captureLogger, createInstance, fakeUpstream, runRequest, testContext, type Line } from './test-support.ts';
import { TrustedProxies } from '../../runtime/src/proxy/trusted-proxies.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ok = (): GatewayResponse => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'hello world' });

function setup(options: unknown = {}, level = 'info') {
  const { logger, lines } = captureLogger(level);
  const instance = createInstance(options, testContext(logger));
  return { instance, lines, middleware: instance.middleware };
}

function userRequest(overrides: Partial<GatewayRequest> = {}): GatewayRequest {
  return testRequest({
    method: 'GET',
    path: '/users/42',
    route: { name: 'users', path: '/users/:id' } as GatewayRequest['route'],
    params: { id: '42' },
    headers: { host: 'gw.test', 'user-agent': 'curl/8.5' },
    clientIp: '203.0.113.9',
    ...overrides,
  });
}

describe('logging: the access line', () => {
  it('writes one line per request, when the response has been sent, with the route template', async () => {
    const { middleware, lines } = setup();
    const upstream = fakeUpstream(ok);
    const req = userRequest({ query: 'page=2' });
    const res = await runRequest([middleware], upstream, req);
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line['plugin'], undefined, 'the test logger has no bindings: the fields below come from the plugin');
    assert.equal(line['level'], 30);
    assert.equal(line['method'], 'GET');
    assert.equal(line['route'], '/users/:id');
    assert.equal(line['routeName'], 'users');
    assert.equal(line['path'], '/users/42');
    assert.equal(line['query'], 'page=2');
    assert.equal(line['status'], 200);
    assert.equal(typeof line['durationMs'], 'number');
    assert.ok((line['durationMs'] as number) >= (line['upstreamMs'] as number));
    assert.equal(typeof line['upstreamMs'], 'number');
    assert.ok((line['upstreamMs'] as number) >= 1, 'the fake upstream takes at least 2 ms');
    assert.equal(line['upstreamAttempts'], 1);
    assert.equal(line['upstream'], 'http://10.0.0.5:3000');
    assert.equal(line['bytes'], Buffer.byteLength('hello world'));
    assert.equal(line['clientIp'], '203.0.113.9');
    assert.equal(line['userAgent'], 'curl/8.5');
    assert.equal(line['aborted'], false);
    assert.equal(line['events'], undefined);
    assert.match(line['requestId'] as string, UUID);
    assert.equal(res.headers['x-request-id'], line['requestId']);
    assert.equal(upstream.seen[0]!.headers['x-request-id'], line['requestId']);
    assert.equal(upstream.seen[0]!.state[REQUEST_ID], line['requestId']);
    assert.match(line['msg'] as string, /^GET \/users\/42 200 [\d.]+ms$/);
  });

  it('writes nothing until the transport reports the response sent', async () => {
    const { middleware, lines } = setup();
    const { compose } = await import('../../runtime/src/chain/compose.ts');
    const chain = compose([{ name: 'log', middleware }], fakeUpstream(ok));
    const req = userRequest();
    await chain(req);
    assert.equal(lines.length, 0);
    req.instruments![0]!.sent!(req, 200, { bytes: 11, aborted: false });
    req.instruments![0]!.sent!(req, 200, { bytes: 11, aborted: false });
    assert.equal(lines.length, 1, 'written once, whatever the transport does');
  });

  it('logs an abandoned response as aborted with the bytes that went out', async () => {
    const { middleware, lines } = setup();
    await runRequest([middleware], fakeUpstream(ok), userRequest(), { bytes: 3, aborted: true });
    assert.equal(lines[0]!['aborted'], true);
    assert.equal(lines[0]!['bytes'], 3);
    assert.match(lines[0]!['msg'] as string, / aborted$/);
  });

  it('omits the upstream fields when no upstream was called', async () => {
    const { middleware, lines } = setup();
    const deny: Middleware = () => async () => ({ status: 403, headers: {}, body: null });
    await runRequest([middleware, deny], fakeUpstream(ok), userRequest());
    assert.equal(lines[0]!['status'], 403);
    assert.equal('upstreamMs' in lines[0]!, false);
    assert.equal('upstreamAttempts' in lines[0]!, false);
    assert.equal(lines[0]!['bytes'], 0);
  });

  it('sums the upstream time over attempts and reports the last error code', async () => {
    const { middleware, lines } = setup();
    const { startUpstream } = await import('../../runtime/src/chain/instruments.ts');
    const twice = async (req: GatewayRequest): Promise<GatewayResponse> => {
      const first = startUpstream(req, { origin: 'http://a:1', method: 'GET', path: '/', headers: {} });
      first?.({ error: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) });
      const second = startUpstream(req, { origin: 'http://b:1', method: 'GET', path: '/', headers: {} });
      second?.({ error: Object.assign(new Error('connect ECONNREFUSED 10.1.1.1:1'), { code: 'ECONNREFUSED' }) });
      throw new GatewayError('UPSTREAM_UNAVAILABLE');
    };
    const req = userRequest();
    let thrown: unknown;
    try {
      await runRequest([middleware], twice, req);
    } catch (err) {
      thrown = err;
    }
    // The gateway turns the error into its catalogue response; the id rides along in the error's headers.
    assert.ok(thrown instanceof GatewayError);
    assert.equal(thrown.key, 'UPSTREAM_UNAVAILABLE');
    assert.equal(thrown.headers['x-request-id'], req.state[REQUEST_ID]);
    const { sentNotifier } = await import('../../runtime/src/chain/instruments.ts');
    sentNotifier(req)!(502, { bytes: 80, aborted: false });
    const line = lines[0]!;
    assert.equal(line['status'], 502);
    assert.equal(line['upstreamAttempts'], 2);
    assert.equal(line['upstream'], 'http://b:1');
    assert.equal(line['upstreamError'], 'ECONNREFUSED');
    assert.equal(JSON.stringify(line).includes('10.1.1.1'), false, 'error messages are not logged');
  });

  it('lists the events reported on the request: plugin errors, auth failures, rate-limit rejections', async () => {
    const { middleware, lines } = setup();
    const reporter: Middleware = (next) => async (req) => {
      emitRequestEvent(req, { type: 'plugin-error', plugin: 'enrich', hook: 'onRequest', kind: 'timeout' });
      emitRequestEvent(req, { type: 'auth-failed', plugin: 'jwt', reason: 'expired' });
      emitRequestEvent(req, { type: 'ratelimit-rejected', plugin: 'per-client' });
      return next(req);
    };
    await runRequest([middleware, reporter], fakeUpstream(ok), userRequest());
    assert.deepEqual(lines[0]!['events'], [
      { type: 'plugin-error', plugin: 'enrich', hook: 'onRequest', kind: 'timeout' },
      { type: 'auth-failed', plugin: 'jwt', reason: 'expired' },
      { type: 'ratelimit-rejected', plugin: 'per-client' },
    ]);
  });

  it('logs at the configured level and does nothing but the request id when the destination drops that level', async () => {
    const warn = setup({ level: 'warn' });
    await runRequest([warn.middleware], fakeUpstream(ok), userRequest());
    assert.equal(warn.lines[0]!['level'], 40);

    const quiet = setup({ level: 'debug' }, 'info');
    const upstream = fakeUpstream(ok);
    const res = await runRequest([quiet.middleware], upstream, userRequest());
    assert.equal(quiet.lines.length, 0);
    assert.equal(upstream.seen[0]!.instruments, null, 'no instrument attached');
    assert.match(res.headers['x-request-id'] as string, UUID);
    assert.equal(upstream.seen[0]!.headers['x-request-id'], res.headers['x-request-id']);
  });

  it('samples uneventful successes only: errors, aborts and requests with events are always logged', async () => {
    const { middleware, lines } = setup({ sample: 0 });
    await runRequest([middleware], fakeUpstream(ok), userRequest());
    assert.equal(lines.length, 0);
    await runRequest([middleware], fakeUpstream(() => ({ status: 503, headers: {}, body: null })), userRequest());
    await runRequest([middleware], fakeUpstream(ok), userRequest(), { aborted: true });
    const limited: Middleware = (next) => async (req) => {
      emitRequestEvent(req, { type: 'ratelimit-rejected', plugin: 'rl' });
      return next(req);
    };
    await runRequest([middleware, limited], fakeUpstream(ok), userRequest());
    assert.deepEqual(
      lines.map((l) => [l['status'], l['aborted'], Array.isArray(l['events'])]),
      [
        [503, false, false],
        [200, true, false],
        [200, false, true],
      ],
    );
  });

  it('logs an upgrade when the chain answers (the core reports no sent for spliced sockets)', async () => {
    const { instance, middleware, lines } = setup();
    const switched = fakeUpstream(() => ({ status: 101, headers: { upgrade: 'websocket' }, body: null }));
    const { compose } = await import('../../runtime/src/chain/compose.ts');
    const res = await compose([{ name: 'log', middleware }], switched)(userRequest({ upgrade: true }));
    assert.equal(res.status, 101);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!['status'], 101);
    assert.equal(lines[0]!['upgrade'], true);
    assert.equal(res.headers['x-request-id'], lines[0]!['requestId']);
    await instance.dispose?.();
  });

  it('logs the request as the client sent it, even when later middleware rewrites it', async () => {
    const { middleware, lines } = setup();
    const rewrite: Middleware = (next) => async (req) => next({ ...req, path: '/internal/42', query: '' });
    await runRequest([middleware, rewrite], fakeUpstream(ok), userRequest({ query: 'a=1' }));
    assert.equal(lines[0]!['path'], '/users/42');
    assert.equal(lines[0]!['query'], 'a=1');
  });
});

describe('logging: redaction', () => {
  const secretHeaders = {
    host: 'gw.test',
    authorization: 'Bearer eyJhbGciOi.secret-token',
    'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
    cookie: 'session=secret-cookie',
    'x-api-key': 'secret-api-key',
    'x-tenant': 'acme',
    'x-internal': 'secret-internal',
    'user-agent': 'curl/8.5',
  };

  it('always redacts credentials in logged headers, and the configured headers and fields too', async () => {
    const { middleware, lines } = setup({
      headers: ['Authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-tenant', 'x-internal', 'x-absent'],
      responseHeaders: ['set-cookie', 'content-type'],
      redact: ['x-internal', 'clientIp', 'userAgent'],
    });
    const withCookie = fakeUpstream(() => ({ status: 200, headers: { 'content-type': 'text/plain', 'set-cookie': ['sid=secret-set-cookie; HttpOnly'] }, body: 'ok' }));
    await runRequest([middleware], withCookie, userRequest({ headers: { ...secretHeaders } }));
    const line = lines[0]!;
    assert.deepEqual(line['headers'], {
      authorization: '[REDACTED]',
      'proxy-authorization': '[REDACTED]',
      cookie: '[REDACTED]',
      'x-api-key': '[REDACTED]',
      'x-tenant': 'acme',
      'x-internal': '[REDACTED]',
    });
    assert.deepEqual(line['responseHeaders'], { 'content-type': 'text/plain', 'set-cookie': '[REDACTED]' });
    assert.equal(line['clientIp'], '[REDACTED]');
    assert.equal('userAgent' in line, false, 'a redacted optional field is left out');
    assert.doesNotMatch(JSON.stringify(line), /secret/);
  });

  it('cuts a long user agent and long header values in the line, routed or not', async () => {
    const { instance, lines } = setup({ headers: ['referer'], responseHeaders: ['x-debug'] });
    const long = { 'user-agent': 'u'.repeat(16_000), referer: 'r'.repeat(8_000) };
    const big = (): GatewayResponse => ({ status: 200, headers: { 'x-debug': 'd'.repeat(4_000) }, body: '' });
    await runRequest([instance.middleware], fakeUpstream(big), userRequest({ headers: long }));
    instance.unrouted!({ method: 'GET', path: '/x', query: '', headers: long, remoteAddress: '203.0.113.1', clientIp: '203.0.113.1', fromTrustedProxy: false, protocol: 'http', upgrade: false }, 404)!({ bytes: 0, aborted: false });
    for (const line of lines) {
      assert.equal(line['userAgent'], 'u'.repeat(512) + '…[truncated]');
      assert.deepEqual(line['headers'], { referer: 'r'.repeat(1024) + '…[truncated]' });
    }
    assert.deepEqual(lines[0]!['responseHeaders'], { 'x-debug': 'd'.repeat(1024) + '…[truncated]' });
    assert.equal(lines.length, 2);
    assert.ok(JSON.stringify(lines[0]).length < 4_000);
  });

  it('logs no headers by default, whatever the request carries', async () => {
    const { middleware, lines } = setup();
    await runRequest([middleware], fakeUpstream(ok), userRequest({ headers: { ...secretHeaders } }));
    assert.equal('headers' in lines[0]!, false);
    assert.equal('responseHeaders' in lines[0]!, false);
    assert.doesNotMatch(JSON.stringify(lines[0]), /secret/);
  });

  it('redacts credential query parameters by default and the configured ones, or leaves the query out', async () => {
    const { middleware, lines } = setup({ redactQuery: ['Session'] });
    await runRequest([middleware], fakeUpstream(ok), userRequest({ query: 'page=2&access_token=abc&%74oken=def&session=ghi&X-Amz-Signature=jkl' }));
    assert.equal(lines[0]!['query'], 'page=2&access_token=[REDACTED]&%74oken=[REDACTED]&session=[REDACTED]&X-Amz-Signature=[REDACTED]');

    const none = setup({ query: false });
    await runRequest([none.middleware], fakeUpstream(ok), userRequest({ query: 'page=2' }));
    assert.equal('query' in none.lines[0]!, false);
  });

  it('redacts the path on request, keeping the route template in the message', async () => {
    const { middleware, lines } = setup({ redact: ['path'] });
    await runRequest([middleware], fakeUpstream(ok), userRequest());
    assert.equal(lines[0]!['path'], '[REDACTED]');
    assert.match(lines[0]!['msg'] as string, /^GET \/users\/:id 200 /);
  });
});

describe('logging: request ids', () => {
  const idOf = async (options: unknown, overrides: Partial<GatewayRequest>): Promise<{ line: Line; forwarded: unknown; returned: unknown }> => {
    const { middleware, lines } = setup(options);
    const upstream = fakeUpstream(ok);
    const res = await runRequest([middleware], upstream, userRequest(overrides));
    return { line: lines[0]!, forwarded: upstream.seen[0]!.headers['x-request-id'], returned: res.headers['x-request-id'] };
  };

  it('accepts an incoming id from a trusted proxy by default, and forwards and returns it', async () => {
    const { line, forwarded, returned } = await idOf({}, { fromTrustedProxy: true, headers: { 'x-request-id': 'lb-7f3a9c' } });
    assert.equal(line['requestId'], 'lb-7f3a9c');
    assert.equal(forwarded, 'lb-7f3a9c');
    assert.equal(returned, 'lb-7f3a9c');
  });

  it('replaces an id sent by an untrusted client with a new one, upstream too', async () => {
    const { line, forwarded } = await idOf({}, { fromTrustedProxy: false, headers: { 'x-request-id': 'client-chosen' } });
    assert.match(line['requestId'] as string, UUID);
    assert.equal(forwarded, line['requestId']);
  });

  it('follows trustIncoming and a custom header name', async () => {
    const always = await idOf({ requestId: { trustIncoming: 'always', header: 'X-Correlation-Id' } }, { headers: { 'x-correlation-id': 'abc-123' } });
    assert.equal(always.line['requestId'], 'abc-123');
    const never = await idOf({ requestId: { trustIncoming: 'never' } }, { fromTrustedProxy: true, headers: { 'x-request-id': 'abc-123' } });
    assert.match(never.line['requestId'] as string, UUID);
  });

  it('gives a request one id however many logging instances it passes', async () => {
    const outer = setup();
    const inner = setup({ level: 'warn' });
    const upstream = fakeUpstream(ok);
    const res = await runRequest([outer.middleware, inner.middleware], upstream, userRequest());
    assert.equal(outer.lines[0]!['requestId'], inner.lines[0]!['requestId']);
    assert.equal(res.headers['x-request-id'], outer.lines[0]!['requestId']);
    assert.equal(upstream.seen[0]!.headers['x-request-id'], outer.lines[0]!['requestId']);
  });

  it('does not forward or return the id when told not to, and then passes on no id the gateway did not keep', async () => {
    const { line, forwarded, returned } = await idOf({ requestId: { forward: false, respond: false } }, { headers: { 'x-request-id': 'client-chosen' } });
    assert.match(line['requestId'] as string, UUID);
    assert.equal(forwarded, undefined, 'an untrusted client id never reaches the upstream');
    assert.equal(returned, undefined);

    const malformed = await idOf({ requestId: { forward: false, trustIncoming: 'always' } }, { headers: { 'x-request-id': 'bad id, "quoted"' } });
    assert.equal(malformed.forwarded, undefined, 'nor a malformed one from a trusted peer');
    const repeated = await idOf({ requestId: { forward: false, trustIncoming: 'always' } }, { headers: { 'x-request-id': ['a-1234567', 'b-1234567'] } });
    assert.equal(repeated.forwarded, undefined);

    const kept = await idOf({ requestId: { forward: false } }, { fromTrustedProxy: true, headers: { 'x-request-id': 'lb-7f3a9c' } });
    assert.equal(kept.line['requestId'], 'lb-7f3a9c');
    assert.equal(kept.forwarded, 'lb-7f3a9c', 'an id the gateway kept passes as it came');
    assert.equal(kept.returned, 'lb-7f3a9c');

    const none = await idOf({ requestId: { forward: false } }, {});
    assert.equal(none.forwarded, undefined, 'nor is a generated id added');
  });
});

describe('logging: unexpected errors', () => {
  // Thrown synchronously, as a bug in a middleware would: the plugin must catch that too.
  const crash: Handler = () => {
    throw new TypeError('cannot read properties of undefined (a bug)');
  };

  it('answers an unexpected error with the gateway’s 500, carrying the request id, and logs the error with its stack', async () => {
    const { middleware, lines } = setup();
    const res = await runRequest([middleware], crash, userRequest());
    assert.equal(res.status, 500);
    assert.deepEqual(JSON.parse(res.body as string), { error: { code: 'ISOGATE_ERR_INTERNAL', message: 'internal gateway error' } });
    const id = res.headers['x-request-id'];
    assert.match(String(id), UUID);
    const error = lines.find((l) => l['msg'] === 'unhandled error in the request chain')!;
    assert.equal(error['level'], 50);
    assert.equal(error['requestId'], id);
    assert.match((error['err'] as { stack: string }).stack, /TypeError: cannot read properties of undefined \(a bug\)\n\s+at crash/);
    const access = lines.find((l) => l['status'] !== undefined)!;
    assert.equal(access['status'], 500);
    assert.equal(access['requestId'], id);
    assert.doesNotMatch(res.body as string, /a bug/);
  });

  it('does the same for an upgrade, and under the request-id-only middleware', async () => {
    const upgrade = setup();
    const res = await runRequest([upgrade.middleware], crash, userRequest({ upgrade: true }));
    assert.equal(res.status, 500);
    assert.equal(res.headers['x-request-id'], upgrade.lines.find((l) => l['status'] === 500)!['requestId']);

    const quiet = setup({ level: 'debug' });
    const plain = await runRequest([quiet.middleware], crash, userRequest());
    assert.equal(plain.status, 500);
    assert.match(String(plain.headers['x-request-id']), UUID);
  });

  it('leaves the error to the core when the id is not returned, or the client has gone', async () => {
    const { middleware } = setup({ requestId: { respond: false } });
    await assert.rejects(runRequest([middleware], crash, userRequest()), TypeError);

    const gone = new AbortController();
    gone.abort();
    await assert.rejects(runRequest([setup().middleware], crash, userRequest({ signal: gone.signal })), TypeError);
  });
});

describe('logging: requests answered before routing', () => {
  function unroutedSetup(options: unknown = {}, level = 'info') {
    const { logger, lines } = captureLogger(level);
    const instance = createInstance(options, testContext(logger, undefined, { trustedProxies: ['10.0.0.0/8'], limits: { maxUrlLength: 64 } }));
    return { instance, lines };
  }
  // What the core hands an unrouted observer: the client resolved through trustedProxies ['10.0.0.0/8'].
  const proxies = new TrustedProxies(['10.0.0.0/8']);
  const scan = (overrides: Partial<EndpointRequest> = {}, upgrade = false): UnroutedRequest => {
    const req: EndpointRequest = {
    method: 'GET',
    path: '/wp-login.php',
    query: 'user=admin&password=hunter2',
    headers: { host: 'gw.test', 'user-agent': 'scanner/1.0', authorization: 'Basic c2VjcmV0', 'x-tenant': 't1' },
    remoteAddress: '203.0.113.50',
      ...overrides,
    };
    const fromTrustedProxy = proxies.isTrusted(req.remoteAddress);
    const clientIp = fromTrustedProxy ? proxies.clientIp(req.remoteAddress, req.headers['x-forwarded-for']) : req.remoteAddress;
    return { ...req, clientIp, fromTrustedProxy, protocol: 'http', upgrade };
  };

  it('writes a line with route null once the answer was sent, redacting the query as for routed lines', () => {
    const { instance, lines } = unroutedSetup({ headers: ['authorization', 'x-tenant'] });
    const done = instance.unrouted!(scan(), 404);
    assert.equal(typeof done, 'function');
    assert.equal(lines.length, 0, 'nothing before the answer was written');
    done!({ bytes: 87, aborted: false });
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line['route'], null);
    assert.equal('routeName' in line, false);
    assert.equal(line['method'], 'GET');
    assert.equal(line['path'], '/wp-login.php');
    assert.equal(line['query'], 'user=admin&password=[REDACTED]');
    assert.equal(line['status'], 404);
    assert.equal(line['bytes'], 87);
    assert.equal(line['aborted'], false);
    assert.equal(typeof line['durationMs'], 'number');
    assert.equal(line['clientIp'], '203.0.113.50');
    assert.equal(line['userAgent'], 'scanner/1.0');
    assert.deepEqual(line['headers'], { authorization: '[REDACTED]', 'x-tenant': 't1' });
    assert.match(line['requestId'] as string, UUID);
    assert.equal(line['msg'], `GET /wp-login.php 404 ${line['durationMs'] as number}ms`);
  });

  it('resolves the client through trusted proxies and keeps their request id, as for routed requests', () => {
    const { instance, lines } = unroutedSetup();
    const viaProxy = { 'x-forwarded-for': '198.51.100.7, 10.0.0.2', 'x-request-id': 'lb-7f3a9c21' };
    instance.unrouted!(scan({ remoteAddress: '10.0.0.1', headers: viaProxy }), 404)!({ bytes: 0, aborted: false });
    instance.unrouted!(scan({ remoteAddress: '203.0.113.50', headers: viaProxy }), 405)!({ bytes: 0, aborted: true });
    assert.equal(lines[0]!['clientIp'], '198.51.100.7');
    assert.equal(lines[0]!['requestId'], 'lb-7f3a9c21');
    assert.equal(lines[1]!['clientIp'], '203.0.113.50', 'X-Forwarded-For from an untrusted peer is ignored');
    assert.match(lines[1]!['requestId'] as string, UUID);
    assert.equal(lines[1]!['aborted'], true);
  });

  it('applies the path, field and query redaction options, and cuts an overlong path at maxUrlLength', () => {
    const { instance, lines } = unroutedSetup({ redact: ['path', 'clientIp'], userAgent: false, query: false });
    instance.unrouted!(scan({ path: '/reset/secret-token' }), 404)!({ bytes: 1, aborted: false });
    assert.equal(lines[0]!['path'], '[REDACTED]');
    assert.equal(lines[0]!['clientIp'], '[REDACTED]');
    assert.equal(lines[0]!['query'], undefined);
    assert.equal(lines[0]!['userAgent'], undefined);
    assert.ok(!JSON.stringify(lines[0]).includes('secret-token'));
    assert.ok(!JSON.stringify(lines[0]).includes('hunter2'));

    const plain = unroutedSetup();
    plain.instance.unrouted!(scan({ path: '/' + 'x'.repeat(500), query: '' }), 414)!({ bytes: 1, aborted: false });
    assert.equal((plain.lines[0]!['path'] as string).length, 64);
    assert.equal(plain.lines[0]!['query'], undefined);
  });

  it('gives one request the same id in every logging instance', () => {
    const { logger, lines } = captureLogger();
    const ctx = testContext(logger);
    const first = createInstance({}, ctx);
    const second = createInstance({ level: 'warn' }, ctx);
    const req = scan();
    const done = [first.unrouted!(req, 404)!, second.unrouted!(req, 404)!];
    for (const d of done) d({ bytes: 0, aborted: false });
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!['requestId'], lines[1]!['requestId']);
    assert.deepEqual(lines.map((l) => l['level']), [30, 40]);
  });

  it('logs a refused upgrade at once (the transport reports no sent for it); writes nothing when the level is dropped', () => {
    const { instance, lines } = unroutedSetup();
    const done = instance.unrouted!(scan({ headers: { connection: 'Upgrade', upgrade: 'websocket' } }, true), 404);
    assert.equal(done, undefined);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!['upgrade'], true);
    assert.equal(lines[0]!['bytes'], 0);

    const quiet = unroutedSetup({ level: 'debug' }, 'info');
    assert.equal(quiet.instance.unrouted, undefined, 'at a dropped level the plugin does not ask to hear of them');
  });
});
