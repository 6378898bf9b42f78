import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExposition } from '../../../plugins/metrics/parse-exposition.ts';
import { closedAfterSuite } from '../../helpers/gateway.ts';
import { errorCode, httpRequest } from '../../helpers/http-client.ts';
import { closedPort, readBody, type UpstreamHandler } from '../../helpers/upstream.ts';

/** Answers `failures` times with `status`, then 200 (the count is per upstream, over its life). */
function failingFirst(failures: number, status = 503): UpstreamHandler {
  let seen = 0;
  return async (req, res) => {
    const body = await readBody(req);
    if (seen++ < failures) return void res.writeHead(status).end('not now');
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${req.method} ${body.length}`);
  };
}

const always = (status: number): UpstreamHandler => async (req, res) => {
  await readBody(req);
  res.writeHead(status, { 'x-status': String(status) }).end(`status ${status}`);
};

describe('retries, through real sockets', () => {
  const { upstream, gateway } = closedAfterSuite();

  it('retries a GET that answered 503 until it succeeds; each attempt is an upstream call to the observers', async () => {
    const up = await upstream(failingFirst(2));
    const gw = await gateway({
      plugins: { metrics: { use: 'metrics', options: { cacheFor: 0 } } },
      middleware: ['metrics'],
      routes: [{ path: '/flaky', upstream: up.url, retry: { attempts: 3, backoff: { base: '5ms', max: '10ms' } } }],
    });
    const res = await httpRequest(`${gw.url}/flaky`);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'ok GET 0');
    assert.equal(up.requests.length, 3);
    const scrape = parseExposition((await httpRequest(`${gw.url}/metrics`)).text);
    assert.equal(scrape.value('gateway_upstream_duration_seconds_count', { route: '/flaky', upstream: up.url }), 3, 'three attempts observed');
    assert.equal(scrape.value('gateway_requests_total', { method: 'GET', route: '/flaky', status: '200' }), 1, 'one request');
  });

  it('passes on the last answer when the attempts run out', async () => {
    const up = await upstream(always(503));
    const gw = await gateway({ routes: [{ path: '/down', upstream: up.url, retry: { attempts: 2, backoff: { base: '1ms', max: '1ms' } } }] });
    const res = await httpRequest(`${gw.url}/down`);
    assert.equal(res.status, 503);
    assert.equal(res.text, 'status 503');
    assert.equal(up.requests.length, 2);
  });

  it('retries on another upstream of the set', async () => {
    const bad = await upstream(always(502));
    const good = await upstream(always(200));
    const gw = await gateway({ routes: [{ path: '/*', upstream: [bad.url, good.url], retry: { backoff: { base: '1ms', max: '1ms' } } }] });
    for (let i = 0; i < 6; i++) {
      const res = await httpRequest(`${gw.url}/r/${i}`);
      assert.equal(res.status, 200, `request ${i}`);
    }
    assert.equal(good.requests.length, 6);
    assert.equal(bad.requests.length, 3, 'every other request tried the bad one first, once');
  });

  it('stops at the route deadline (timeout.total), with fewer attempts than allowed', async () => {
    // Each attempt takes ~100 ms to fail: 500 ms hold about five of the ten allowed.
    const slowFailure = await upstream(async (req, res) => {
      await readBody(req);
      setTimeout(() => res.writeHead(503).end('still down'), 100);
    });
    const gw = await gateway({
      routes: [{ path: '/slow', upstream: slowFailure.url, timeout: { total: '500ms' }, retry: { attempts: 10, backoff: { base: '5ms', max: '10ms' }, budget: { minRetries: 100 } } }],
    });
    const res = await httpRequest(`${gw.url}/slow`);
    // The deadline passed during an attempt (504) or left no time for another one (the last answer).
    assert.ok(res.status === 504 || res.status === 503, `${res.status} ${res.text}`);
    if (res.status === 504) assert.equal(errorCode(res.text), 'ISOGATE_ERR_UPSTREAM_TIMEOUT');
    assert.ok(slowFailure.requests.length >= 2 && slowFailure.requests.length <= 7, `${slowFailure.requests.length} attempts`);

    // An attempt still waiting when the deadline passes is abandoned: 504 long before timeout.headers (30 s).
    const hangs = await upstream(async (req) => void (await readBody(req)));
    const gw2 = await gateway({ routes: [{ path: '/hang', upstream: hangs.url, timeout: { total: '300ms' }, retry: {} }] });
    const hung = await httpRequest(`${gw2.url}/hang`, { timeoutMs: 10_000 });
    assert.equal(hung.status, 504);
    assert.equal(errorCode(hung.text), 'ISOGATE_ERR_UPSTREAM_TIMEOUT');
    assert.equal(hangs.requests.length, 1);
  });

  it('respects the retry budget: a failing upstream gets at most percent % extra calls', async () => {
    const up = await upstream(always(503));
    const gw = await gateway({
      routes: [{ path: '/budget', upstream: up.url, retry: { attempts: 3, backoff: { base: '1ms', max: '1ms' }, budget: { percent: 10, minRetries: 0, window: '1m' } } }],
    });
    for (let i = 0; i < 40; i++) assert.equal((await httpRequest(`${gw.url}/budget`)).status, 503);
    // Without the budget: 120 calls. With it: 40 requests and one retry per ten of them.
    assert.ok(up.requests.length > 40, 'some requests were retried');
    assert.ok(up.requests.length <= 44, `${up.requests.length} upstream calls for 40 requests`);
  });

  it('never retries a POST whose body streams (requestBuffering: false), not even after a connect failure', async () => {
    const up = await upstream(always(503));
    const gw = await gateway({ routes: [{ path: '/upload', upstream: up.url, requestBuffering: false, retry: { backoff: { base: '1ms', max: '1ms' } } }] });
    const res = await httpRequest(`${gw.url}/upload`, { method: 'POST', body: 'x'.repeat(1000), headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 503);
    assert.equal(up.requests.length, 1);

    const resets = await upstream(async (req) => {
      await readBody(req);
      req.socket.destroy();
    });
    const gw2 = await gateway({ routes: [{ path: '/upload', upstream: resets.url, requestBuffering: false, retry: { backoff: { base: '1ms', max: '1ms' } } }] });
    const reset = await httpRequest(`${gw2.url}/upload`, { method: 'PUT', body: 'x'.repeat(1000), headers: { 'content-type': 'text/plain' } });
    assert.equal(reset.status, 502);
    assert.equal(resets.requests.length, 1, 'even an idempotent method: its streamed body was read once');

    const dead = `http://127.0.0.1:${await closedPort()}`;
    const gw3 = await gateway({ routes: [{ path: '/upload', upstream: dead, requestBuffering: false, retry: { attempts: 5, backoff: { base: '1ms', max: '1ms' } } }] });
    const refused = await httpRequest(`${gw3.url}/upload`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(refused.status, 502);
  });

  it('retries a buffered PUT and a POST without a body, never a buffered POST that reached the upstream', async () => {
    const put = await upstream(failingFirst(1));
    const post = await upstream(failingFirst(1));
    const bare = await upstream(failingFirst(1));
    const retry = { backoff: { base: '1ms', max: '1ms' } } as const;
    const gw = await gateway({
      routes: [
        { path: '/put', upstream: put.url, retry },
        { path: '/post', upstream: post.url, retry },
        { path: '/bare', upstream: bare.url, retry },
      ],
    });
    const body = { body: 'payload', headers: { 'content-type': 'text/plain' } };
    assert.equal((await httpRequest(`${gw.url}/put`, { method: 'PUT', ...body })).text, 'ok PUT 7');
    assert.equal(put.requests.length, 2);
    assert.equal((await httpRequest(`${gw.url}/post`, { method: 'POST', ...body })).status, 503, 'the POST may have been processed: not sent twice');
    assert.equal(post.requests.length, 1);
    assert.equal((await httpRequest(`${gw.url}/bare`, { method: 'POST' })).text, 'ok POST 0');
    assert.equal(bare.requests.length, 2);
  });

  it("retries an aggregated route's backend within the aggregation's deadline", async () => {
    const users = await upstream(async (req, res) => {
      await readBody(req);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"ada"}');
    });
    let billingCalls = 0;
    const billing = await upstream(async (req, res) => {
      await readBody(req);
      if (billingCalls++ === 0) return void res.writeHead(503).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"plan":"pro"}');
    });
    const gw = await gateway({
      routes: [
        {
          path: '/profile/:id',
          backends: [{ url: `${users.url}/users/{id}`, group: 'user' }, { url: `${billing.url}/billing/{id}` }],
          retry: { backoff: { base: '1ms', max: '1ms' } },
        },
      ],
    });
    const res = await httpRequest(`${gw.url}/profile/1`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-isogate-completed'], 'true');
    assert.deepEqual(JSON.parse(res.text), { user: { name: 'ada' }, plan: 'pro' });
    assert.equal(billing.requests.length, 2);
    assert.equal(users.requests.length, 1);
  });
});
