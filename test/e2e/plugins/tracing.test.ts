import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import WebSocket, { WebSocketServer } from 'ws';
import { Gateway, GatewayServer, builtinPlugins, resolveConfig, silentLogger } from '../../../runtime/src/index.ts';
import { loadUserPlugins } from '../../../runtime/src/isolate/load-user-plugins.ts';
import { definePluginRegistry, type BuiltinPlugin } from '../../../runtime/src/plugins/builtin-plugin.ts';
import { createTracingPlugin } from '../../../plugins/tracing/index.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// End to end through real sockets: a client → the gateway (tracing + a user plugin in an
// isolate) → a recording upstream. Spans go to an in-process exporter; the assertions are about
// the structure a trace backend would draw and the traceparent the upstream received.

const examples = path.resolve(import.meta.dirname, '../../../examples/plugins');
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';

interface Running {
  gateway: Gateway;
  server: GatewayServer;
  url: string;
  exporter: InMemorySpanExporter;
  close(): Promise<void>;
}

async function start(config: Record<string, unknown>): Promise<Running> {
  const exporter = new InMemorySpanExporter();
  const registry = definePluginRegistry([...builtinPlugins.values(), createTracingPlugin({ exporter }) as BuiltinPlugin<never>]);
  const resolved = resolveConfig(config, registry);
  const logger = silentLogger();
  const user = await loadUserPlugins(resolved, examples, logger);
  const gateway = new Gateway(resolved, { plugins: registry, userPlugins: user.hosts, logger });
  const server = new GatewayServer(gateway);
  const { port } = await server.listen(0, '127.0.0.1');
  return { gateway, server, url: `http://127.0.0.1:${port}`, exporter, close: () => server.shutdown(1_000).then(() => undefined) };
}

/** Spans are exported as each ends; the server span ends once the response is written, just after the client has it. */
async function spansFor(exporter: InMemorySpanExporter, count: number): Promise<ReadableSpan[]> {
  const deadline = Date.now() + 2_000;
  while (exporter.getFinishedSpans().length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const spans = exporter.getFinishedSpans();
  exporter.reset();
  return spans;
}

function parseTraceparent(value: unknown): { traceId: string; parentId: string; flags: string } {
  assert.equal(typeof value, 'string', 'the upstream received a traceparent');
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value as string);
  assert.ok(match, `well-formed traceparent: ${String(value)}`);
  return { traceId: match[1]!, parentId: match[2]!, flags: match[3]! };
}

const one = (spans: ReadableSpan[], kind: SpanKind, name?: string): ReadableSpan => {
  const found = spans.filter((s) => s.kind === kind && (name === undefined || s.name === name));
  assert.equal(found.length, 1, `one ${SpanKind[kind]} span${name ? ` named ${name}` : ''} among ${spans.map((s) => s.name).join(', ')}`);
  return found[0]!;
};

describe('tracing end to end', () => {
  let upstream: Upstream;
  let gw: Running;

  before(async () => {
    upstream = await startUpstream();
    gw = await start({
      plugins: {
        tracing: { use: 'tracing', options: { captureHeaders: { request: ['x-tenant'] } } },
        tag: { use: './add-header.ts', options: { name: 'x-tag', value: 'tagged' } },
      },
      middleware: ['tracing'],
      routes: [
        { path: '/users/:id', upstream: upstream.url, middleware: ['tag'] },
        { path: '/down/*', upstream: 'http://127.0.0.1:9' },
        { path: '/read-only', methods: ['GET'], upstream: upstream.url },
      ],
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('records a server span with the hook spans of a user plugin and the upstream client span beneath it', async () => {
    const res = await fetch(`${gw.url}/users/42?secret=1`, { headers: { 'x-tenant': 'acme', 'user-agent': 'trace-test/1' } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const spans = await spansFor(gw.exporter, 4);

    const server = one(spans, SpanKind.SERVER);
    assert.equal(server.name, 'GET /users/:id', 'named after the route template, not the path');
    assert.equal(server.parentSpanContext, undefined, 'a root span: no incoming context');
    assert.equal(server.attributes['http.route'], '/users/:id');
    assert.equal(server.attributes['http.request.method'], 'GET');
    assert.equal(server.attributes['url.path'], '/users/42');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['client.address'], '127.0.0.1');
    assert.equal(server.attributes['server.address'], '127.0.0.1');
    assert.equal(server.attributes['user_agent.original'], 'trace-test/1');
    assert.deepEqual(server.attributes['http.request.header.x-tenant'], ['acme']);
    assert.equal(server.status.code, SpanStatusCode.UNSET);
    assert.equal(server.resource.attributes['service.name'], 'isogate');

    const onRequest = one(spans, SpanKind.INTERNAL, 'plugin tag onRequest');
    const onResponse = one(spans, SpanKind.INTERNAL, 'plugin tag onResponse');
    const client = one(spans, SpanKind.CLIENT);
    for (const child of [onRequest, onResponse, client]) {
      assert.equal(child.spanContext().traceId, server.spanContext().traceId);
      assert.equal(child.parentSpanContext?.spanId, server.spanContext().spanId, `${child.name} is a child of the server span`);
    }
    assert.equal(onRequest.attributes['isogate.plugin.name'], 'tag');
    assert.equal(client.name, 'GET');
    assert.equal(client.attributes['http.response.status_code'], 200);
    assert.equal(client.attributes['server.port'], upstream.port);
    assert.equal(client.attributes['url.full'], `${upstream.url}/users/42`, 'without the query');
    // In order: onRequest, the upstream call, onResponse. (Span start times have millisecond
    // precision in this SDK, hence the 1 ms slack.)
    const ns = (t: [number, number]): number => t[0] * 1e9 + t[1];
    assert.ok(ns(onRequest.startTime) <= ns(client.startTime) + 1e6);
    assert.ok(ns(client.startTime) <= ns(onResponse.startTime) + 1e6);
    assert.ok(ns(onResponse.endTime) <= ns(server.endTime), 'the server span ends last');

    const sent = parseTraceparent(upstream.requests.at(-1)!.headers['traceparent']);
    assert.equal(sent.traceId, server.spanContext().traceId);
    assert.equal(sent.parentId, client.spanContext().spanId, "the upstream's parent is the CLIENT span");
    assert.equal(sent.flags, '01');
    assert.equal(upstream.requests.at(-1)!.headers['x-tag'], 'tagged', 'the user plugin ran');
  });

  it('continues an incoming traceparent and tracestate, and hands the upstream its own span as parent', async () => {
    const res = await fetch(`${gw.url}/users/7`, { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`, tracestate: 'vendor=abc,other=1' } });
    await res.arrayBuffer();
    const spans = await spansFor(gw.exporter, 4);
    const server = one(spans, SpanKind.SERVER);
    const client = one(spans, SpanKind.CLIENT);
    assert.equal(server.spanContext().traceId, TRACE_ID);
    assert.equal(server.parentSpanContext?.spanId, CALLER_SPAN_ID);
    assert.equal(server.parentSpanContext?.isRemote, true);
    const received = upstream.requests.at(-1)!.headers;
    const sent = parseTraceparent(received['traceparent']);
    assert.equal(sent.traceId, TRACE_ID);
    assert.equal(sent.parentId, client.spanContext().spanId);
    assert.notEqual(sent.parentId, CALLER_SPAN_ID);
    assert.equal(received['tracestate'], 'vendor=abc,other=1', 'tracestate travels with the trace');
  });

  it('starts a new trace when the incoming traceparent is malformed, and never forwards the bad one', async () => {
    const bad = `00-${'0'.repeat(32)}-${CALLER_SPAN_ID}-01`;
    const res = await fetch(`${gw.url}/users/8`, { headers: { traceparent: bad, tracestate: 'vendor=abc' } });
    await res.arrayBuffer();
    const spans = await spansFor(gw.exporter, 4);
    const server = one(spans, SpanKind.SERVER);
    assert.equal(server.parentSpanContext, undefined);
    const received = upstream.requests.at(-1)!.headers;
    assert.equal(parseTraceparent(received['traceparent']).traceId, server.spanContext().traceId);
    assert.equal(received['tracestate'], undefined, "the unknown caller's tracestate is dropped with its context");
  });

  it('marks a 5xx server span as an error, with the coded error as error.type', async () => {
    const res = await fetch(`${gw.url}/down/x`);
    assert.equal(res.status, 502);
    await res.arrayBuffer();
    const spans = await spansFor(gw.exporter, 2);
    const server = one(spans, SpanKind.SERVER);
    assert.equal(server.name, 'GET /down/*');
    assert.equal(server.status.code, SpanStatusCode.ERROR);
    assert.equal(server.attributes['http.response.status_code'], 502);
    assert.match(String(server.attributes['error.type']), /^ISOGATE_ERR_/);
    const client = one(spans, SpanKind.CLIENT);
    assert.equal(client.status.code, SpanStatusCode.ERROR);
    assert.equal(client.parentSpanContext?.spanId, server.spanContext().spanId);
  });

  it('traces requests answered before routing (404, 405) with a span named after the method and no http.route', async () => {
    const missing = await fetch(`${gw.url}/wp-admin/setup.php?token=secret`, {
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`, 'user-agent': 'scanner/3', 'x-tenant': 't1' },
    });
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
    const notFound = one(await spansFor(gw.exporter, 1), SpanKind.SERVER);
    assert.equal(notFound.name, 'GET');
    assert.equal(notFound.attributes['http.route'], undefined);
    assert.equal(notFound.attributes['http.request.method'], 'GET');
    assert.equal(notFound.attributes['url.path'], '/wp-admin/setup.php');
    assert.equal(notFound.attributes['http.response.status_code'], 404);
    assert.equal(notFound.attributes['client.address'], '127.0.0.1');
    assert.equal(notFound.attributes['user_agent.original'], 'scanner/3');
    assert.deepEqual(notFound.attributes['http.request.header.x-tenant'], ['t1']);
    assert.equal(notFound.status.code, SpanStatusCode.UNSET, 'a 4xx is the client’s mistake');
    assert.equal(notFound.spanContext().traceId, TRACE_ID, 'the incoming context is continued, as for routed requests');
    assert.equal(notFound.parentSpanContext?.spanId, CALLER_SPAN_ID);
    assert.ok(!JSON.stringify(notFound.attributes).includes('secret'), 'the query is never recorded');

    const wrong = await fetch(`${gw.url}/read-only`, { method: 'DELETE' });
    assert.equal(wrong.status, 405);
    await wrong.arrayBuffer();
    const notAllowed = one(await spansFor(gw.exporter, 1), SpanKind.SERVER);
    assert.equal(notAllowed.name, 'DELETE');
    assert.equal(notAllowed.attributes['http.route'], undefined);
    assert.equal(notAllowed.attributes['http.response.status_code'], 405);
    assert.equal(notAllowed.parentSpanContext, undefined);

    // A method of the client's own invention does not become a span name.
    const odd = await gw.gateway.request('/nowhere', { method: 'BREW' });
    await odd.arrayBuffer();
    const brew = one(await spansFor(gw.exporter, 1), SpanKind.SERVER);
    assert.equal(brew.name, 'HTTP');
    assert.equal(brew.attributes['http.request.method'], '_OTHER');
    assert.equal(brew.attributes['http.request.method_original'], 'BREW');
  });

  it('does not trace health probes', async () => {
    await (await fetch(`${gw.url}/healthz`)).arrayBuffer();
    await (await fetch(`${gw.url}/readyz`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(gw.exporter.getFinishedSpans().length, 0);
  });
});

describe('tracing with sampling ratio 0', () => {
  let upstream: Upstream;
  let gw: Running;

  before(async () => {
    upstream = await startUpstream();
    gw = await start({
      server: { trustedProxies: ['10.0.0.0/8'] },
      plugins: {
        tracing: { use: 'tracing', options: { sampling: { ratio: 0 } } },
        tag: { use: './add-header.ts', options: { name: 'x-tag', value: 'tagged' } },
      },
      middleware: ['tracing'],
      routes: [{ path: '/*', upstream: upstream.url, middleware: ['tag'] }],
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('exports nothing but still sends the upstream an unsampled traceparent of its own', async () => {
    await (await fetch(`${gw.url}/b`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gw.exporter.getFinishedSpans().length, 0, 'nothing exported for a trace started here');
    const sent = parseTraceparent(upstream.requests.at(-1)!.headers['traceparent']);
    assert.equal(sent.flags, '00', 'the upstream learns the trace was not sampled');
    assert.notEqual(sent.traceId, '0'.repeat(32));
  });

  it('gives a client’s sampled flag no weight: the trace is continued, the ratio decides, the upstream learns it', async () => {
    // The edge's answer to "record everything I send": with ratio 0, nothing is recorded.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gw.url}/a`, { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`, tracestate: 'vendor=1' } });
      await res.arrayBuffer();
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gw.exporter.getFinishedSpans().length, 0, 'nothing recorded for a client that asked for sampling');
    const received = upstream.requests.at(-1)!.headers;
    assert.deepEqual(parseTraceparent(received['traceparent']), { traceId: TRACE_ID, parentId: CALLER_SPAN_ID, flags: '00' }, 'same trace, our decision');
    assert.equal(received['tracestate'], 'vendor=1');

    // A trusted proxy's flag still decides: its sampled trace has no hole at the gateway.
    const res = await gw.gateway.request('/a', { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` }, remoteAddress: '10.1.2.3' });
    await res.arrayBuffer();
    const spans = await spansFor(gw.exporter, 4);
    assert.equal(spans.length, 4);
    assert.equal(one(spans, SpanKind.SERVER).parentSpanContext?.spanId, CALLER_SPAN_ID);
  });

  it('samples requests answered before routing the same way: nothing for a client, a trusted proxy’s sampled context is kept', async () => {
    const unsampled = await gw.gateway.request('/%2e%2e/x');
    assert.equal(unsampled.status, 400);
    await unsampled.arrayBuffer();
    const fromClient = await gw.gateway.request('/%2e%2e/x', { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` } });
    await fromClient.arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gw.exporter.getFinishedSpans().length, 0);
    const res = await gw.gateway.request('/%2e%2e/x', { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` }, remoteAddress: '10.1.2.3' });
    assert.equal(res.status, 400);
    await res.arrayBuffer();
    const server = one(await spansFor(gw.exporter, 1), SpanKind.SERVER);
    assert.equal(server.spanContext().traceId, TRACE_ID);
    assert.equal(server.attributes['http.response.status_code'], 400);
  });

  it('propagates an unsampled incoming context unchanged', async () => {
    const incoming = `00-${TRACE_ID}-${CALLER_SPAN_ID}-00`;
    await (await fetch(`${gw.url}/c`, { headers: { traceparent: incoming, tracestate: 'v=1' } })).arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gw.exporter.getFinishedSpans().length, 0);
    const received = upstream.requests.at(-1)!.headers;
    assert.equal(received['traceparent'], incoming);
    assert.equal(received['tracestate'], 'v=1');
  });
});

describe('tracing: which incoming contexts are continued', () => {
  let upstream: Upstream;
  let gw: Running;

  before(async () => {
    upstream = await startUpstream();
    gw = await start({
      server: { trustedProxies: ['10.0.0.0/8'] },
      plugins: { tracing: { use: 'tracing', options: { continueIncoming: 'trusted-proxies' } } },
      middleware: ['tracing'],
      routes: [{ path: '/*', upstream: upstream.url }],
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('ignores the context of a client that is not a trusted proxy, and replaces it upstream', async () => {
    await (await fetch(`${gw.url}/x`, { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`, tracestate: 'evil=1' } })).arrayBuffer();
    const spans = await spansFor(gw.exporter, 2);
    const server = one(spans, SpanKind.SERVER);
    assert.notEqual(server.spanContext().traceId, TRACE_ID);
    assert.equal(server.parentSpanContext, undefined);
    const received = upstream.requests.at(-1)!.headers;
    assert.equal(parseTraceparent(received['traceparent']).traceId, server.spanContext().traceId);
    assert.equal(received['tracestate'], undefined);
  });

  it('applies the same policy to requests answered before routing, and resolves their client through the trusted proxy', async () => {
    const untrusted = await gw.gateway.request('/%2e%2e/', { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`, 'x-forwarded-for': '198.51.100.1' }, remoteAddress: '203.0.113.5' });
    await untrusted.arrayBuffer();
    const trusted = await gw.gateway.request('/%2e%2e/', { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`, 'x-forwarded-for': '198.51.100.1' }, remoteAddress: '10.1.2.3' });
    await trusted.arrayBuffer();
    const [fromClient, fromProxy] = await spansFor(gw.exporter, 2);
    assert.notEqual(fromClient!.spanContext().traceId, TRACE_ID);
    assert.equal(fromClient!.attributes['client.address'], '203.0.113.5');
    assert.equal(fromProxy!.spanContext().traceId, TRACE_ID);
    assert.equal(fromProxy!.attributes['client.address'], '198.51.100.1');
    assert.equal(fromProxy!.attributes['network.peer.address'], '10.1.2.3');
  });

  it('continues it from a trusted proxy (socket-less request from 10.1.2.3)', async () => {
    const res = await gw.gateway.request('/y', { headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` }, remoteAddress: '10.1.2.3' });
    await res.arrayBuffer();
    const server = one(await spansFor(gw.exporter, 2), SpanKind.SERVER);
    assert.equal(server.spanContext().traceId, TRACE_ID);
    assert.equal(server.parentSpanContext?.spanId, CALLER_SPAN_ID);
  });
});

describe('tracing a WebSocket upgrade', () => {
  let upstream: Upstream;
  let wss: WebSocketServer;
  let gw: Running;
  const upgrades: { traceparent: string | undefined }[] = [];

  before(async () => {
    upstream = await startUpstream();
    wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (ws, req) => {
      upgrades.push({ traceparent: req.headers['traceparent'] as string | undefined });
      ws.on('message', (data) => ws.send(data));
    });
    gw = await start({ plugins: { tracing: { use: 'tracing' } }, middleware: ['tracing'], routes: [{ path: '/ws/*', upstream: upstream.url, websocket: true }] });
  });
  after(async () => {
    for (const client of wss?.clients ?? []) client.terminate();
    wss?.close();
    await gw?.close();
    await upstream?.close();
  });

  it('ends the server span at the handshake (101) and hands the upstream the CLIENT span as parent', async () => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws/chat`);
    await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('ping');
    await new Promise((resolve) => ws.once('message', resolve));
    // Exported while the connection is still open.
    const spans = await spansFor(gw.exporter, 2);
    const server = one(spans, SpanKind.SERVER);
    const client = one(spans, SpanKind.CLIENT);
    assert.equal(server.name, 'GET /ws/*');
    assert.equal(server.attributes['http.response.status_code'], 101);
    assert.equal(client.parentSpanContext?.spanId, server.spanContext().spanId);
    const sent = parseTraceparent(upgrades.at(-1)?.traceparent);
    assert.equal(sent.parentId, client.spanContext().spanId);
    ws.close();
  });
});
