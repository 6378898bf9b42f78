import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, httpRequest, rawHeader, rawRequest } from '../../helpers/http-client.ts';
import { echoHandler, startUpstream, type Echo, type Upstream } from '../../helpers/upstream.ts';

describe('header handling', () => {
  let upstream: Upstream;
  /** No trusted proxies, underscore headers dropped (defaults). */
  let open: TestGateway;
  /** 127.0.0.1 is a trusted proxy; one route preserves Host. */
  let trusting: TestGateway;
  /** underscoreHeaders: 'reject'. */
  let strict: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    open = await startGateway({
      routes: [
        { path: '/preserve/*', upstream: upstream.url, preserveHost: true },
        { path: '/*', upstream: upstream.url },
      ],
    });
    trusting = await startGateway({ server: { trustedProxies: ['127.0.0.1'] }, routes: [{ path: '/*', upstream: upstream.url }] });
    strict = await startGateway({ server: { underscoreHeaders: 'reject' }, routes: [{ path: '/*', upstream: upstream.url }] });
  });

  after(async () => {
    await open?.close();
    await trusting?.close();
    await strict?.close();
    await upstream?.close();
  });

  async function echo(gw: TestGateway, path: string, headers: [string, string][] = [], method = 'GET', body?: string): Promise<Echo> {
    const res = await httpRequest(`${gw.url}${path}`, { method, headers, body });
    assert.equal(res.status, 200, res.text);
    return JSON.parse(res.text) as Echo;
  }

  describe('hop-by-hop fields', () => {
    it('drops TE values other than trailers', async () => {
      const raw = await rawRequest(open.port, ['GET /te HTTP/1.1', 'Host: gw.example', 'TE: gzip, trailers', 'Connection: close', '', ''].join('\r\n'));
      assert.equal((JSON.parse(raw.text) as Echo).headers['te'], undefined);
    });

    it('strips hop-by-hop request fields, including names listed in Connection', async () => {
      // Raw socket: node:http refuses to send a Trailer field on a body-less request.
      const body = '{}';
      const raw = await rawRequest(
        open.port,
        [
          'POST /hop HTTP/1.1',
          'Host: gw.example',
          'Connection: keep-alive, X-Secret',
          'X-Secret: do-not-forward',
          'Keep-Alive: timeout=99',
          'Proxy-Connection: keep-alive',
          'TE: trailers',
          'Trailer: x-checksum',
          'Proxy-Authorization: Basic Zm9vOmJhcg==',
          'Upgrade: h2c',
          'X-End-To-End: kept',
          'Content-Type: application/json',
          `Content-Length: ${body.length}`,
          '',
          body,
        ].join('\r\n'),
      );
      assert.equal(raw.status, 200, raw.text);
      const seen = JSON.parse(raw.text) as Echo;
      const h = seen.headers;
      assert.equal(h['x-secret'], undefined);
      assert.equal(h['keep-alive'], undefined);
      assert.equal(h['proxy-connection'], undefined);
      // The one TE value kept (as Envoy does): gRPC needs `te: trailers` on every request.
      assert.equal(h['te'], 'trailers');
      assert.equal(h['trailer'], undefined);
      assert.equal(h['proxy-authorization'], undefined);
      assert.equal(h['upgrade'], undefined);
      assert.doesNotMatch(String(h['connection'] ?? ''), /x-secret/i);
      assert.equal(h['x-end-to-end'], 'kept');
      assert.equal(seen.body, body);
    });

    it('strips `Connection: close, x-secret` named fields', async () => {
      const seen = await echo(open, '/hop-close', [
        ['Connection', 'close, x-secret'],
        ['X-Secret', 'do-not-forward'],
        ['X-Other', 'kept'],
      ]);
      assert.equal(seen.headers['x-secret'], undefined);
      assert.equal(seen.headers['x-other'], 'kept');
    });

    it('strips hop-by-hop response fields, including names the upstream listed in Connection', async () => {
      upstream.handler = (_req, res) => {
        res.setHeader('Connection', 'x-up');
        res.setHeader('X-Up', 'upstream-private');
        res.setHeader('Keep-Alive', 'timeout=99');
        res.setHeader('Proxy-Authenticate', 'Basic realm="up"');
        res.setHeader('Proxy-Connection', 'keep-alive');
        res.setHeader('Trailer', 'x-checksum');
        res.setHeader('X-End-To-End', 'kept');
        res.end('ok');
      };
      try {
        const res = await httpRequest(`${open.url}/hop-response`);
        assert.equal(res.status, 200);
        assert.equal(res.text, 'ok');
        assert.equal(res.headers['x-up'], undefined);
        assert.notEqual(res.headers['keep-alive'], 'timeout=99');
        assert.equal(res.headers['proxy-authenticate'], undefined);
        assert.equal(res.headers['proxy-connection'], undefined);
        assert.equal(res.headers['trailer'], undefined);
        assert.doesNotMatch(String(res.headers['connection'] ?? ''), /x-up/i);
        assert.equal(res.headers['x-end-to-end'], 'kept');
      } finally {
        upstream.handler = echoHandler;
      }
    });
  });

  describe('Via', () => {
    it('appends `1.1 isogate` to the request Via, or sets it', async () => {
      assert.equal((await echo(open, '/via')).headers['via'], '1.1 isogate');
      assert.equal((await echo(open, '/via', [['Via', '1.0 edge']])).headers['via'], '1.0 edge, 1.1 isogate');
    });

    it('appends `1.1 isogate` to the response Via, or sets it', async () => {
      const plain = await request(`${open.url}/via-response`);
      await plain.body.dump();
      assert.equal(plain.headers['via'], '1.1 isogate');

      upstream.handler = (_req, res) => {
        res.setHeader('Via', '1.0 backend');
        res.end('ok');
      };
      try {
        const res = await request(`${open.url}/via-response`);
        await res.body.dump();
        assert.equal(res.headers['via'], '1.0 backend, 1.1 isogate');
      } finally {
        upstream.handler = echoHandler;
      }
    });
  });

  describe('Host', () => {
    it("sends the upstream's own host by default", async () => {
      const seen = await echo(open, '/host', [['Host', 'public.example']]);
      assert.equal(seen.headers['host'], upstream.host);
      assert.equal(seen.headers['x-forwarded-host'], 'public.example');
    });

    it("sends the client's Host on a preserveHost route", async () => {
      const seen = await echo(open, '/preserve/x', [['Host', 'public.example']]);
      assert.equal(seen.headers['host'], 'public.example');
      assert.equal(seen.url, '/preserve/x');
    });
  });

  describe('X-Forwarded-*, Forwarded, X-Real-IP', () => {
    const spoofed: [string, string][] = [
      ['Host', 'gw.example'],
      ['X-Forwarded-For', '203.0.113.7'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'evil.example'],
      ['Forwarded', 'for=203.0.113.7;proto=https'],
      ['X-Real-IP', '203.0.113.7'],
    ];

    it('replaces client-supplied values when the peer is not trusted', async () => {
      const h = (await echo(open, '/xff', spoofed)).headers;
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      assert.equal(h['x-forwarded-proto'], 'http');
      assert.equal(h['x-forwarded-host'], 'gw.example');
      assert.equal(h['forwarded'], undefined);
      assert.equal(h['x-real-ip'], undefined);
    });

    it('sets them from the connection when the client sent none', async () => {
      const h = (await echo(open, '/xff', [['Host', 'gw.example']])).headers;
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      assert.equal(h['x-forwarded-proto'], 'http');
      assert.equal(h['x-forwarded-host'], 'gw.example');
    });

    it('keeps and appends to them when the peer is a trusted proxy', async () => {
      const h = (await echo(trusting, '/xff', spoofed)).headers;
      assert.equal(h['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
      assert.equal(h['x-forwarded-proto'], 'https');
      assert.equal(h['x-forwarded-host'], 'evil.example');
      assert.equal(h['forwarded'], 'for=203.0.113.7;proto=https');
      assert.equal(h['x-real-ip'], '203.0.113.7');
    });

    it('fills them in from a trusted peer that sent none', async () => {
      const h = (await echo(trusting, '/xff', [['Host', 'gw.example']])).headers;
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      assert.equal(h['x-forwarded-proto'], 'http');
      assert.equal(h['x-forwarded-host'], 'gw.example');
    });
  });

  describe('underscores in header names', () => {
    it('drops them by default and still forwards the request', async () => {
      const h = (await echo(open, '/underscore', [['X_User', 'admin'], ['X-User', 'alice']])).headers;
      assert.equal(h['x_user'], undefined);
      assert.equal(h['x-user'], 'alice');
    });

    it("answers 400 with underscoreHeaders: 'reject', and the upstream never sees the request", async () => {
      const before = upstream.requests.length;
      const res = await httpRequest(`${strict.url}/underscore`, { headers: [['X_User', 'admin']] });
      assert.equal(res.status, 400);
      assert.equal(errorCode(res.text), 'ISOGATE_ERR_UNDERSCORE_HEADER');
      assert.equal(upstream.requests.length, before);

      const ok = await httpRequest(`${strict.url}/underscore`, { headers: [['X-User', 'alice']] });
      assert.equal(ok.status, 200);
    });
  });

  describe('repeated response fields', () => {
    it('keeps every Set-Cookie as its own field', async () => {
      upstream.handler = (_req, res) => {
        res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3, with comma; Path=/']);
        res.end('ok');
      };
      try {
        const res = await request(`${open.url}/cookies`);
        await res.body.dump();
        assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3, with comma; Path=/']);

        const raw = await rawRequest(open.port, `GET /cookies HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n`);
        assert.deepEqual(
          raw.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v),
          ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3, with comma; Path=/'],
        );
        assert.equal(rawHeader(raw, 'via'), '1.1 isogate');
      } finally {
        upstream.handler = echoHandler;
      }
    });
  });
});
