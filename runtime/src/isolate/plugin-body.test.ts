import assert from 'node:assert/strict';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { compose } from '../chain/compose.ts';
import { testRequest } from '../chain/test-request.ts';
import type { GatewayRequest, GatewayResponse, Handler, HeaderMap } from '../chain/types.ts';
import { silentLogger } from '../logging/logger.ts';
import { bundlePlugin } from './bundle-plugin.ts';
import { createPluginMiddleware } from './plugin-middleware.ts';
import { PluginHost } from './plugin-host.ts';
import { streamOrBytes } from '../proxy/upstream-body.ts';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const root = path.resolve(import.meta.dirname, '../../..');
const limits = { memoryMb: 32, cpuMs: 200, wallMs: 1_000 };

function stream(...chunks: (string | Uint8Array)[]): Readable {
  return Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)), { objectMode: false });
}

function request(body: Readable | null, headers: HeaderMap = {}): GatewayRequest {
  return testRequest({ method: 'POST', path: '/x', headers: { host: 'gw', ...headers }, clientIp: '203.0.113.7', remoteAddress: '203.0.113.7', body, route: { name: 'body-route' } as GatewayRequest['route'] });
}

async function text(given: GatewayResponse['body'] | GatewayRequest['body']): Promise<string> {
  const body = streamOrBytes({ body: given });
  if (body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks).toString();
  }
  return Buffer.from(body).toString();
}

/** What the fake upstream saw, and what it answers next. */
let seen: { headers: HeaderMap; body: string; raw: Buffer; bodyWasStream: Readable | null } | null = null;
let answer: () => GatewayResponse = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: stream('{"a":1,"secret":"s"}') });
const terminal: Handler = async (req) => {
  const original = req.body;
  const chunks: Buffer[] = [];
  for await (const chunk of req.body ?? []) chunks.push(Buffer.from(chunk as Uint8Array));
  const raw = Buffer.concat(chunks);
  seen = { headers: { ...req.headers }, body: raw.toString(), raw, bodyWasStream: original };
  return answer();
};

async function load(file: string, options: unknown = {}): Promise<{ host: PluginHost; handler: Handler }> {
  const host = await PluginHost.create(path.basename(file), await bundlePlugin(file), options, limits, silentLogger());
  const handler = compose([{ name: 'p', middleware: createPluginMiddleware(host, 'p', 'fail-closed', silentLogger()) }], terminal);
  return { host, handler };
}

async function errorCode(res: GatewayResponse): Promise<string> {
  return (JSON.parse(await text(res.body)) as { error: { code: string } }).error.code;
}

function jsonAnswer(body: string, headers: HeaderMap = {}): () => GatewayResponse {
  return () => ({ status: 200, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), etag: '"v1"', ...headers }, body: stream(body) });
}

describe('plugin bodies: json', () => {
  let host: PluginHost;
  let handler: Handler;
  before(async () => ({ host, handler } = await load(path.join(fixtures, 'body-json.ts'))));
  after(() => host.dispose());

  it('hands the parsed request body to onRequest and forwards it unchanged (same bytes) when untouched', async () => {
    answer = jsonAnswer('{"a":1}');
    const raw = '{ "x" : [1, 2] }';
    const res = await handler(request(stream(raw), { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
    assert.equal(res.status, 200);
    assert.equal(seen!.headers['x-req-body-type'], 'object');
    assert.equal(seen!.body, raw);
    assert.equal(seen!.headers['content-length'], String(raw.length));
    assert.equal(seen!.headers['transfer-encoding'], undefined);
  });

  it('forwards a body edited in place, or replaced, with a correct length', async () => {
    answer = jsonAnswer('{"a":1}');
    await handler(request(stream('{"x":1}'), { 'x-mode': 'mutate', 'content-length': '7' }));
    assert.deepEqual(JSON.parse(seen!.body), { x: 1, seen: true });
    assert.equal(seen!.headers['content-length'], String(Buffer.byteLength(seen!.body)));

    await handler(request(stream('[1]'), { 'x-mode': 'replace', 'content-length': '3' }));
    assert.equal(seen!.body, '{"replaced":true}');
    assert.equal(seen!.headers['content-length'], '17');
    assert.equal(seen!.headers['content-type'], 'application/json; charset=utf-8');

    await handler(request(stream('[1]'), { 'x-mode': 'empty', 'content-length': '3' }));
    assert.equal(seen!.body, '');
    assert.equal(seen!.bodyWasStream, null);
    assert.equal(seen!.headers['content-length'], '0');
  });

  it('gives undefined for an empty or absent body, and a direct answer can echo the value', async () => {
    await handler(request(null));
    assert.equal(seen!.headers['x-req-body-type'], 'undefined');
    const res = await handler(request(stream('{"deep":{"v":[true,null]}}'), { 'x-mode': 'echo', 'content-length': '26' }));
    assert.deepEqual(JSON.parse(await text(res.body)), { got: { deep: { v: [true, null] } } });
  });

  it('answers 400 ISOGATE_ERR_BAD_JSON for a request body that is not JSON, without calling the upstream', async () => {
    seen = null;
    const res = await handler(request(stream('{"x":'), { 'content-length': '5' }));
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'ISOGATE_ERR_BAD_JSON');
    assert.equal(seen, null);
  });

  it('answers 413 before reading when Content-Length is over the bound', async () => {
    seen = null;
    const body = new PassThrough();
    const res = await handler(request(body, { 'content-length': '2000' }));
    assert.equal(res.status, 413);
    assert.equal(await errorCode(res), 'ISOGATE_ERR_BODY_TOO_LARGE');
    assert.equal(body.readableFlowing, null, 'the body was never read');
    assert.equal(seen, null);
  });

  it('answers 413 when a chunked body crosses the bound', async () => {
    seen = null;
    const res = await handler(request(stream('[', '1,'.repeat(400), '1,'.repeat(400), '1]'), { 'transfer-encoding': 'chunked' }));
    assert.equal(res.status, 413);
    assert.equal(seen, null);
  });

  it('rewrites a JSON response edited in place; stale length and etag go', async () => {
    answer = jsonAnswer('{"a":1,"secret":"s"}');
    const res = await handler(request(null, { 'x-res-mode': 'mutate' }));
    const body = await text(res.body);
    assert.deepEqual(JSON.parse(body), { a: 1, added: 1 });
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(res.headers['etag'], undefined);
    assert.equal(res.headers['content-type'], 'application/json');
  });

  it('sends the upstream bytes unchanged (headers too) when the value is left alone or equal', async () => {
    for (const mode of ['keep', 'same']) {
      const raw = '{ "a" : 1 }';
      answer = jsonAnswer(raw);
      const res = await handler(request(null, { 'x-res-mode': mode }));
      assert.equal(await text(res.body), raw, mode);
      assert.equal(res.headers['etag'], '"v1"');
      assert.equal(res.headers['content-length'], String(raw.length));
      assert.equal(res.headers['x-res-body-type'], 'object');
    }
  });

  it('sends a string as is, null as no body, bytes as bytes', async () => {
    answer = jsonAnswer('{"a":1}');
    let res = await handler(request(null, { 'x-res-mode': 'string' }));
    assert.equal(await text(res.body), 'plain text');
    assert.equal(res.headers['content-length'], '10');
    res = await handler(request(null, { 'x-res-mode': 'null' }));
    assert.equal(await text(res.body), '');
    assert.equal(res.headers['content-length'], '0');
    res = await handler(request(null, { 'x-res-mode': 'bytes' }));
    assert.equal(await text(res.body), 'hi');
  });

  it('adds a JSON content type to a replaced body only when none was set', async () => {
    answer = () => ({ status: 200, headers: {}, body: stream('{}') });
    const res = await handler(request(null, { 'x-res-mode': 'replace' }));
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(await text(res.body), '{"replaced":true}');
  });

  it('an invalid JSON response reaches the hook as undefined and passes unchanged', async () => {
    answer = () => ({ status: 502, headers: { 'content-type': 'text/html' }, body: stream('<h1>bad gateway</h1>') });
    const res = await handler(request(null));
    assert.equal(res.headers['x-res-body-type'], 'undefined');
    assert.equal(await text(res.body), '<h1>bad gateway</h1>');
  });

  it('a gzip response is not buffered: the hook sees undefined and the stream goes on untouched', async () => {
    const upstreamBody = stream(Buffer.from([0x1f, 0x8b, 8, 0]));
    answer = () => ({ status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: upstreamBody });
    const res = await handler(request(null));
    assert.equal(res.headers['x-res-body-type'], 'undefined');
    assert.equal(res.body, upstreamBody);
  });

  it('a replaced gzip response loses its content-encoding and the upstream stream is discarded', async () => {
    const upstreamBody = stream(Buffer.from([0x1f, 0x8b, 8, 0]));
    answer = () => ({ status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: upstreamBody });
    const res = await handler(request(null, { 'x-res-mode': 'replace' }));
    assert.equal(await text(res.body), '{"replaced":true}');
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(upstreamBody.destroyed, true);
  });

  it('a response over the bound answers 502 ISOGATE_ERR_UPSTREAM_RESPONSE_TOO_LARGE and discards the upstream body', async () => {
    const declared = stream('x');
    answer = () => ({ status: 200, headers: { 'content-length': '5000' }, body: declared });
    let res = await handler(request(null));
    assert.equal(res.status, 502);
    assert.equal(await errorCode(res), 'ISOGATE_ERR_UPSTREAM_RESPONSE_TOO_LARGE');
    assert.equal(declared.destroyed, true);

    const chunked = new PassThrough();
    answer = () => ({ status: 200, headers: {}, body: chunked });
    const pending = handler(request(null));
    chunked.write('['.repeat(600));
    chunked.write('['.repeat(600));
    res = await pending;
    assert.equal(res.status, 502);
    assert.equal(chunked.destroyed, true);
  });

  it('a HEAD answer is not refused for the Content-Length it announces', async () => {
    answer = () => ({ status: 200, headers: { 'content-type': 'application/json', 'content-length': '5000' }, body: stream() });
    const res = await handler({ ...request(null), method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '5000');
    assert.equal(res.headers['x-res-body-type'], 'undefined');
  });

  it('a failing onResponse answers the coded 500 (fail-closed)', async () => {
    answer = jsonAnswer('{"a":1}');
    const res = await handler(request(null, { 'x-res-mode': 'throw' }));
    assert.equal(res.status, 500);
    assert.equal(await errorCode(res), 'ISOGATE_ERR_PLUGIN_FAILED');
  });

  it('fail-open keeps the buffered body and its headers as the upstream sent them', async () => {
    const open = compose([{ name: 'p', middleware: createPluginMiddleware(host, 'p', 'fail-open', silentLogger()) }], terminal);
    answer = jsonAnswer('{"a":1}');
    const res = await open(request(stream('{"x":1}'), { 'x-res-mode': 'throw', 'content-length': '7' }));
    assert.equal(res.status, 200);
    assert.equal(await text(res.body), '{"a":1}');
    assert.equal(res.headers['content-length'], '7');
  });
});

describe('plugin bodies: text', () => {
  let host: PluginHost;
  let handler: Handler;
  before(async () => ({ host, handler } = await load(path.join(fixtures, 'body-text.ts'))));
  after(() => host.dispose());

  it('hands UTF-8 text both ways and forwards a replaced request body', async () => {
    answer = () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: stream('héllo') });
    const res = await handler(request(stream('ça va'), { 'x-mode': 'upper', 'x-res-mode': 'wrap', 'transfer-encoding': 'chunked' }));
    assert.equal(decodeURIComponent(String(seen!.headers['x-req-body'])), 'ça va');
    assert.equal(seen!.body, 'ÇA VA');
    assert.equal(seen!.headers['content-length'], String(Buffer.byteLength('ÇA VA')));
    assert.equal(decodeURIComponent(String(res.headers['x-res-body'])), 'héllo');
    assert.equal(await text(res.body), '[héllo]');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength('[héllo]')));
  });

  it('an absent request body reads as the empty string', async () => {
    answer = () => ({ status: 204, headers: {}, body: null });
    const res = await handler(request(null, { 'x-res-mode': 'wrap' }));
    assert.equal(seen!.headers['x-req-body'], '');
    assert.equal(await text(res.body), '[]');
    assert.equal(res.headers['content-length'], undefined, 'no length on a 204');
  });

  it('the bound is exact: 16 bytes pass, 17 answer 413', async () => {
    answer = () => ({ status: 200, headers: {}, body: stream('ok') });
    assert.equal((await handler(request(stream('x'.repeat(16)), { 'transfer-encoding': 'chunked' }))).status, 200);
    assert.equal((await handler(request(stream('x'.repeat(8), 'x'.repeat(9)), { 'transfer-encoding': 'chunked' }))).status, 413);
  });

  it('a gzip request body streams to the upstream untouched and the hook sees undefined', async () => {
    answer = () => ({ status: 200, headers: {}, body: stream('ok') });
    const body = stream('x'.repeat(100));
    await handler(request(body, { 'content-encoding': 'gzip', 'content-length': '100' }));
    assert.equal(seen!.headers['x-req-body'], '(undefined)');
    assert.equal(seen!.bodyWasStream, body);
    assert.equal(seen!.body.length, 100);
  });
});

describe('plugin bodies: bytes', () => {
  let host: PluginHost;
  let handler: Handler;
  before(async () => ({ host, handler } = await load(path.join(fixtures, 'body-bytes.ts'))));
  after(() => host.dispose());

  it('round-trips every byte value at every padding length through the in-isolate base64 codec', async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const size of [0, 1, 2, 3, 4, 5, 256]) {
      const input = all.subarray(0, size);
      answer = () => ({ status: 200, headers: {}, body: stream(Buffer.from(input)) });
      const res = await handler(request(size === 0 ? null : stream(Buffer.from(input)), { 'x-mode': 'flip', 'x-res-mode': 'flip', 'content-length': String(size) }));
      const flipped = Buffer.from(input.map((b) => 255 - b));
      assert.equal(seen!.headers['x-req-bytes'], `true:${size}:${Array.from(input.subarray(0, 8)).join(',')}`);
      assert.deepEqual(seen!.raw, flipped, `forwarded, size ${size}`);
      assert.equal(seen!.headers['content-length'], String(size));
      assert.equal(res.headers['x-res-bytes'], `true:${size}`);
      const got = res.body instanceof Uint8Array ? Buffer.from(res.body) : Buffer.from(await text(res.body));
      assert.deepEqual(got, flipped, `size ${size}`);
    }
  });

  it('bytes are given even for a gzip body, and content-encoding stays with replaced bytes', async () => {
    answer = () => ({ status: 200, headers: { 'content-encoding': 'gzip' }, body: stream(Buffer.from([1, 2, 3])) });
    const res = await handler(request(null, { 'x-res-mode': 'flip' }));
    assert.equal(res.headers['x-res-bytes'], 'true:3');
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.deepEqual(Buffer.from(res.body as Uint8Array), Buffer.from([254, 253, 252]));
  });
});

describe('plugin bodies: not declared', () => {
  it('never buffers: the request and response streams pass through as the same objects', async () => {
    for (const file of [path.join(fixtures, 'body-undeclared.ts'), path.join(root, 'examples/plugins/add-header.ts')]) {
      const { host } = await load(file, file.endsWith('add-header.ts') ? { name: 'x-a', value: '1' } : {});
      try {
        const upstreamBody = new PassThrough();
        upstreamBody.write('first');
        let forwarded: Readable | null = null;
        const h = compose([{ name: 'p', middleware: createPluginMiddleware(host, 'p', 'fail-closed', silentLogger()) }], async (req) => {
          forwarded = req.body;
          return { status: 200, headers: {}, body: upstreamBody };
        });
        const body = new PassThrough();
        const res = await h(request(body, { 'transfer-encoding': 'chunked' }));
        assert.equal(forwarded, body);
        assert.equal(res.body, upstreamBody, 'the response was returned before its upstream ended');
        assert.equal(body.readableFlowing, null);
        upstreamBody.destroy();
      } finally {
        host.dispose();
      }
    }
  });
});

describe('json-rewrite example', () => {
  it('removes configured fields and stamps the route, on objects and arrays of objects', async () => {
    const { host, handler } = await load(path.join(root, 'examples/plugins/json-rewrite.ts'), { remove: ['secret', 'internal'] });
    try {
      answer = jsonAnswer('{"id":1,"secret":"s","internal":{"x":1}}');
      let res = await handler(request(null));
      assert.deepEqual(JSON.parse(await text(res.body)), { id: 1, _gateway: { route: 'body-route' } });
      answer = jsonAnswer('[{"id":1,"secret":"s"},2]');
      res = await handler(request(null));
      assert.deepEqual(JSON.parse(await text(res.body)), [{ id: 1, _gateway: { route: 'body-route' } }, 2]);
      answer = () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: stream('not json') });
      res = await handler(request(null));
      assert.equal(await text(res.body), 'not json');
    } finally {
      host.dispose();
    }
  });

  it('rejects options of the wrong shape', async () => {
    await assert.rejects(load(path.join(root, 'examples/plugins/json-rewrite.ts'), { remove: 'secret' }));
  });
});
