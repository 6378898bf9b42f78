import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, rawRequest, type RawResponse } from '../../helpers/http-client.ts';
import { readBody, startUpstream, type Echo, type Upstream } from '../../helpers/upstream.ts';
import { deferred, within } from '../../helpers/wait.ts';

function get(path: string, extraHeaders: string[] = []): string {
  return [`GET ${path} HTTP/1.1`, 'Host: gw.example', 'Connection: close', ...extraHeaders, '', ''].join('\r\n');
}

function assertError(res: RawResponse, status: number, code: string): void {
  assert.equal(res.status, status, `${res.status} ${res.text}`);
  assert.equal(errorCode(res.text), code, res.text);
}

describe('server limits', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      server: {
        limits: { maxHeaderCount: 10, maxHeaderBytes: '2kb', maxUrlLength: 200, maxBodyBytes: '1kb' },
        timeouts: { headers: '500ms', request: '1500ms' },
      },
      routes: [{ path: '/*', upstream: upstream.url, timeout: { headers: '10s', idle: '10s' } }],
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  describe('header count and size → 431', () => {
    it('accepts exactly maxHeaderCount fields', async () => {
      const headers = Array.from({ length: 8 }, (_, i) => `X-H${i}: v`); // + Host + Connection = 10
      const res = await rawRequest(gw.port, get('/count-ok', headers));
      assert.equal(res.status, 200, res.text);
    });

    it('answers 431 for one field more, without reaching the upstream', async () => {
      const before = upstream.requests.length;
      const headers = Array.from({ length: 9 }, (_, i) => `X-H${i}: v`); // 11 fields
      const res = await rawRequest(gw.port, get('/count-over', headers));
      assertError(res, 431, 'ISOGATE_ERR_HEADERS_TOO_LARGE');
      const many = await rawRequest(gw.port, get('/count-way-over', Array.from({ length: 60 }, (_, i) => `X-H${i}: v`)));
      assertError(many, 431, 'ISOGATE_ERR_HEADERS_TOO_LARGE');
      assert.equal(upstream.requests.length, before);
    });

    it('answers 431 for a header block over maxHeaderBytes', async () => {
      const before = upstream.requests.length;
      const res = await rawRequest(gw.port, get('/big-header', [`X-Big: ${'a'.repeat(4096)}`]));
      assertError(res, 431, 'ISOGATE_ERR_HEADERS_TOO_LARGE');
      assert.equal(upstream.requests.length, before);
    });
  });

  it('answers 414 for a request-target over maxUrlLength', async () => {
    const before = upstream.requests.length;
    const ok = await rawRequest(gw.port, get(`/${'a'.repeat(150)}`));
    assert.equal(ok.status, 200);
    const res = await rawRequest(gw.port, get(`/${'a'.repeat(300)}`));
    assertError(res, 414, 'ISOGATE_ERR_URI_TOO_LONG');
    const query = await rawRequest(gw.port, get(`/q?x=${'a'.repeat(300)}`));
    assertError(query, 414, 'ISOGATE_ERR_URI_TOO_LONG');
    assert.equal(upstream.requests.length, before + 1);
  });

  describe('body size → 413', () => {
    it('refuses a declared Content-Length over the limit before reading the body; the upstream never sees it', async () => {
      const before = upstream.requests.length;
      // Only the head is sent: the answer must come without the body.
      const head = ['POST /upload HTTP/1.1', 'Host: gw.example', 'Content-Type: application/octet-stream', 'Content-Length: 4096', '', ''].join('\r\n');
      const res = await rawRequest(gw.port, head, { timeoutMs: 5_000 });
      assertError(res, 413, 'ISOGATE_ERR_BODY_TOO_LARGE');
      assert.equal(upstream.requests.length, before);
      // What happens to the body the client still sends: test/e2e/proxy/request-body-linger.test.ts.
    });

    it('accepts a body of exactly maxBodyBytes', async () => {
      const body = 'x'.repeat(1024);
      const res = await rawRequest(gw.port, ['POST /exact HTTP/1.1', 'Host: gw.example', 'Connection: close', `Content-Length: ${body.length}`, '', body].join('\r\n'));
      assert.equal(res.status, 200, res.text);
      assert.equal((JSON.parse(res.text) as Echo).body.length, 1024);
    });

    it('answers 413 for a chunked body that crosses the limit while streaming', async () => {
      const chunk = 'y'.repeat(512);
      const chunks = Array.from({ length: 6 }, () => `200\r\n${chunk}\r\n`).join('') + '0\r\n\r\n'; // 3 KiB
      const res = await rawRequest(gw.port, ['POST /chunked HTTP/1.1', 'Host: gw.example', 'Transfer-Encoding: chunked', '', chunks].join('\r\n'));
      assertError(res, 413, 'ISOGATE_ERR_BODY_TOO_LARGE');
    });

    it('passes a chunked body under the limit', async () => {
      const res = await rawRequest(gw.port, ['POST /chunked-ok HTTP/1.1', 'Host: gw.example', 'Connection: close', 'Transfer-Encoding: chunked', '', '5\r\nhello\r\n0\r\n\r\n'].join('\r\n'));
      assert.equal(res.status, 200, res.text);
      assert.equal((JSON.parse(res.text) as Echo).body, 'hello');
    });
  });

  describe('client timeouts → 408', () => {
    it('answers 408 when the request head is not complete within timeouts.headers', async () => {
      const res = await rawRequest(gw.port, 'GET /slow HTTP/1.1\r\nHost: gw.example\r\nX-Slow: ', { timeoutMs: 5_000 });
      assertError(res, 408, 'ISOGATE_ERR_REQUEST_TIMEOUT');
    });

    it('answers 408 when the body is not complete within timeouts.request', async () => {
      const arrived = deferred();
      const saved = upstream.handler;
      upstream.handler = async (req, res) => {
        arrived.resolve();
        req.on('error', () => {});
        const body = await readBody(req).catch(() => null);
        if (body !== null) res.end('unexpected: got the whole body');
      };
      try {
        const res = await rawRequest(gw.port, ['POST /slow-body HTTP/1.1', 'Host: gw.example', 'Content-Length: 100', '', 'only-part'].join('\r\n'), { timeoutMs: 6_000 });
        assertError(res, 408, 'ISOGATE_ERR_REQUEST_TIMEOUT');
      } finally {
        upstream.handler = saved;
      }
    });
  });
});

describe('malformed and ambiguous requests', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ routes: [{ path: '/*', upstream: upstream.url }] });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const cases: [name: string, request: string][] = [
    ['Content-Length with Transfer-Encoding', 'POST /x HTTP/1.1\r\nHost: gw.example\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'POST /x HTTP/1.1\r\nHost: gw.example\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['chunked not last in Transfer-Encoding', 'POST /x HTTP/1.1\r\nHost: gw.example\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n'],
    ['obsolete line folding', 'GET /x HTTP/1.1\r\nHost: gw.example\r\nX-A: b\r\n c\r\n\r\n'],
    ['whitespace before the colon', 'GET /x HTTP/1.1\r\nHost: gw.example\r\nX-A : b\r\n\r\n'],
    ['HTTP/1.1 without Host', 'GET /x HTTP/1.1\r\n\r\n'],
  ];

  for (const [name, request] of cases) {
    it(`refuses ${name} with the catalogue 400 and never forwards it`, async () => {
      const before = upstream.requests.length;
      const res = await rawRequest(gw.port, request);
      assert.equal(res.status, 400, res.text);
      assert.equal(errorCode(res.text), 'ISOGATE_ERR_BAD_REQUEST', `body is not the catalogue error: ${JSON.stringify(res.text)}`);
      assert.equal(upstream.requests.length, before);
    });
  }
});

describe('path normalisation end to end', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ routes: [{ path: '/*', upstream: upstream.url }] });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function seen(target: string, host = 'gw.example'): Promise<Echo> {
    const res = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 200, `${target}: ${res.status} ${res.text}`);
    return JSON.parse(res.text) as Echo;
  }

  async function refused(target: string): Promise<void> {
    const before = upstream.requests.length;
    const res = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 400, `${target}: ${res.status} ${res.text}`);
    assert.ok(res.text === '' || errorCode(res.text) !== null, `${target}: error body is the catalogue: ${res.text}`);
    assert.equal(upstream.requests.length, before, `${target} reached the upstream`);
  }

  it('`//evil.example/x` stays a path on the configured upstream', async () => {
    const echo = await seen('//evil.example/x');
    assert.equal(echo.url, '/evil.example/x');
    assert.equal(echo.headers['host'], upstream.host);
  });

  it('resolves dot segments and merges slashes before forwarding', async () => {
    assert.equal((await seen('/a/./b/../c')).url, '/a/c');
    assert.equal((await seen('/a//b///c')).url, '/a/b/c');
    assert.equal((await seen('/../../etc/passwd')).url, '/etc/passwd');
    assert.equal((await seen('/a/%7Euser/%41')).url, '/a/~user/A');
  });

  it('forwards the query string unchanged', async () => {
    assert.equal((await seen('/a/./b?x=1%2F&y=..%2F')).url, '/a/b?x=1%2F&y=..%2F');
  });

  it('refuses encoded dot segments, encoded slashes and backslashes with 400', async () => {
    await refused('/a/%2e%2e/b');
    await refused('/a/%2E%2E/b');
    await refused('/a/%2e/b');
    await refused('/%2F');
    await refused('/a%2fb');
    await refused('/a%5Cb');
    await refused('/a/%00');
    await refused('/a/%zz');
  });

  it('routes an absolute-form target by its path only; the upstream Host stays its own', async () => {
    const echo = await seen('http://other.example/x?y=1', 'gw.example');
    assert.equal(echo.url, '/x?y=1');
    assert.equal(echo.headers['host'], upstream.host);
    // RFC 9112 §3.2.2: the target's authority replaces the client's Host header.
    assert.equal(echo.headers['x-forwarded-host'], 'other.example');
  });

  it('refuses absolute-form targets with other schemes', async () => {
    const before = upstream.requests.length;
    const res = await rawRequest(gw.port, 'GET ftp://other.example/x HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 400);
    assert.equal(upstream.requests.length, before);
  });

  it('never lets a raw socket leave the connection hanging on a malformed request line', async () => {
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    const closedOrAnswered = deferred<string>();
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('close', () => closedOrAnswered.resolve(got));
    socket.write('GARBAGE\r\n\r\n');
    const text = await within(closedOrAnswered.promise, 5_000, 'the gateway to answer and close');
    assert.match(text, /^HTTP\/1\.1 400 /);
  });
});
