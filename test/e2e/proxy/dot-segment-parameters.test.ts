import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, rawRequest } from '../../helpers/http-client.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// Issue 10 item 2: Tomcat, Jetty and Spring drop `;params` from a path segment and then resolve
// dot segments, so `/public/..;/admin/secret` forwarded as `/pub/..;/admin/secret` reached
// `/admin/secret` on such an upstream, outside the route's prefix.
describe('path parameters on dot segments', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ routes: [{ path: '/public/*', upstream: `${upstream.url}/pub`, stripPrefix: '/public' }] });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  for (const target of ['/public/..;/admin/secret', '/public/..;jsessionid=1/admin', '/public/.;/x', '/public/%2e%2e;/admin', '/public/..%3B/admin']) {
    it(`refuses ${target} with 400 BAD_PATH; the upstream never sees it`, async () => {
      const before = upstream.requests.length;
      const res = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n`);
      assert.equal(res.status, 400, res.text);
      assert.equal(errorCode(res.text), 'ISOGATE_ERR_BAD_PATH');
      assert.equal(upstream.requests.length, before);
    });
  }

  it('still forwards names that merely start with dots or carry parameters', async () => {
    const res = await rawRequest(gw.port, 'GET /public/.well-known/a;v=1 HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 200, res.text);
    assert.equal(upstream.requests.at(-1)!.url, '/pub/.well-known/a;v=1');
  });
});
