import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, httpRequest } from '../../helpers/http-client.ts';
import { closedPort, readBody, startUpstream, type Upstream, type UpstreamHandler } from '../../helpers/upstream.ts';

/** An upstream that answers with its own name and the body length it received. */
function named(name: string): UpstreamHandler {
  return async (req, res) => {
    const body = await readBody(req);
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(`${name}:${body.length}`);
  };
}

describe('load balancing and failover', () => {
  const upstreams: Upstream[] = [];
  const gateways: TestGateway[] = [];
  let deadPort: number;

  async function gateway(urls: string[], requestBuffering = true): Promise<TestGateway> {
    const gw = await startGateway({ routes: [{ path: '/*', upstream: urls, requestBuffering, timeout: { connect: '2s', headers: '10s' } }] });
    gateways.push(gw);
    return gw;
  }

  before(async () => {
    for (const name of ['a', 'b', 'c']) upstreams.push(await startUpstream(named(name)));
    deadPort = await closedPort();
  });

  after(async () => {
    for (const gw of gateways) await gw.close();
    for (const up of upstreams) await up.close();
  });

  it('spreads 30 sequential requests evenly over 3 upstreams, in round-robin order', async () => {
    const gw = await gateway(upstreams.map((u) => u.url));
    const counts = new Map<string, number>();
    const order: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await httpRequest(`${gw.url}/rr/${i}`);
      assert.equal(res.status, 200);
      const name = String(res.headers['x-upstream']);
      order.push(name);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(counts), { a: 10, b: 10, c: 10 });
    // Strict rotation: every window of three consecutive requests hits each upstream once.
    for (let i = 0; i + 3 <= order.length; i += 3) assert.deepEqual([...order.slice(i, i + 3)].sort(), ['a', 'b', 'c'], `window at ${i}: ${order.join(',')}`);
    assert.deepEqual(order.slice(0, 3), ['a', 'b', 'c']);
  });

  it('fails over a GET transparently when one upstream refuses connections, then skips it', async () => {
    const dead = `http://127.0.0.1:${deadPort}`;
    const gw = await gateway([upstreams[0]!.url, dead, upstreams[1]!.url]);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const res = await httpRequest(`${gw.url}/failover/${i}`);
      assert.equal(res.status, 200, `request ${i}: ${res.text}`);
      const name = String(res.headers['x-upstream']);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    assert.equal((counts.get('a') ?? 0) + (counts.get('b') ?? 0), 30);
    assert.ok((counts.get('a') ?? 0) >= 10, `a got ${counts.get('a')}`);
    assert.ok((counts.get('b') ?? 0) >= 10, `b got ${counts.get('b')}`);
    const target = gw.gateway.table.routes[0]!.upstreams.targets[1]!;
    assert.equal(target.url, dead);
    assert.ok(target.downUntil > Date.now(), 'the dead upstream is marked down');
  });

  it('retries a buffered body on the next upstream when the first refuses (the body is held whole, so it can be sent again)', async () => {
    const healthy = upstreams[2]!;
    const before = healthy.requests.length;
    const gw = await gateway([`http://127.0.0.1:${deadPort}`, healthy.url]);
    const res = await httpRequest(`${gw.url}/submit`, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, 'c:7');
    assert.equal(healthy.requests.length, before + 1, 'the POST reached the healthy upstream once');
  });

  it('does not retry a streamed body on another upstream: 502, and the healthy upstream never sees it', async () => {
    const healthy = upstreams[2]!;
    const before = healthy.requests.length;
    // A fresh gateway starts its rotation at the first upstream: the dead one.
    const gw = await gateway([`http://127.0.0.1:${deadPort}`, healthy.url], false);
    const res = await httpRequest(`${gw.url}/submit`, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 502, res.text);
    assert.equal(errorCode(res.text), 'ISOGATE_ERR_UPSTREAM_UNAVAILABLE');
    assert.equal(healthy.requests.length, before, 'the POST was not replayed on the healthy upstream');

    // The dead upstream is now cooling down: the next POST goes to the healthy one.
    const next = await httpRequest(`${gw.url}/submit`, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    assert.equal(next.status, 200);
    assert.equal(next.text, 'c:7');
    assert.equal(healthy.requests.length, before + 1);
  });

  it('retries a body-less GET on the next upstream when the first refuses', async () => {
    const healthy = upstreams[0]!;
    const gw = await gateway([`http://127.0.0.1:${deadPort}`, healthy.url]);
    const res = await httpRequest(`${gw.url}/first-is-dead`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-upstream'], 'a');
  });

  it('answers 502 when every upstream refuses', async () => {
    const otherDead = await closedPort();
    const gw = await gateway([`http://127.0.0.1:${deadPort}`, `http://127.0.0.1:${otherDead}`]);
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest(`${gw.url}/all-dead/${i}`);
      assert.equal(res.status, 502, res.text);
      assert.equal(errorCode(res.text), 'ISOGATE_ERR_UPSTREAM_UNAVAILABLE');
    }
  });
});
