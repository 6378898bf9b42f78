import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExposition } from '../../../plugins/metrics/parse-exposition.ts';
import type { CircuitState } from '../../../runtime/src/proxy/breaker/circuit-breaker.ts';
import type { GatewayConfig } from '../../../sdk/src/config.ts';
import { builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import { closedAfterSuite, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, httpRequest } from '../../helpers/http-client.ts';
import { readBody, type Upstream, type UpstreamHandler } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

/** An upstream whose answer the test switches: a status, or no answer at all. */
function switchable(): { handler: UpstreamHandler; set(mode: number | 'hang'): void } {
  let mode: number | 'hang' = 200;
  return {
    set: (m) => (mode = m),
    handler: async (req, res) => {
      await readBody(req);
      if (mode === 'hang') return;
      res.writeHead(mode, { 'content-type': 'text/plain', 'x-upstream': 'it' });
      res.end(`status ${mode}`);
    },
  };
}

/** Counts TCP connections the upstream accepted: "no connection reached it" is then a number. */
function countConnections(up: Upstream): { readonly count: number } {
  const counter = { count: 0 };
  up.server.on('connection', () => counter.count++);
  return counter;
}

describe('circuit breaker, through real sockets', () => {
  const resources = closedAfterSuite();
  const upstream = resources.upstream;
  const gateway = (config: GatewayConfig) => resources.gateway(config, { captureLogs: true });

  const circuitOf = (gw: TestGateway, route = 0, target = 0) => gw.gateway.table.routes[route]!.upstreams.targets[target]!.circuit!;
  const reaches = (gw: TestGateway, state: CircuitState, route = 0, target = 0) => waitFor(() => circuitOf(gw, route, target).state === state, `circuit ${state}`);

  it('opens after consecutive failures, fails fast without any connection to the upstream, probes half-open, closes', async () => {
    const mode = switchable();
    const up = await upstream(mode.handler);
    const connections = countConnections(up);
    const gw = await gateway({
      plugins: { metrics: { use: 'metrics', options: { cacheFor: 0 } } },
      middleware: ['metrics'],
      routes: [{ path: '/svc/*', upstream: up.url, circuitBreaker: { consecutiveFailures: 3, cooldown: '500ms' } }],
    });

    mode.set(503);
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest(`${gw.url}/svc/${i}`);
      assert.equal(res.status, 503);
      assert.equal(res.text, 'status 503', "until it opens, the upstream's own answer is passed on");
    }
    assert.equal(circuitOf(gw).state, 'open');
    const opened = gw.logs.find((l) => l['msg'] === 'upstream circuit opened: calls to it fail fast with 503');
    assert.deepEqual(
      { upstream: opened?.['upstream'], from: opened?.['from'], to: opened?.['to'], reason: opened?.['reason'], level: opened?.['level'] },
      { upstream: up.url, from: 'closed', to: 'open', reason: 'consecutive-failures', level: 40 },
    );
    const scrape = parseExposition((await httpRequest(`${gw.url}/metrics`)).text);
    assert.equal(scrape.value('gateway_upstream_circuit_state', { upstream: up.url }), 2);
    assert.equal(scrape.value('gateway_upstream_circuit_transitions_total', { upstream: up.url, state: 'open' }), 1);

    // While open: every call is refused by the gateway, none reaches the upstream, not even a connection.
    const requestsBefore = up.requests.length;
    const connectionsBefore = connections.count;
    let refused = 0;
    for (let i = 0; i < 20 && circuitOf(gw).state === 'open'; i++) {
      const res = await httpRequest(`${gw.url}/svc/open-${i}`);
      if (circuitOf(gw).state !== 'open') break; // the cooldown ended during this request: not counted
      assert.equal(res.status, 503);
      assert.equal(errorCode(res.text), 'ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN');
      assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/);
      refused++;
    }
    assert.ok(refused >= 5, `only ${refused} requests were made while the circuit was open`);
    assert.equal(up.requests.length, requestsBefore, 'no request reached the upstream while open');
    assert.equal(connections.count, connectionsBefore, 'no connection was opened to the upstream while open');

    // After the cooldown: half-open; the upstream has recovered, so the probe closes the circuit.
    mode.set(200);
    await reaches(gw, 'half-open');
    const probe = await httpRequest(`${gw.url}/svc/probe`);
    assert.equal(probe.status, 200);
    assert.equal(up.requests.length, requestsBefore + 1);
    assert.equal(circuitOf(gw).state, 'closed');
    assert.deepEqual(
      gw.logs.filter((l) => l['upstream'] === up.url).map((l) => `${l['from']}→${l['to']} ${l['reason']}`),
      ['closed→open consecutive-failures', 'open→half-open cooldown-elapsed', 'half-open→closed probes-succeeded'],
    );
    const after = parseExposition((await httpRequest(`${gw.url}/metrics`)).text);
    assert.equal(after.value('gateway_upstream_circuit_state', { upstream: up.url }), 0);
    for (const state of ['open', 'half-open', 'closed']) assert.equal(after.value('gateway_upstream_circuit_transitions_total', { upstream: up.url, state }), 1, state);
  });

  it('a failed half-open probe opens it again', async () => {
    const mode = switchable();
    const up = await upstream(mode.handler);
    const gw = await gateway({ routes: [{ path: '/*', upstream: up.url, circuitBreaker: { consecutiveFailures: 2, cooldown: '100ms' } }] });
    mode.set(502);
    for (let i = 0; i < 2; i++) assert.equal((await httpRequest(`${gw.url}/x`)).status, 502);
    await reaches(gw, 'half-open');
    const before = up.requests.length;
    assert.equal((await httpRequest(`${gw.url}/probe`)).status, 502, 'the probe reached the still-failing upstream');
    assert.equal(up.requests.length, before + 1);
    assert.equal(circuitOf(gw).state, 'open');
    assert.equal(errorCode((await httpRequest(`${gw.url}/again`)).text), 'ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN');
  });

  it('counts timeouts as failures, never a client that went away', async () => {
    const mode = switchable();
    const up = await upstream(mode.handler);
    const gw = await gateway({ routes: [{ path: '/*', upstream: up.url, circuitBreaker: { consecutiveFailures: 2, cooldown: '1m' }, timeout: { headers: '300ms' } }] });
    mode.set('hang');
    for (let i = 0; i < 4; i++) {
      const seen = up.requests.length;
      await assert.rejects(httpRequest(`${gw.url}/gone/${i}`, { timeoutMs: 100 }));
      await waitFor(() => up.requests.length > seen, 'the request to reach the upstream');
    }
    // The gateway notices each client leaving and aborts its upstream call: no outcome.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(circuitOf(gw).state, 'closed', 'client aborts are not failures');
    for (let i = 0; i < 2; i++) {
      const res = await httpRequest(`${gw.url}/slow/${i}`);
      assert.equal(errorCode(res.text), 'ISOGATE_ERR_UPSTREAM_TIMEOUT');
    }
    assert.equal(circuitOf(gw).state, 'open', 'two headers timeouts in a row');
  });

  it('with several upstreams, an open one is skipped while the others serve', async () => {
    const failing = await upstream(async (req, res) => {
      await readBody(req);
      res.writeHead(500).end('down');
    });
    const healthy = await upstream(async (req, res) => {
      await readBody(req);
      res.writeHead(200, { 'x-upstream': 'healthy' }).end('ok');
    });
    const gw = await gateway({ routes: [{ path: '/*', upstream: [failing.url, healthy.url], circuitBreaker: { consecutiveFailures: 2, cooldown: '1m' } }] });
    for (let i = 0; i < 4; i++) await httpRequest(`${gw.url}/warm/${i}`);
    await reaches(gw, 'open', 0, 0);
    const failingBefore = failing.requests.length;
    for (let i = 0; i < 10; i++) {
      const res = await httpRequest(`${gw.url}/after/${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-upstream'], 'healthy');
    }
    assert.equal(failing.requests.length, failingBefore, 'the open upstream got nothing');
  });

  it("one breaker per origin: shared by the routes using it, kept across a reload, and applied to an aggregated route's backends", async () => {
    const users = await upstream(async (req, res) => {
      await readBody(req);
      res.writeHead(503).end();
    });
    const billing = await upstream(async (req, res) => {
      await readBody(req);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"plan":"pro"}');
    });
    const config: GatewayConfig = {
      routes: [
        { path: '/users/*', upstream: users.url, circuitBreaker: { consecutiveFailures: 2, cooldown: '1m' } },
        { path: '/profile/:id', backends: [{ url: `${users.url}/users/{id}`, group: 'user' }, { url: `${billing.url}/billing/{id}` }] },
      ],
    };
    const gw = await gateway(config);
    for (let i = 0; i < 2; i++) await httpRequest(`${gw.url}/users/${i}`);
    assert.equal(circuitOf(gw, 0).state, 'open');
    assert.equal(circuitOf(gw, 1, 0), circuitOf(gw, 0), 'the aggregated route holds the same breaker');
    gw.gateway.reload(resolveConfig(config, builtinPlugins));
    assert.equal(circuitOf(gw, 0).state, 'open', 'a reload keeps the state');
    const before = users.requests.length;
    const profile = await httpRequest(`${gw.url}/profile/7`);
    assert.equal(profile.status, 200);
    assert.equal(profile.headers['x-isogate-completed'], 'false');
    assert.deepEqual(JSON.parse(profile.text), { plan: 'pro' });
    assert.equal(errorCode((await httpRequest(`${gw.url}/users/1`)).text), 'ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN');
    assert.equal(users.requests.length, before, 'neither route reached the open origin');
  });
});
