import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ResolvedCircuitBreaker, ResolvedHealthCheck } from '../config/resolved-config.ts';
import type { CircuitChange } from './breaker/circuit-breaker.ts';
import { UpstreamPools } from './upstream-pools.ts';

const breaker: ResolvedCircuitBreaker = { consecutiveFailures: 2, errorRate: null, cooldown: 60_000, halfOpenProbes: 1, failureStatuses: [503] };
const healthCheck: ResolvedHealthCheck = { path: '/health', interval: 10, timeout: 500, healthyThreshold: 1, unhealthyThreshold: 1 };

describe('UpstreamPools: one breaker and one health checker per origin', () => {
  let server: http.Server;
  let origin: string;
  let checks = 0;

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/health') checks++;
      res.writeHead(req.url === '/fail' ? 503 : 200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('every pool of an origin (other connect timeouts, h1 and h2) shares its circuit', async () => {
    const changes: CircuitChange[] = [];
    const pools = new UpstreamPools({ onCircuitChange: (c) => changes.push(c) });
    const a = pools.acquire(origin, 1_000, false, { circuitBreaker: breaker, healthCheck: null });
    const b = pools.acquire(origin, 2_000, false, { circuitBreaker: breaker, healthCheck: null });
    assert.notEqual(a, b);
    assert.equal(pools.size, 2);
    const failing = (d: typeof a) => d.request({ path: '/fail', method: 'GET' }).then((r) => r.body.dump());
    await failing(a);
    await failing(b);
    assert.equal(pools.circuit(origin)?.state, 'open');
    await assert.rejects(a.request({ path: '/', method: 'GET' }), { code: 'ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN' });
    await assert.rejects(b.request({ path: '/', method: 'GET' }), { code: 'ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN' });
    assert.deepEqual(
      changes.map((c) => `${c.from}→${c.to} ${c.reason}`),
      ['null→closed watched', 'closed→open consecutive-failures'],
    );
    pools.release(a);
    assert.equal(pools.circuit(origin)?.state, 'open', 'still used by the other pool');
    pools.release(b);
    assert.equal(pools.circuit(origin), undefined);
    assert.equal(changes.at(-1)?.reason, 'released');
    await pools.closeAll();
  });

  it('runs one health checker per origin whatever the number of routes, keeps it across a reload, stops it with the last user', async () => {
    const pools = new UpstreamPools();
    const policy = { circuitBreaker: null, healthCheck };
    // Two routes of one table, then the same two in the next table (a reload), then the old table retires.
    const first = [pools.acquire(origin, 1_000, false, policy), pools.acquire(origin, 1_000, false, policy)];
    const checker = pools.healthChecker(origin);
    assert.ok(checker);
    const second = [pools.acquire(origin, 1_000, false, policy), pools.acquire(origin, 1_000, false, policy)];
    assert.equal(pools.healthChecker(origin), checker, 'the same checker');
    for (const d of first) pools.release(d);
    assert.equal(pools.healthChecker(origin), checker);
    for (let i = 0; i < 200 && checker.checks < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(checker.checks >= 3);
    for (const d of second) pools.release(d);
    assert.equal(pools.healthChecker(origin), undefined);
    const stoppedAt = checks;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.ok(checks <= stoppedAt + 1, 'no check after the last table let go (but the one in flight)');
    await pools.closeAll();
  });

  it('the newest table decides the settings: other health check settings restart the checker, none stop it', () => {
    const pools = new UpstreamPools();
    const a = pools.acquire(origin, 1_000, false, { circuitBreaker: null, healthCheck });
    const checker = pools.healthChecker(origin)!;
    const b = pools.acquire(origin, 1_000, false, { circuitBreaker: breaker, healthCheck: { ...healthCheck, path: '/other' } });
    assert.notEqual(pools.healthChecker(origin), checker);
    assert.equal(pools.healthChecker(origin)?.settings.path, '/other');
    assert.deepEqual(pools.circuit(origin)?.settings, breaker);
    const c = pools.acquire(origin, 1_000, false);
    assert.equal(pools.healthChecker(origin), undefined);
    assert.equal(pools.circuit(origin)?.settings, null);
    for (const d of [a, b, c]) pools.release(d);
    pools.destroyAll();
  });
});
