import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import { isLoopbackHost, metricsEndpoint, ScrapeAllowList } from './endpoint.ts';

const request = (overrides: Partial<{ method: string; remoteAddress: string }> = {}) => ({
  method: 'GET',
  path: '/metrics',
  query: '',
  headers: {},
  remoteAddress: '127.0.0.1',
  ...overrides,
});

describe('metrics endpoint', () => {
  it('concurrent scrapes share one collection; the next scrape collects again', async () => {
    let calls = 0;
    let release!: () => void;
    const source = {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      scrape: () => {
        calls++;
        return new Promise<string>((resolve) => (release = () => resolve(`m ${calls}\n`)));
      },
    };
    const serve = metricsEndpoint(source, { allow: null, logger: silentLogger() });
    const both = Promise.all([serve(request()), serve(request())]);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const [a, b] = await both;
    assert.equal(calls, 1);
    assert.equal(a.body, 'm 1\n');
    assert.equal(b.body, 'm 1\n');
    const third = serve(request());
    await new Promise((resolve) => setImmediate(resolve));
    release();
    assert.equal((await third).body, 'm 2\n');
  });

  it('a failed collection is an error response without its text, and is not remembered', async () => {
    let fail = true;
    const source = { contentType: 'text/plain', scrape: () => (fail ? Promise.reject(new Error('worker 3 secret detail')) : Promise.resolve('ok\n')) };
    const serve = metricsEndpoint(source, { allow: null, logger: silentLogger() });
    const res = await serve(request());
    assert.equal(res.status, 503);
    assert.match(String(res.body), /ISOGATE_ERR_METRICS_UNAVAILABLE/);
    assert.doesNotMatch(String(res.body), /secret/);
    fail = false;
    assert.equal((await serve(request())).status, 200);
  });

  it('serves the rendered text again for cacheFor, then collects anew; 0 collects every time', async () => {
    let calls = 0;
    let clock = 1_000;
    const source = { contentType: 'text/plain', scrape: () => Promise.resolve(`m ${++calls}\n`) };
    const serve = metricsEndpoint(source, { allow: null, logger: silentLogger(), cacheFor: 1_000, now: () => clock });
    for (let i = 0; i < 50; i++) assert.equal((await serve(request())).body, 'm 1\n');
    assert.equal(calls, 1, 'back-to-back scrapes cost one collection');
    clock += 999;
    assert.equal((await serve(request({ method: 'HEAD' }))).body, 'm 1\n');
    clock += 1;
    assert.equal((await serve(request())).body, 'm 2\n');
    assert.equal(calls, 2);

    let uncachedCalls = 0;
    const uncached = metricsEndpoint(
      { contentType: 'text/plain', scrape: () => Promise.resolve(`u ${++uncachedCalls}\n`) },
      { allow: null, logger: silentLogger(), cacheFor: 0, now: () => clock },
    );
    assert.equal((await uncached(request())).body, 'u 1\n');
    assert.equal((await uncached(request())).body, 'u 2\n');
  });

  it('does not cache a failed collection', async () => {
    let calls = 0;
    const source = { contentType: 'text/plain', scrape: () => (++calls === 1 ? Promise.reject(new Error('x')) : Promise.resolve('ok\n')) };
    const serve = metricsEndpoint(source, { allow: null, logger: silentLogger(), cacheFor: 60_000 });
    assert.equal((await serve(request())).status, 503);
    assert.equal((await serve(request())).status, 200);
    assert.equal(calls, 2);
  });

  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'gateway.internal', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
  });

  it('the allow-list matches addresses and ranges, IPv4-mapped IPv6 as IPv4, and refuses garbage', () => {
    const allow = new ScrapeAllowList(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
    assert.equal(allow.allows('10.200.3.4'), true);
    assert.equal(allow.allows('::ffff:10.200.3.4'), true);
    assert.equal(allow.allows('192.168.1.7'), true);
    assert.equal(allow.allows('192.168.1.8'), false);
    assert.equal(allow.allows('fd12::1'), true);
    assert.equal(allow.allows('fe80::1'), false);
    assert.equal(allow.allows(''), false);
    assert.equal(allow.allows('not-an-ip'), false);
  });

  it('refuses a disallowed peer before looking at the method', async () => {
    const serve = metricsEndpoint({ contentType: 'text/plain', scrape: () => Promise.resolve('') }, { allow: new ScrapeAllowList(['10.0.0.1']), logger: silentLogger() });
    assert.equal((await serve(request({ method: 'POST', remoteAddress: '10.0.0.2' }))).status, 403);
    assert.equal((await serve(request({ method: 'POST', remoteAddress: '10.0.0.1' }))).status, 405);
  });
});
