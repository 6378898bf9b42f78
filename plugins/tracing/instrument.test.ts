import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { emitRequestEvent, sentNotifier, startHook, startUpstream } from '../../runtime/src/chain/instruments.ts';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import type { GatewayRequest, GatewayResponse, Handler, HeaderMap } from '../../runtime/src/chain/types.ts';
import { GatewayError } from '../../runtime/src/errors.ts';
import { createTracingMiddleware, createUnroutedTracer } from './instrument.ts';
import type { EndpointRequest, UnroutedRequest } from '../../runtime/src/plugins/builtin-plugin.ts';
import { createSampler } from './provider.ts';
import { TrustedProxies } from '../../runtime/src/proxy/trusted-proxies.ts';

type Honour = 'always' | 'trusted-proxies' | 'never';

function setup(ratio = 1, capture: { request?: string[]; response?: string[] } = {}, honourIncomingSampled: Honour = 'trusted-proxies') {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ sampler: createSampler({ ratio, parentBased: true }), spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const middleware = createTracingMiddleware(provider.getTracer('test'), {
    continueIncoming: 'always',
    captureHeaders: { request: capture.request ?? [], response: capture.response ?? [] },
    sampling: { honourIncomingSampled },
  });
  return { exporter, middleware };
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER = '00f067aa0ba902b7';

const ok: GatewayResponse = { status: 200, headers: { 'x-cache': 'hit', 'set-cookie': ['a=1'] }, body: null };

/** Run the middleware around `inner`, then report the response as sent, like the gateway does. */
async function run(mw: ReturnType<typeof setup>['middleware'], req: GatewayRequest, inner: Handler): Promise<GatewayResponse> {
  let res: GatewayResponse;
  try {
    res = await mw(inner)(req);
  } catch (err) {
    res = { status: err instanceof GatewayError ? err.status : 500, headers: {}, body: null };
  }
  sentNotifier(req)?.(res.status, { bytes: 0, aborted: false });
  return res;
}

describe('tracing instrument', () => {
  it('reports a failing hook as an error span and the plugin-error event on the server span', async () => {
    const { exporter, middleware } = setup();
    const req = testRequest({ route: { name: 'r', path: '/a/:id' } as GatewayRequest['route'], method: 'POST', path: '/a/1' });
    await run(middleware, req, async (r) => {
      startHook(r, 'guard', 'onRequest')!('timeout');
      emitRequestEvent(r, { type: 'plugin-error', plugin: 'guard', hook: 'onRequest', kind: 'timeout' });
      emitRequestEvent(r, { type: 'auth-failed', plugin: 'jwt', reason: 'expired' });
      emitRequestEvent(r, { type: 'ratelimit-rejected', plugin: 'limit' });
      return { status: 401, headers: {}, body: null };
    });
    const spans = exporter.getFinishedSpans();
    const hook = spans.find((s) => s.name === 'plugin guard onRequest')!;
    assert.equal(hook.status.code, SpanStatusCode.ERROR);
    assert.equal(hook.status.message, 'timeout');
    assert.equal(hook.attributes['error.type'], 'timeout');
    const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(server.name, 'POST /a/:id');
    assert.equal(server.status.code, SpanStatusCode.UNSET, 'a 4xx is not a server error');
    assert.deepEqual(
      server.events.map((e) => [e.name, e.attributes]),
      [
        ['plugin-error', { 'isogate.plugin.name': 'guard', 'isogate.plugin.hook': 'onRequest', 'error.type': 'timeout' }],
        ['auth-failed', { 'isogate.plugin.name': 'jwt', 'isogate.reason': 'expired' }],
        ['ratelimit-rejected', { 'isogate.plugin.name': 'limit' }],
      ],
    );
  });

  it('opens one CLIENT span per upstream attempt, counts resends, and marks 4xx/5xx and failures as errors', async () => {
    const { exporter, middleware } = setup();
    const req = testRequest();
    const attempts: HeaderMap[] = [];
    await run(middleware, req, async (r) => {
      for (const outcome of [{ error: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }, { status: 503 }, { status: 404 }] as const) {
        const headers: HeaderMap = {};
        attempts.push(headers);
        startUpstream(r, { origin: 'http://[::1]:8080', method: 'GET', path: '/x?token=secret', headers })!(outcome);
      }
      return ok;
    });
    const clients = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    assert.equal(clients.length, 3);
    assert.deepEqual(clients.map((s) => s.attributes['http.request.resend_count']), [undefined, 1, 2]);
    assert.deepEqual(clients.map((s) => s.attributes['error.type']), ['ECONNREFUSED', '503', '404']);
    assert.ok(clients.every((s) => s.status.code === SpanStatusCode.ERROR));
    assert.equal(clients[0]!.attributes['server.address'], '::1');
    assert.equal(clients[0]!.attributes['server.port'], 8080);
    assert.equal(clients[0]!.attributes['url.full'], 'http://[::1]:8080/x');
    // Each attempt carries its own CLIENT span as parent.
    assert.deepEqual(attempts.map((h) => (h['traceparent'] as string).split('-')[2]), clients.map((s) => s.spanContext().spanId));
  });

  it('keeps the coded error of a failed chain as error.type on the 5xx server span', async () => {
    const { exporter, middleware } = setup();
    await run(middleware, testRequest(), () => Promise.reject(new GatewayError('UPSTREAM_TIMEOUT')));
    const server = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(server.status.code, SpanStatusCode.ERROR);
    assert.equal(server.attributes['error.type'], new GatewayError('UPSTREAM_TIMEOUT').code);
  });

  it('captures configured headers, never credentials', async () => {
    const { exporter, middleware } = setup(1, { request: ['x-tenant', 'authorization', 'cookie'], response: ['x-cache', 'set-cookie'] });
    await run(middleware, testRequest({ headers: { host: 'api.example.com:8443', 'x-tenant': 'acme', authorization: 'Bearer abc', cookie: 's=1' } }), async () => ok);
    const server = exporter.getFinishedSpans()[0]!;
    assert.deepEqual(server.attributes['http.request.header.x-tenant'], ['acme']);
    assert.deepEqual(server.attributes['http.request.header.authorization'], ['[REDACTED]']);
    assert.deepEqual(server.attributes['http.request.header.cookie'], ['[REDACTED]']);
    assert.deepEqual(server.attributes['http.response.header.x-cache'], ['hit']);
    assert.deepEqual(server.attributes['http.response.header.set-cookie'], ['[REDACTED]']);
    assert.equal(server.attributes['server.address'], 'api.example.com');
    assert.equal(server.attributes['server.port'], 8443);
  });

  it('notes a response the client abandoned', async () => {
    const { exporter, middleware } = setup();
    const req = testRequest();
    await middleware(async () => ok)(req);
    sentNotifier(req)!(200, { bytes: 10, aborted: true });
    assert.deepEqual(exporter.getFinishedSpans()[0]!.events.map((e) => e.name), ['response-aborted']);
  });

  it('unsampled: creates no span and attaches nothing when an unsampled caller context can go upstream unchanged', async () => {
    const { exporter, middleware } = setup(0);
    const req = testRequest({ headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' } });
    await run(middleware, req, async () => ok);
    assert.equal(req.instruments, null, 'no per-request instrument');
    assert.equal(exporter.getFinishedSpans().length, 0);
  });

  it('unsampled root: only propagates the unsampled decision upstream', async () => {
    const { exporter, middleware } = setup(0);
    const req = testRequest({ headers: { host: 'x', tracestate: 'client=1' } });
    const headers: HeaderMap = { tracestate: 'client=1' };
    await run(middleware, req, async (r) => {
      assert.equal(startHook(r, 'p', 'onRequest'), null, 'no hook spans');
      assert.equal(startUpstream(r, { origin: 'http://u', method: 'GET', path: '/', headers }), null);
      return ok;
    });
    assert.match(headers['traceparent'] as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    assert.equal(headers['tracestate'], undefined);
    assert.equal(exporter.getFinishedSpans().length, 0);
  });

  it('names a routed request with a method outside the standard set HTTP, with http.request.method _OTHER', async () => {
    const { exporter, middleware } = setup();
    await run(middleware, testRequest({ route: { name: 'dav', path: '/files/*' } as GatewayRequest['route'], method: 'PROPFIND', path: '/files/a' }), async () => ok);
    await run(middleware, testRequest({ route: { name: 'dav', path: '/files/*' } as GatewayRequest['route'], method: 'DELETE', path: '/files/a' }), async () => ok);
    const [other, known] = exporter.getFinishedSpans();
    assert.equal(other!.name, 'HTTP /files/*');
    assert.equal(other!.attributes['http.request.method'], '_OTHER');
    assert.equal(other!.attributes['http.request.method_original'], 'PROPFIND');
    assert.equal(known!.name, 'DELETE /files/*');
    assert.equal(known!.attributes['http.request.method'], 'DELETE');
    assert.equal(known!.attributes['http.request.method_original'], undefined);
  });

  it('an upgrade ends its span at the handshake; a later sent report changes nothing', async () => {
    const { exporter, middleware } = setup();
    const req = testRequest({ upgrade: true });
    await middleware(async () => ({ status: 101, headers: {}, body: null }))(req);
    assert.equal(exporter.getFinishedSpans().length, 1, 'exported without waiting for the connection to close');
    sentNotifier(req)!(500, { bytes: 0, aborted: true });
    const [server] = exporter.getFinishedSpans();
    assert.equal(exporter.getFinishedSpans().length, 1);
    assert.equal(server!.attributes['http.response.status_code'], 101);
    assert.deepEqual(server!.events, []);
  });
});

describe('tracing: whose sampled flag decides', () => {
  /** One request with an incoming context; what was recorded and what the upstream received. */
  async function traced(mw: ReturnType<typeof setup>['middleware'], traceparent: string, fromTrustedProxy: boolean) {
    const headers: HeaderMap = {};
    const req = testRequest({ headers: { traceparent }, fromTrustedProxy, ...(fromTrustedProxy ? { remoteAddress: '10.0.0.1' } : {}) });
    await run(mw, req, async (r) => {
      startUpstream(r, { origin: 'http://u', method: 'GET', path: '/', headers })?.({ status: 200 });
      return ok;
    });
    return { sent: headers['traceparent'] as string | undefined };
  }

  it('by default, a client’s sampled flag carries no weight: the context is continued, the ratio decides', async () => {
    const { exporter, middleware } = setup(0);
    const { sent } = await traced(middleware, `00-${TRACE}-${CALLER}-01`, false);
    assert.equal(exporter.getFinishedSpans().length, 0, 'ratio 0: a client cannot ask for its request to be recorded');
    assert.equal(sent, `00-${TRACE}-${CALLER}-00`, 'same trace and parent, our decision');
  });

  it('by default, a trusted proxy’s sampled flag decides', async () => {
    const { exporter, middleware } = setup(0);
    await traced(middleware, `00-${TRACE}-${CALLER}-01`, true);
    const server = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER);
    assert.equal(server?.spanContext().traceId, TRACE);
    assert.equal(server?.parentSpanContext?.spanId, CALLER);
  });

  it('the ratio also decides for a client’s unsampled flag (ratio 1 records it)', async () => {
    const { exporter, middleware } = setup(1);
    const { sent } = await traced(middleware, `00-${TRACE}-${CALLER}-00`, false);
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(server.parentSpanContext?.spanId, CALLER);
    assert.equal(sent, `00-${TRACE}-${spans.find((s) => s.kind === SpanKind.CLIENT)!.spanContext().spanId}-01`);
  });

  it('"always" lets any client decide; "never" lets no one, not even a trusted proxy', async () => {
    const always = setup(0, {}, 'always');
    await traced(always.middleware, `00-${TRACE}-${CALLER}-01`, false);
    assert.equal(always.exporter.getFinishedSpans().length, 2);
    const never = setup(0, {}, 'never');
    const { sent } = await traced(never.middleware, `00-${TRACE}-${CALLER}-01`, true);
    assert.equal(never.exporter.getFinishedSpans().length, 0);
    assert.equal(sent, `00-${TRACE}-${CALLER}-00`);
  });

  it('a client cannot choose a trace id the ratio always samples: its requests are drawn at random', async () => {
    // The trace-id ratio decision is public: an id whose words XOR to ~0 is sampled at any ratio > 0.
    const gamed = '00000000000000000000000000000001';
    for (const honour of ['trusted-proxies', 'never'] as const) {
      const { exporter, middleware } = setup(0.01, {}, honour);
      for (let i = 0; i < 200; i++) await traced(middleware, `00-${gamed}-${CALLER}-01`, false);
      const recorded = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER).length;
      // Binomial(200, 0.01): 20 or more has a probability below 1e-10.
      assert.ok(recorded < 20, `${honour}: ${recorded} of 200 recorded at ratio 0.01`);
    }
  });
});

describe('tracing requests answered before routing', () => {
  function unroutedSetup(ratio = 1, honourIncomingSampled: Honour = 'trusted-proxies') {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ sampler: createSampler({ ratio, parentBased: true }), spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const observe = createUnroutedTracer(
      provider.getTracer('test'),
      { continueIncoming: 'always', captureHeaders: { request: ['authorization', 'x-tenant'], response: [] }, sampling: { honourIncomingSampled } },
      { maxUrlLength: 32 },
    );
    return { exporter, observe };
  }
  // What the core hands an unrouted observer: the client resolved through trustedProxies ['10.0.0.0/8'].
  const proxies = new TrustedProxies(['10.0.0.0/8']);
  const scan = (overrides: Partial<EndpointRequest> = {}, upgrade = false): UnroutedRequest => {
    const req: EndpointRequest = {
    method: 'GET',
    path: '/nowhere',
    query: 'token=secret',
    headers: { host: 'api.example.com:8443', authorization: 'Bearer abc', 'x-tenant': 't1' },
    remoteAddress: '203.0.113.7',
      ...overrides,
    };
    const fromTrustedProxy = proxies.isTrusted(req.remoteAddress);
    const clientIp = fromTrustedProxy ? proxies.clientIp(req.remoteAddress, req.headers['x-forwarded-for']) : req.remoteAddress;
    return { ...req, clientIp, fromTrustedProxy, protocol: 'http', upgrade };
  };

  it('ends the span when the answer was sent, marks an abandoned one, redacts captured credentials', () => {
    const { exporter, observe } = unroutedSetup();
    const done = observe(scan(), 404);
    assert.equal(typeof done, 'function');
    assert.equal(exporter.getFinishedSpans().length, 0, 'open until the answer was written');
    done!({ bytes: 12, aborted: true });
    const [span] = exporter.getFinishedSpans();
    assert.equal(span!.kind, SpanKind.SERVER);
    assert.equal(span!.name, 'GET');
    assert.equal(span!.attributes['http.route'], undefined);
    assert.equal(span!.attributes['url.path'], '/nowhere');
    assert.equal(span!.attributes['url.scheme'], 'http');
    assert.equal(span!.attributes['server.address'], 'api.example.com');
    assert.equal(span!.attributes['server.port'], 8443);
    assert.equal(span!.attributes['client.address'], '203.0.113.7');
    assert.equal(span!.attributes['network.peer.address'], undefined);
    assert.deepEqual(span!.attributes['http.request.header.authorization'], ['[REDACTED]']);
    assert.deepEqual(span!.attributes['http.request.header.x-tenant'], ['t1']);
    assert.deepEqual(span!.events.map((e) => [e.name, e.attributes]), [['response-aborted', { 'isogate.response.bytes': 12 }]]);
  });

  it('cuts an overlong path at maxUrlLength, and ends a refused upgrade at once (the transport reports no sent for it)', () => {
    const { exporter, observe } = unroutedSetup();
    observe(scan({ path: '/' + 'x'.repeat(100) }), 414)!({ bytes: 0, aborted: false });
    assert.equal((exporter.getFinishedSpans()[0]!.attributes['url.path'] as string).length, 32);
    exporter.reset();
    assert.equal(observe(scan({ headers: { connection: 'Upgrade', upgrade: 'websocket' } }, true), 404), undefined);
    assert.equal(exporter.getFinishedSpans().length, 1);
  });

  it('records nothing and asks for no report when the request is not sampled', () => {
    const { exporter, observe } = unroutedSetup(0);
    assert.equal(observe(scan(), 404), undefined);
    assert.equal(exporter.getFinishedSpans().length, 0);
  });

  it('gives a client’s sampled flag no weight, a trusted proxy’s its say (default policy)', () => {
    const { exporter, observe } = unroutedSetup(0);
    const traceparent = `00-${TRACE}-${CALLER}-01`;
    assert.equal(observe(scan({ headers: { traceparent } }), 404), undefined, 'a client cannot have its scan recorded');
    observe(scan({ headers: { traceparent }, remoteAddress: '10.1.2.3' }), 404)!({ bytes: 0, aborted: false });
    const [span] = exporter.getFinishedSpans();
    assert.equal(exporter.getFinishedSpans().length, 1);
    assert.equal(span!.parentSpanContext?.spanId, CALLER);
  });
});
