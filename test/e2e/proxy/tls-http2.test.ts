import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { Gateway, GatewayServer, builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import { errorCode } from '../../helpers/http-client.ts';
import { makeTestCert, tempDir, type TestCert } from '../../helpers/tls-certs.ts';
import { startUpstream, type Echo, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

// Issue 12, edge listener: HTTPS with ALPN h2 and http/1.1, the same chain, limits and coded errors
// for both; certificate files reloaded without dropping connections; a plain-HTTP redirect
// listener; gRPC passed through to an h2c upstream with its trailers.

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let answer: http2.IncomingHttpHeaders = {};
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (answer = h));
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve({ status: Number(answer[':status']), headers: answer, body: text }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

function peerFingerprint(port: number, ca: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

// A gRPC service without a .proto: JSON messages, which grpc-js carries like any bytes.
const json = { serialize: (v: unknown) => Buffer.from(JSON.stringify(v)), deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown };
const ECHO_SERVICE = {
  unary: { path: '/test.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  stream: { path: '/test.Echo/Stream', requestStream: false, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
} satisfies grpc.ServiceDefinition;

describe('HTTPS and HTTP/2 on the edge listener', () => {
  let dir: string;
  let first: TestCert;
  let second: TestCert;
  let certFile: string;
  let keyFile: string;
  let upstream: Upstream;
  let wsUpstream: Upstream;
  let grpcServer: grpc.Server;
  let gateway: Gateway;
  let server: GatewayServer;
  let port: number;
  const logLines: { msg: string }[] = [];

  before(async () => {
    dir = await tempDir('isogate-tls-');
    first = await makeTestCert(dir, 'first');
    second = await makeTestCert(dir, 'second');
    certFile = path.join(dir, 'live.crt');
    keyFile = path.join(dir, 'live.key');
    await fs.copyFile(first.certFile, certFile);
    await fs.copyFile(first.keyFile, keyFile);
    upstream = await startUpstream();
    wsUpstream = await startUpstream();
    new WebSocketServer({ server: wsUpstream.server }).on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)));

    grpcServer = new grpc.Server();
    grpcServer.addService(ECHO_SERVICE, {
      unary(call: grpc.ServerUnaryCall<{ name: string }, unknown>, done: grpc.sendUnaryData<unknown>) {
        if (call.request.name === 'missing') return done({ code: grpc.status.NOT_FOUND, details: 'no such name' });
        done(null, { hello: call.request.name, tenant: call.metadata.get('x-tenant')[0] ?? null });
      },
      stream(call: grpc.ServerWritableStream<{ count: number }, unknown>) {
        for (let i = 1; i <= call.request.count; i++) call.write({ i });
        call.end();
      },
    });
    const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));

    const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line) as { msg: string }) });
    const config = resolveConfig(
      {
        server: { port: 0, tls: { cert: certFile, key: keyFile, redirectHttpPort: 0 }, limits: { maxBodyBytes: '64kb' } },
        routes: [
          { path: '/api/*', upstream: upstream.url },
          { path: '/ws/*', upstream: wsUpstream.url, websocket: true },
          { path: '/test.Echo/*', upstream: `http://127.0.0.1:${grpcPort}`, http2: true, requestBuffering: false, timeout: { idle: 0 } },
        ],
      },
      builtinPlugins,
    );
    gateway = new Gateway(config, { logger });
    server = new GatewayServer(gateway);
    ({ port } = await server.listen(0, '127.0.0.1'));
  });

  after(async () => {
    await server?.shutdown(1_000);
    await upstream?.close();
    await wsUpstream?.close();
    grpcServer?.forceShutdown();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('serves HTTP/1.1 over TLS through the chain, telling the upstream the client used https', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/api/one', servername: 'localhost', ca: [first.cert], agent: false }, (r) => {
        let body = '';
        r.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      }).on('error', reject);
    });
    assert.equal(res.status, 200);
    const echo = JSON.parse(res.body) as Echo;
    assert.equal(echo.url, '/api/one');
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
  });

  it('serves HTTP/2 streams through the same chain: routing, coded errors, limits, streamed bodies', async () => {
    const session = http2.connect(`https://localhost:${port}`, { ca: [first.cert] });
    try {
      const ok = await h2Request(session, { ':path': '/api/two?x=1', 'x-tenant': 't1' });
      assert.equal(ok.status, 200);
      const echo = JSON.parse(ok.body) as Echo;
      assert.equal(echo.url, '/api/two?x=1');
      assert.equal(echo.headers['x-tenant'], 't1');
      assert.equal(echo.headers['host'], upstream.host, 'the upstream gets its own Host, not :authority');
      assert.equal(echo.headers['x-forwarded-host'], `localhost:${port}`);
      assert.equal(echo.headers['x-forwarded-proto'], 'https');

      const missing = await h2Request(session, { ':path': '/nowhere' });
      assert.equal(missing.status, 404);
      assert.equal(errorCode(missing.body), 'ISOGATE_ERR_NOT_FOUND');

      const badPath = await h2Request(session, { ':path': '/api/..;/admin' });
      assert.equal(badPath.status, 400);
      assert.equal(errorCode(badPath.body), 'ISOGATE_ERR_BAD_PATH');

      // A body without content-length (DATA frames) reaches the upstream whole.
      const posted = await h2Request(session, { ':method': 'POST', ':path': '/api/post' }, 'hello over h2');
      assert.equal((JSON.parse(posted.body) as Echo).body, 'hello over h2');

      const tooLarge = await h2Request(session, { ':method': 'POST', ':path': '/api/big', 'content-length': String(100 * 1024) }, Buffer.alloc(100 * 1024));
      assert.equal(tooLarge.status, 413);
      assert.equal(errorCode(tooLarge.body), 'ISOGATE_ERR_BODY_TOO_LARGE');
      const chunkedTooLarge = await h2Request(session, { ':method': 'POST', ':path': '/api/big' }, Buffer.alloc(100 * 1024));
      assert.equal(chunkedTooLarge.status, 413);

      // The session survives all of that.
      assert.equal((await h2Request(session, { ':path': '/api/after' })).status, 200);
    } finally {
      session.close();
    }
  });

  it('answers curl --http2 over TLS with HTTP/2', async () => {
    const { stdout } = await promisify(execFile)('curl', ['-s', '--http2', '--cacert', first.certFile, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `https://localhost:${port}/api/curl`], { timeout: 10_000 });
    assert.equal(stdout, '2 200');
  });

  it('refuses TLS versions below 1.2', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ca: [first.cert], servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => resolve(socket));
        socket.on('error', reject);
      }),
    );
  });

  it('passes WebSockets over TLS on a WebSocket route (wss://)', async () => {
    const ws = new WebSocket(`wss://localhost:${port}/ws/chat`, { ca: [first.cert] });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const reply = new Promise<string>((resolve) => ws.once('message', (m) => resolve(String(m))));
    ws.send('hi');
    assert.equal(await reply, 'echo:hi');
    ws.close();
  });

  it('passes gRPC through to an h2c upstream: unary, errors with their status and message, server streaming', async () => {
    const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
    const client = new Client(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(first.cert))) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
    try {
      const metadata = new grpc.Metadata();
      metadata.set('x-tenant', 't7');
      const reply = await new Promise((resolve, reject) => client['unary']!({ name: 'ada' }, metadata, (err: Error | null, value: unknown) => (err ? reject(err) : resolve(value))));
      assert.deepEqual(reply, { hello: 'ada', tenant: 't7' });

      const failure = await new Promise<grpc.ServiceError>((resolve) => client['unary']!({ name: 'missing' }, (err: grpc.ServiceError) => resolve(err)));
      assert.equal(failure.code, grpc.status.NOT_FOUND, `grpc-status travelled: ${failure.details}`);
      assert.equal(failure.details, 'no such name');

      const call = client['stream']!({ count: 3 }) as grpc.ClientReadableStream<{ i: number }>;
      const seen: number[] = [];
      await new Promise<void>((resolve, reject) => {
        call.on('data', (m: { i: number }) => seen.push(m.i));
        call.on('status', (status: grpc.StatusObject) => (status.code === grpc.status.OK ? resolve() : reject(new Error(status.details))));
        call.on('error', reject);
      });
      assert.deepEqual(seen, [1, 2, 3]);
    } finally {
      client.close();
    }
  });

  it('redirects plain HTTP to HTTPS with a 308, keeping host and path', async () => {
    const redirect = server.redirectAddress!;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: redirect.port, path: '/api/x?y=1', headers: { host: 'gw.example:80' }, agent: false }, resolve).on('error', reject);
    });
    res.resume();
    assert.equal(res.statusCode, 308);
    assert.equal(res.headers.location, `https://gw.example:${port}/api/x?y=1`);
  });

  it('reloads renewed certificate files for new connections, without dropping an open one', async () => {
    const session = http2.connect(`https://localhost:${port}`, { ca: [first.cert] });
    try {
      assert.equal((await h2Request(session, { ':path': '/api/before' })).status, 200);
      assert.equal(await peerFingerprint(port, [first.cert]), new X509Certificate(first.cert).fingerprint256);
      // As cert-manager and secret volumes do: new files renamed over the old ones.
      await fs.copyFile(second.keyFile, `${keyFile}.new`);
      await fs.copyFile(second.certFile, `${certFile}.new`);
      await fs.rename(`${keyFile}.new`, keyFile);
      await fs.rename(`${certFile}.new`, certFile);
      await waitFor(() => logLines.some((l) => l.msg === 'TLS certificate reloaded'), 'the certificate reload', 15_000);
      assert.equal(await peerFingerprint(port, [second.cert]), new X509Certificate(second.cert).fingerprint256);
      assert.equal((await h2Request(session, { ':path': '/api/after-renewal' })).status, 200, 'the open session keeps working');
    } finally {
      session.close();
    }
  });
});
