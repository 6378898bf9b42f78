import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { readBody, closedPort, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { deferred, waitFor, within } from '../../helpers/wait.ts';

interface UnexpectedResponse {
  status: number;
  body: string;
}

/** Open a WebSocket; resolves once open, or with the HTTP answer if the handshake was refused. */
function connect(url: string): Promise<{ ws: WebSocket; refused: UnexpectedResponse | null }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 5_000 });
    ws.once('open', () => resolve({ ws, refused: null }));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      readBody(res).then((body) => {
        resolve({ ws, refused: { status: res.statusCode ?? 0, body: body.toString() } });
        ws.terminate();
      }, reject);
    });
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data, isBinary) => resolve({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary }));
    ws.once('error', reject);
  });
}

/** A masked client text frame (payload < 126 bytes), as RFC 6455 §5.2 requires from clients. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}

/** Unmasked server text frames (payload < 126 bytes) at the start of `buf`. */
function serverTexts(buf: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  for (let guard = 0; guard < 100 && at + 2 <= buf.length; guard++) {
    const len = buf[at + 1]! & 0x7f;
    if ((buf[at]! & 0x0f) !== 1 || len >= 126 || at + 2 + len > buf.length) break;
    out.push(buf.subarray(at + 2, at + 2 + len).toString());
    at += 2 + len;
  }
  return out;
}

const HANDSHAKE = (path: string, extra: string[] = []): string =>
  [`GET ${path} HTTP/1.1`, 'Host: gw.example', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...extra, '', ''].join('\r\n');

/** Raw WebSocket client: sends `data`, collects the response head and the frames after it. */
async function rawUpgrade(port: number, data: Buffer | string, until: (head: string, frames: string[]) => boolean): Promise<{ head: string; frames: string[] }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let buf = Buffer.alloc(0);
  const parse = (): { head: string; frames: string[] } => {
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) return { head: '', frames: [] };
    return { head: buf.subarray(0, end).toString('latin1'), frames: serverTexts(buf.subarray(end + 4)) };
  };
  const done = deferred<{ head: string; frames: string[] }>();
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    const parsed = parse();
    if (parsed.head && until(parsed.head, parsed.frames)) done.resolve(parsed);
  });
  socket.on('close', () => done.resolve(parse()));
  socket.write(data);
  try {
    return await within(done.promise, 5_000, 'the upgrade answer');
  } finally {
    socket.destroy();
  }
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe('WebSocket through the gateway', () => {
  let upstream: Upstream;
  let wss: WebSocketServer;
  let gw: TestGateway;
  let deadGw: TestGateway;
  const serverSide: WebSocket[] = [];
  const upgradeUrls: string[] = [];

  before(async () => {
    upstream = await startUpstream();
    wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (ws, req) => {
      serverSide.push(ws);
      upgradeUrls.push(req.url ?? '');
      if (req.url?.includes('greet')) ws.send('welcome');
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? '' : String(data);
        if (text === 'server-close') ws.close(4001, 'server says bye');
        else ws.send(data, { binary: isBinary });
      });
    });
    gw = await startGateway({ routes: [{ path: '/ws/*', upstream: upstream.url, websocket: true }] });
    deadGw = await startGateway({ routes: [{ path: '/ws/*', upstream: `http://127.0.0.1:${await closedPort()}`, websocket: true, timeout: { connect: '2s' } }] });
  });

  after(async () => {
    for (const ws of serverSide) ws.terminate();
    wss?.close();
    await gw?.close();
    await deadGw?.close();
    await upstream?.close();
  });

  it('round-trips text and binary messages, and forwards the upgrade path and query', async () => {
    const { ws, refused } = await within(connect(`ws://127.0.0.1:${gw.port}/ws/echo?room=1`), 5_000, 'the WebSocket to open');
    assert.equal(refused, null);
    try {
      assert.equal(upgradeUrls.at(-1), '/ws/echo?room=1');

      const text = nextMessage(ws);
      ws.send('hello through isogate');
      const got = await within(text, 5_000, 'the text echo');
      assert.equal(got.isBinary, false);
      assert.equal(got.data.toString(), 'hello through isogate');

      const payload = Buffer.from([0, 1, 2, 253, 254, 255, 0x0d, 0x0a]);
      const bin = nextMessage(ws);
      ws.send(payload, { binary: true });
      const gotBin = await within(bin, 5_000, 'the binary echo');
      assert.equal(gotBin.isBinary, true);
      assert.deepEqual(gotBin.data, payload);

      const big = Buffer.alloc(256 * 1024, 7);
      const bigEcho = nextMessage(ws);
      ws.send(big, { binary: true });
      assert.deepEqual((await within(bigEcho, 5_000, 'the 256 KiB echo')).data, big);
    } finally {
      ws.terminate();
    }
  });

  it('propagates a close started by the client to the upstream', async () => {
    const { ws } = await within(connect(`ws://127.0.0.1:${gw.port}/ws/close-client`), 5_000, 'the WebSocket to open');
    await waitFor(() => upgradeUrls.at(-1) === '/ws/close-client', 'the upstream side to exist');
    const upstreamSide = serverSide.at(-1)!;
    const upstreamClosed = closed(upstreamSide);
    const clientClosed = closed(ws);
    ws.close(4000, 'client says bye');
    const atUpstream = await within(upstreamClosed, 5_000, 'the upstream to see the close');
    assert.deepEqual(atUpstream, { code: 4000, reason: 'client says bye' });
    await within(clientClosed, 5_000, 'the client to finish closing');
  });

  it('propagates a close started by the upstream to the client', async () => {
    const { ws } = await within(connect(`ws://127.0.0.1:${gw.port}/ws/close-server`), 5_000, 'the WebSocket to open');
    const clientClosed = closed(ws);
    ws.send('server-close');
    assert.deepEqual(await within(clientClosed, 5_000, 'the client to see the close'), { code: 4001, reason: 'server says bye' });
  });

  it('closes the upstream side when the client connection drops without a close frame', async () => {
    const { ws } = await within(connect(`ws://127.0.0.1:${gw.port}/ws/drop`), 5_000, 'the WebSocket to open');
    await waitFor(() => upgradeUrls.at(-1) === '/ws/drop', 'the upstream side to exist');
    const upstreamClosed = closed(serverSide.at(-1)!);
    ws.terminate();
    const { code } = await within(upstreamClosed, 5_000, 'the upstream to see the connection drop');
    assert.equal(code, 1006);
  });

  it('answers the handshake with a valid 101: Connection: Upgrade and Upgrade: websocket (RFC 6455 §4.2.2)', async () => {
    const { head } = await rawUpgrade(gw.port, HANDSHAKE('/ws/handshake'), (h) => h.length > 0);
    const lines = head.split('\r\n');
    assert.match(lines[0]!, /^HTTP\/1\.1 101 /);
    const field = (name: string): string | undefined => lines.find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
    assert.equal(field('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.match(field('upgrade') ?? '', /^websocket$/i);
    assert.match(field('connection') ?? '', /\bupgrade\b/i, `101 without Connection: Upgrade:\n${head}`);
  });

  it('delivers a frame sent together with the handshake, and a frame the upstream sends at once', async () => {
    const data = Buffer.concat([Buffer.from(HANDSHAKE('/ws/greet')), maskedTextFrame('early bird')]);
    const { head, frames } = await rawUpgrade(gw.port, data, (_h, f) => f.length >= 2);
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.deepEqual([...frames].sort(), ['early bird', 'welcome']);
  });

  it('refuses an upgrade with too many header fields (431), like any request', async () => {
    const limited = await startGateway({ server: { limits: { maxHeaderCount: 10 } }, routes: [{ path: '/ws/*', upstream: upstream.url, websocket: true }] });
    try {
      const before = upgradeUrls.length;
      const extra = Array.from({ length: 20 }, (_, i) => `X-H${i}: v`);
      const { head } = await rawUpgrade(limited.port, HANDSHAKE('/ws/many-headers', extra), (h) => h.length > 0);
      assert.match(head, /^HTTP\/1\.1 431 /);
      assert.equal(upgradeUrls.length, before);
    } finally {
      await limited.close();
    }
  });

  it('answers promptly with an HTTP error when the upstream refuses the upgrade', async () => {
    const refusing = await startUpstream();
    refusing.server.on('upgrade', (_req, socket: net.Socket) => {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nconnection: close\r\n\r\nnope\n');
    });
    const proxy = await startGateway({ routes: [{ path: '/ws/*', upstream: refusing.url, websocket: true }] });
    try {
      const { refused } = await within(connect(`ws://127.0.0.1:${proxy.port}/ws/x`), 5_000, 'the handshake to be refused');
      assert.ok(refused);
      // Today the refusal arrives as a 502 catalogue error (undici's upgrade() rejects non-101 answers).
      assert.ok(refused.status >= 400 && refused.status < 600, `status ${refused.status}`);
    } finally {
      await proxy.close();
      await refusing.close();
    }
  });

  it('answers an upgrade to an unrouted path with an HTTP 404, not a hang', async () => {
    const { refused } = await within(connect(`ws://127.0.0.1:${gw.port}/not-routed`), 5_000, 'the handshake to be refused');
    assert.ok(refused);
    assert.equal(refused.status, 404);
    assert.equal(JSON.parse(refused.body).error.code, 'ISOGATE_ERR_NOT_FOUND');
  });

  it('answers an upgrade to a dead upstream with an HTTP 502, not a hang', async () => {
    const { refused } = await within(connect(`ws://127.0.0.1:${deadGw.port}/ws/x`), 5_000, 'the handshake to be refused');
    assert.ok(refused);
    assert.equal(refused.status, 502);
    assert.equal(JSON.parse(refused.body).error.code, 'ISOGATE_ERR_UPSTREAM_UNAVAILABLE');
  });
});

describe('server-sent events through the gateway', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ routes: [{ path: '/events', upstream: upstream.url, timeout: { idle: 0 } }] });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('delivers each event as it is sent, before the stream ends', async () => {
    const releases = [deferred(), deferred()];
    upstream.handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('id: 1\ndata: first\n\n');
      await within(releases[0]!.promise, 10_000, 'release of event 2');
      res.write('id: 2\ndata: second\n\n');
      await within(releases[1]!.promise, 10_000, 'release of the end');
      res.end('id: 3\ndata: last\n\n');
    };

    const res = await request(`${gw.url}/events`, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(15_000) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    const iterator = res.body[Symbol.asyncIterator]();
    let received = '';
    async function readUntil(marker: string, what: string): Promise<void> {
      for (let i = 0; i < 50 && !received.includes(marker); i++) {
        const next = await within(iterator.next(), 5_000, what);
        if (next.done) break;
        received += Buffer.from(next.value as Buffer).toString();
      }
      assert.ok(received.includes(marker), `expected ${JSON.stringify(marker)} in ${JSON.stringify(received)}`);
    }

    await readUntil('data: first\n\n', 'the first event while the upstream holds the stream open');
    assert.ok(!received.includes('second'));
    releases[0]!.resolve();
    await readUntil('data: second\n\n', 'the second event');
    assert.ok(!received.includes('last'));
    releases[1]!.resolve();
    for (let i = 0; i < 50; i++) {
      const next = await within(iterator.next(), 5_000, 'the end of the stream');
      if (next.done) break;
      received += Buffer.from(next.value as Buffer).toString();
    }
    assert.equal(received, 'id: 1\ndata: first\n\nid: 2\ndata: second\n\nid: 3\ndata: last\n\n');
  });
});
