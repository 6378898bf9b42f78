import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Gateway, GatewayServer, builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { readBody, startUpstream, type Upstream } from '../../helpers/upstream.ts';

// The production plugin with its real OTLP exporters, pointed at tiny collectors on port 0:
// what arrives there is what a real collector would receive.

interface Export {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

async function startCollector(): Promise<{ url: string; exports: Export[]; close(): Promise<void> }> {
  const exports: Export[] = [];
  const server = http.createServer(async (req, res) => {
    exports.push({ path: req.url ?? '', headers: req.headers, body: await readBody(req) });
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' });
    res.end(req.headers['content-type'] === 'application/json' ? '{}' : '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('tracing: OTLP export', () => {
  let upstream: Upstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => upstream?.close());

  it('OTLP/HTTP protobuf: POSTs to /v1/traces with the configured headers when the gateway closes', async () => {
    const collector = await startCollector();
    const gw = await startGateway({
      plugins: {
        tracing: {
          use: 'tracing',
          // No path: the plugin adds the standard /v1/traces. A long delay: only the close flushes.
          options: { serviceName: 'otlp-test', otlp: { endpoint: collector.url, headers: { 'x-api-key': 'k1' } }, batch: { scheduledDelay: '1m' } },
        },
      },
      middleware: ['tracing'],
      routes: [{ path: '/orders/:id', upstream: upstream.url }],
    });
    try {
      const res = await fetch(`${gw.url}/orders/1`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(collector.exports.length, 0, 'batched, not sent per span');
    } finally {
      await gw.close();
    }
    assert.equal(collector.exports.length, 1, 'the close flushed the batch');
    const [sent] = collector.exports;
    assert.equal(sent!.path, '/v1/traces');
    assert.equal(sent!.headers['content-type'], 'application/x-protobuf');
    assert.equal(sent!.headers['x-api-key'], 'k1');
    // Protobuf strings are stored as is: the span names and the service name are in the body.
    const text = sent!.body.toString('latin1');
    for (const expected of ['otlp-test', 'GET /orders/:id', '/orders/:id', 'http.route']) assert.ok(text.includes(expected), `body contains ${expected}`);
    await collector.close();
  });

  it('OTLP/HTTP JSON: exports on the batch schedule, with the resource and the parent/child structure', async () => {
    const collector = await startCollector();
    const gw = await startGateway({
      plugins: {
        tracing: {
          use: 'tracing',
          options: { otlp: { endpoint: `${collector.url}/custom/path`, encoding: 'json' }, batch: { scheduledDelay: 50 }, resourceAttributes: { 'deployment.environment.name': 'test' } },
        },
      },
      middleware: ['tracing'],
      routes: [{ path: '/*', upstream: upstream.url }],
    });
    try {
      await (await fetch(`${gw.url}/x`)).arrayBuffer();
      await until(() => collector.exports.length > 0, 'the scheduled export');
    } finally {
      await gw.close();
    }
    const [sent] = collector.exports;
    assert.equal(sent!.path, '/custom/path', 'an endpoint with a path is used as is');
    assert.equal(sent!.headers['content-type'], 'application/json');
    type Attr = { key: string; value: { stringValue?: string } };
    const payload = JSON.parse(sent!.body.toString('utf8')) as {
      resourceSpans: { resource: { attributes: Attr[] }; scopeSpans: { spans: { name: string; kind: number; spanId: string; parentSpanId?: string; traceId: string }[] }[] }[];
    };
    const resource = Object.fromEntries(payload.resourceSpans[0]!.resource.attributes.map((a) => [a.key, a.value.stringValue]));
    assert.equal(resource['service.name'], 'isogate');
    assert.equal(resource['deployment.environment.name'], 'test');
    const spans = payload.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const server = spans.find((s) => s.name === 'GET /*')!;
    const client = spans.find((s) => s.name === 'GET')!;
    assert.ok(server && client, `server and client spans: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(client.traceId, server.traceId);
    await collector.close();
  });

  it('OTLP/gRPC: calls TraceService/Export over HTTP/2 with the headers as metadata', async () => {
    const calls: { path: string; contentType: string; apiKey: string | undefined; bytes: number }[] = [];
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        calls.push({ path: String(headers[':path']), contentType: String(headers['content-type']), apiKey: headers['x-api-key'] as string | undefined, bytes: Buffer.concat(chunks).length });
        // An empty ExportTraceServiceResponse: one uncompressed, zero-length gRPC message, then OK.
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.alloc(5));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const gw = await startGateway({
      plugins: { tracing: { use: 'tracing', options: { exporter: 'otlp-grpc', otlp: { endpoint: `http://127.0.0.1:${port}`, headers: { 'x-api-key': 'g1' } } } } },
      middleware: ['tracing'],
      routes: [{ path: '/*', upstream: upstream.url }],
    });
    try {
      await (await fetch(`${gw.url}/x`)).arrayBuffer();
    } finally {
      await gw.close();
      server.close();
    }
    assert.equal(calls.length, 1, 'the close flushed one export');
    assert.equal(calls[0]!.path, '/opentelemetry.proto.collector.trace.v1.TraceService/Export');
    assert.match(calls[0]!.contentType, /^application\/grpc/);
    assert.equal(calls[0]!.apiKey, 'g1');
    assert.ok(calls[0]!.bytes > 50, 'spans were sent');
  });

  it('reports a collector that refuses the export in the gateway log, and keeps serving', async () => {
    const refusing = http.createServer((req, res) => {
      req.resume();
      res.writeHead(400, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const lines: { msg?: string; endpoint?: string; droppedSpans?: number }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const endpoint = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/v1/traces`;
    const config = resolveConfig(
      { plugins: { tracing: { use: 'tracing', options: { otlp: { endpoint }, batch: { scheduledDelay: 20 } } } }, middleware: ['tracing'], routes: [{ path: '/*', upstream: upstream.url }] },
      builtinPlugins,
    );
    const gateway = new Gateway(config, { logger });
    try {
      const res = await gateway.request('/x');
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      await until(() => lines.some((l) => l.msg === 'tracing: span export failed'), 'the export failure in the log');
      const line = lines.find((l) => l.msg === 'tracing: span export failed')!;
      assert.equal(line.endpoint, endpoint);
      assert.equal(line.droppedSpans, 2);
      assert.equal((await gateway.request('/y')).status, 200);
    } finally {
      await gateway.close();
      refusing.closeAllConnections();
      refusing.close();
    }
  });

  it('a graceful shutdown waits for a hung collector at most shutdownTimeout, then logs the spans it dropped', async () => {
    // Accepts the export's connection and never answers: OTLP's own timeout is 10 s.
    const sockets: net.Socket[] = [];
    const hung = net.createServer((socket) => sockets.push(socket.on('error', () => {})));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const lines: { msg?: string; droppedSpans?: number }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const endpoint = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/v1/traces`;
    const config = resolveConfig(
      { plugins: { tracing: { use: 'tracing', options: { otlp: { endpoint }, shutdownTimeout: '300ms' } } }, middleware: ['tracing'], routes: [{ path: '/*', upstream: upstream.url }] },
      builtinPlugins,
    );
    const server = new GatewayServer(new Gateway(config, { logger }));
    const { port } = await server.listen(0, '127.0.0.1');
    let timer: NodeJS.Timeout | undefined;
    try {
      for (let i = 0; i < 3; i++) await (await fetch(`http://127.0.0.1:${port}/x${i}`)).arrayBuffer();
      const outcome = await Promise.race([
        server.shutdown(1_000).then(() => 'stopped'),
        new Promise((resolve) => (timer = setTimeout(resolve, 8_000, 'still waiting for the collector'))),
      ]);
      assert.equal(outcome, 'stopped');
      assert.ok(sockets.length > 0, 'the last spans were sent to the collector');
      const dropped = lines.filter((l) => l.msg === 'tracing: the collector did not take the last spans in time: dropped them');
      assert.equal(dropped.length, 1, JSON.stringify(lines));
      assert.equal(dropped[0]!.droppedSpans, 6, 'three SERVER and three CLIENT spans');
    } finally {
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      hung.close();
    }
  });
});
