import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, startGateway, type RunningGateway } from '../../../runtime/src/index.ts';
import { readBody, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { deferred, within } from '../../helpers/wait.ts';

// End to end through real sockets: plugins that declared `requestBody` / `responseBody` read and
// change bodies within their bound; a plugin that declared nothing leaves bodies streaming.
const examples = path.resolve(import.meta.dirname, '../../../examples/plugins');
let dir: string;
let upstream: Upstream;
let running: RunningGateway;
let releaseStream = deferred();

const PLUGINS: Record<string, string> = {
  'upper.ts': `import { definePlugin } from '@isogate/sdk';
export default definePlugin({
  name: 'upper',
  version: '1.0.0',
  requestBody: 'text',
  maxBodyBytes: 1024,
  onRequest(req) { (req as { body: unknown }).body = String(req.body).toUpperCase(); },
});
`,
  'json-in.ts': `import { definePlugin } from '@isogate/sdk';
export default definePlugin({
  name: 'json-in',
  version: '1.0.0',
  requestBody: 'json',
  onRequest(req) { (req.body as Record<string, unknown>)['checked'] = true; },
});
`,
  'small-res.ts': `import { definePlugin } from '@isogate/sdk';
export default definePlugin({
  name: 'small-res',
  version: '1.0.0',
  responseBody: 'text',
  maxBodyBytes: 1024,
  onResponse(res) { res.headers.set('x-length', String(String(res.body).length)); },
});
`,
};

interface Echoed {
  body: string;
  contentLength: string | null;
  transferEncoding: string | null;
}

before(async () => {
  upstream = await startUpstream(async (req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/rewrite')) {
      const body = JSON.stringify({ id: 7, name: 'widget', secret: 'hunter2' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), etag: '"abc"' });
      res.end(body);
    } else if (url.startsWith('/big/chunked')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 8; i++) res.write('x'.repeat(512));
      res.end();
    } else if (url.startsWith('/big/length')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 4096 });
      res.end('y'.repeat(4096));
    } else if (url.startsWith('/big/fits')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('z'.repeat(1024));
    } else if (url.startsWith('/stream')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      await releaseStream.promise;
      res.end('last');
    } else {
      const body = (await readBody(req)).toString('utf8');
      const echoed: Echoed = { body, contentLength: req.headers['content-length'] ?? null, transferEncoding: req.headers['transfer-encoding'] ?? null };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(echoed));
    }
  });
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-bodies-'));
  for (const [file, source] of Object.entries(PLUGINS)) await fs.writeFile(path.join(dir, file), source);
  const example = (file: string) => JSON.stringify(path.join(examples, file));
  await fs.writeFile(
    path.join(dir, 'gateway.config.ts'),
    `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: {
    upper: usePlugin<typeof import('./upper.ts')>('./upper.ts', {}),
    jsonIn: usePlugin<typeof import('./json-in.ts')>('./json-in.ts', {}),
    smallRes: usePlugin<typeof import('./small-res.ts')>('./small-res.ts', {}),
    rewrite: usePlugin<typeof import(${example('json-rewrite.ts')})>(${example('json-rewrite.ts')}, { remove: ['secret'] }),
    tag: usePlugin<typeof import(${example('add-header.ts')})>(${example('add-header.ts')}, { name: 'x-tag', value: 'tagged' }),
  },
  routes: [
    { path: '/upper/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['upper'] },
    { path: '/json/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['jsonIn'] },
    { path: '/rewrite/*', name: 'rewrite', upstream: ${JSON.stringify(upstream.url)}, middleware: ['rewrite'] },
    { path: '/big/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['smallRes'] },
    { path: '/stream/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['tag'] },
  ],
});
`,
  );
  running = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, watch: false, logger: silentLogger() });
});

after(async () => {
  releaseStream.resolve();
  await running?.stop();
  await upstream?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** A raw request, so the body can go chunked and the answer be read even when the gateway refuses early. */
function send(pathname: string, chunks: string[], headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const done = deferred<{ status: number; headers: http.IncomingHttpHeaders; body: string }>();
  const req = http.request(`${running.url}${pathname}`, { method: 'POST', agent: false, headers }, (res) => {
    readBody(res).then((b) => done.resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b.toString() }), done.reject);
  });
  // The gateway may answer and close before it has read everything: that is the point of an early 413.
  req.on('error', () => {});
  for (const chunk of chunks) req.write(chunk);
  req.end();
  return within(done.promise, 10_000, `response to ${pathname}`);
}

function errorCode(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

describe('plugin bodies end to end', () => {
  it('a request body changed by onRequest arrives upstream with its own length', async () => {
    const res = await fetch(`${running.url}/upper/x`, { method: 'POST', body: 'hello body' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { body: 'HELLO BODY', contentLength: '10', transferEncoding: null });
  });

  it('a chunked request body is buffered and re-sent with a Content-Length', async () => {
    const res = await send('/upper/x', ['ça ', 'va ', 'bien'], { 'transfer-encoding': 'chunked' });
    assert.equal(res.status, 200);
    const echoed = JSON.parse(res.body) as Echoed;
    assert.equal(echoed.body, 'ÇA VA BIEN');
    assert.equal(echoed.contentLength, String(Buffer.byteLength('ÇA VA BIEN')));
    assert.equal(echoed.transferEncoding, null);
  });

  it('a JSON request body is parsed, edited in place and forwarded; invalid JSON is a coded 400', async () => {
    const ok = await fetch(`${running.url}/json/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"order":1}' });
    assert.deepEqual(JSON.parse(((await ok.json()) as Echoed).body), { order: 1, checked: true });
    const seenBefore = upstream.requests.length;
    const bad = await fetch(`${running.url}/json/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"order":' });
    assert.equal(bad.status, 400);
    assert.equal(errorCode(await bad.text()), 'ISOGATE_ERR_BAD_JSON');
    assert.equal(upstream.requests.length, seenBefore);
  });

  it('over the bound, a request answers 413: at once by Content-Length, or when chunks cross it', async () => {
    const seenBefore = upstream.requests.length;
    const declared = await send('/upper/x', ['a'.repeat(2000)], { 'content-length': '2000' });
    assert.equal(declared.status, 413);
    assert.equal(errorCode(declared.body), 'ISOGATE_ERR_BODY_TOO_LARGE');
    const chunked = await send('/upper/x', ['a'.repeat(600), 'b'.repeat(600)], { 'transfer-encoding': 'chunked' });
    assert.equal(chunked.status, 413);
    assert.equal(errorCode(chunked.body), 'ISOGATE_ERR_BODY_TOO_LARGE');
    assert.equal(upstream.requests.length, seenBefore, 'the upstream never saw them');
  });

  it('rewrites a JSON response: fields removed, stamp added, length right, etag gone', async () => {
    const res = await fetch(`${running.url}/rewrite/items/7`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), { id: 7, name: 'widget', _gateway: { route: 'rewrite' } });
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
    assert.equal(res.headers.get('etag'), null);
    assert.equal(res.headers.get('content-type'), 'application/json');
  });

  it('an upstream response over the bound answers a coded 502, chunked or by Content-Length; at the bound it passes', async () => {
    for (const which of ['chunked', 'length']) {
      const res = await fetch(`${running.url}/big/${which}`);
      assert.equal(res.status, 502, which);
      assert.equal(errorCode(await res.text()), 'ISOGATE_ERR_UPSTREAM_RESPONSE_TOO_LARGE');
    }
    const fits = await fetch(`${running.url}/big/fits`);
    assert.equal(fits.status, 200);
    assert.equal(fits.headers.get('x-length'), '1024');
    assert.equal((await fits.text()).length, 1024);
  });

  it('a plugin without body declarations never buffers: the first chunk reaches the client before the upstream ends', async () => {
    releaseStream = deferred();
    const res = await fetch(`${running.url}/stream/x`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), null);
    const reader = res.body!.getReader();
    const first = await within(reader.read(), 5_000, 'the first chunk while the upstream holds the rest');
    assert.equal(Buffer.from(first.value!).toString(), 'first;');
    releaseStream.resolve();
    let rest = '';
    for (;;) {
      const { done, value } = await within(reader.read(), 5_000, 'the rest of the stream');
      if (done) break;
      rest += Buffer.from(value).toString();
    }
    assert.equal(rest, 'last');
  });
});
