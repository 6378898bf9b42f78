import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import type { GatewayConfig } from '../../../sdk/src/config.ts';
import { closedAfterSuite, type TestGateway } from '../../helpers/gateway.ts';
import { errorCode, httpRequest } from '../../helpers/http-client.ts';
import { readBody, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { delay, waitFor } from '../../helpers/wait.ts';

/** An upstream with a `/health` whose status the test sets; every other path answers with its name. */
async function service(name: string): Promise<Upstream & { state: { health: number }; checks(): number; traffic(): number }> {
  const state = { health: 200 };
  const up = await startUpstream(async (req, res) => {
    await readBody(req);
    if (req.url === '/health') return void res.writeHead(state.health).end();
    res.writeHead(200, { 'x-upstream': name }).end(name);
  });
  return Object.assign(up, {
    state,
    checks: () => up.requests.filter((r) => r.url === '/health').length,
    traffic: () => up.requests.filter((r) => r.url !== '/health').length,
  });
}

const healthCheck = { path: '/health', interval: '30ms', timeout: '1s', healthyThreshold: 2, unhealthyThreshold: 2 } as const;

describe('active health checks, through real sockets', () => {
  const resources = closedAfterSuite();
  const up = async (name: string) => resources.adopt(await service(name));
  const gateway = resources.gateway;

  const circuitOf = (gw: TestGateway, route: number, target: number) => gw.gateway.table.routes[route]!.upstreams.targets[target]!.circuit!;

  it('takes a failing upstream out of the rotation and puts it back when it passes again', async () => {
    const a = await up('a');
    const b = await up('b');
    const gw = await gateway({ routes: [{ path: '/*', upstream: [a.url, b.url], healthCheck }] });
    await waitFor(() => a.checks() >= 2 && b.checks() >= 2, 'the first checks');

    a.state.health = 500;
    await waitFor(() => circuitOf(gw, 0, 0).state === 'open', 'a out of the rotation');
    const aBefore = a.traffic();
    for (let i = 0; i < 10; i++) {
      const res = await httpRequest(`${gw.url}/x/${i}`);
      assert.equal(res.headers['x-upstream'], 'b');
    }
    assert.equal(a.traffic(), aBefore, 'no request went to the unhealthy upstream');
    assert.ok(a.checks() > 2, 'it is still being checked');

    a.state.health = 200;
    await waitFor(() => circuitOf(gw, 0, 0).state === 'closed', 'a back in the rotation');
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(String((await httpRequest(`${gw.url}/y/${i}`)).headers['x-upstream']));
    assert.deepEqual([...names].sort(), ['a', 'b']);
  });

  it('/readyz depends on an upstream in the rotation for every route when server.health.requireUpstreams is set', async () => {
    const only = await up('only');
    const other = await up('other');
    const gw = await gateway({
      server: { health: { requireUpstreams: true } },
      routes: [
        { path: '/only/*', upstream: only.url, healthCheck },
        { path: '/other/*', upstream: other.url },
      ],
    });
    await waitFor(() => only.checks() >= 1, 'a first check');
    const ready = await httpRequest(`${gw.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.text), { status: 'ready' });

    only.state.health = 503;
    await waitFor(() => circuitOf(gw, 0, 0).state === 'open', 'the only upstream of /only out');
    const notReady = await httpRequest(`${gw.url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(JSON.parse(notReady.text), { status: 'upstreams-unavailable' });
    const refused = await httpRequest(`${gw.url}/only/z`);
    assert.equal(refused.status, 503);
    assert.equal(errorCode(refused.text), 'ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN');
    assert.equal((await httpRequest(`${gw.url}/other/z`)).status, 200, 'other routes still serve');

    only.state.health = 200;
    await waitFor(() => circuitOf(gw, 0, 0).state === 'closed', 'back in');
    assert.equal((await httpRequest(`${gw.url}/readyz`)).status, 200);
  });

  it('without requireUpstreams, /readyz stays 200 whatever the upstreams', async () => {
    const lone = await up('lone');
    lone.state.health = 500;
    const gw = await gateway({ routes: [{ path: '/*', upstream: lone.url, healthCheck }] });
    await waitFor(() => circuitOf(gw, 0, 0).state === 'open', 'out of the rotation');
    assert.equal((await httpRequest(`${gw.url}/readyz`)).status, 200);
  });

  it('checks an origin once whatever the number of routes, keeps checking across a reload, stops when no route uses it', async () => {
    const shared = await up('shared');
    const spare = await up('spare');
    const config: GatewayConfig = {
      routes: [
        { path: '/one/*', upstream: shared.url, healthCheck },
        { path: '/two/*', upstream: `${shared.url}/two`, healthCheck },
        { path: '/three/*', upstream: `${shared.url}/three` },
      ],
    };
    const gw = await gateway(config);
    await waitFor(() => shared.checks() >= 3, 'some checks');
    // One checker: checks never overlap (each starts `interval` after the previous one ended).
    let concurrent = 0;
    let maxConcurrent = 0;
    const original = shared.handler;
    shared.handler = async (req, res) => {
      if (req.url !== '/health') return original(req, res);
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await delay(20);
      concurrent--;
      return original(req, res);
    };
    const from = shared.checks();
    await waitFor(() => shared.checks() >= from + 4, 'more checks');
    assert.equal(maxConcurrent, 1, 'one checker for the three routes');

    gw.gateway.reload(resolveConfig(config, builtinPlugins));
    const afterReload = shared.checks();
    await waitFor(() => shared.checks() >= afterReload + 2, 'checks after the reload');

    gw.gateway.reload(resolveConfig({ routes: [{ path: '/*', upstream: spare.url }] }, builtinPlugins));
    // The previous table retires once its requests are done (none here).
    await delay(20);
    const stoppedAt = shared.checks();
    await delay(200);
    assert.ok(shared.checks() <= stoppedAt + 1, `${shared.checks() - stoppedAt} checks after no route used the origin`);
  });
});
