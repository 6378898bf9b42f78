import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../../../runtime/src/index.ts';
import { captureLogger, type Line } from '../../../plugins/logging/test-support.ts';
import { httpRequest, type SimpleResponse } from '../../helpers/http-client.ts';
import { startUpstream, type Echo, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

// Over real sockets: three plugin instances on a route, once each in its own isolate and once as
// one shared group (`isolation: 'shared'`), must give the same answers in every case the chain
// has (direct answers, both failure policies, rewrites, async hooks, refused headers, onResponse
// changes), while the shared group crosses into its isolate once per phase, not once per plugin.
const member = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/chain-member.ts');

let dir: string;
let upstream: Upstream;
const gateways: Record<'own' | 'shared', RunningGateway | undefined> = { own: undefined, shared: undefined };
const logs: Record<'own' | 'shared', Line[]> = { own: [], shared: [] };

async function start(isolation: 'own' | 'shared'): Promise<RunningGateway> {
  const file = path.join(dir, `${isolation}.config.ts`);
  const use = (name: string, settings: string, cpuMs = 50) => `usePlugin<typeof import(${JSON.stringify(member)})>(${JSON.stringify(member)}, { name: '${name}' }, { isolation: '${isolation}', limits: { cpuMs: ${cpuMs} }${settings} })`;
  await fs.writeFile(
    file,
    `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: {
    a: ${use('a', '', 1000)},
    b: ${use('b', '')},
    c: ${use('c', ", failurePolicy: 'fail-open'")},
  },
  routes: [{ name: 'chained', path: '/x/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['a', 'b', 'c'] }],
});
`,
  );
  const captured = captureLogger();
  logs[isolation] = captured.lines;
  return startGateway({ configPath: file, port: 0, host: '127.0.0.1', logger: captured.logger });
}

before(async () => {
  upstream = await startUpstream();
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-shared-group-'));
  gateways.own = await start('own');
  gateways.shared = await start('shared');
});

after(async () => {
  await gateways.own?.stop();
  await gateways.shared?.stop();
  await upstream?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** What a request came to: the status, what the upstream saw (if it was reached), the plugins' response headers and a direct answer's body. */
function outcome(res: SimpleResponse): Record<string, unknown> {
  const echoed = res.headers['content-type'] === 'application/json' && res.text.startsWith('{"method"') ? (JSON.parse(res.text) as Echo) : null;
  const pick = (headers: Record<string, unknown>) => Object.fromEntries(Object.entries(headers).filter(([k]) => /^x-(trail|response-trail|[abc]-)/.test(k) && !k.endsWith('-calls')));
  return {
    status: res.status,
    upstream: echoed ? { url: echoed.url, headers: pick(echoed.headers) } : null,
    response: pick(res.headers),
    body: echoed ? null : res.text,
  };
}

const send = (isolation: 'own' | 'shared', headers: Record<string, string> = {}) => httpRequest(`${gateways[isolation]!.url}/x/p`, { headers });

describe('a shared plugin group', () => {
  const cases: [string, Record<string, string>, (o: Record<string, unknown>) => void][] = [
    ['a plain request', {}, (o) => {
      assert.equal(o['status'], 200);
      assert.deepEqual((o['upstream'] as { headers: Record<string, string> }).headers['x-trail'], 'a, b, c');
      assert.equal((o['upstream'] as { headers: Record<string, string> }).headers['x-c-saw-state'], 'a,b');
      assert.equal((o['response'] as Record<string, string>)['x-response-trail'], 'c, b, a');
    }],
    ['the first member answers', { 'x-do-a': 'answer' }, (o) => {
      assert.equal(o['status'], 403);
      assert.equal(o['body'], '{"by":"a"}');
      assert.equal((o['response'] as Record<string, string>)['x-response-trail'], undefined);
    }],
    ['the second member answers: the first sees its answer', { 'x-do-b': 'answer' }, (o) => {
      assert.equal(o['status'], 403);
      assert.equal((o['response'] as Record<string, string>)['x-a-saw-status'], '403');
    }],
    ['a fail-closed member throws', { 'x-do-b': 'throw' }, (o) => {
      assert.equal(o['status'], 500);
      assert.equal((o['response'] as Record<string, string>)['x-a-saw-status'], '500');
    }],
    ['a fail-open member throws: its changes are dropped and the request goes on', { 'x-do-c': 'throw' }, (o) => {
      assert.equal(o['status'], 200);
      assert.equal((o['upstream'] as { headers: Record<string, string> }).headers['x-trail'], 'a, b');
      assert.equal((o['response'] as Record<string, string>)['x-response-trail'], 'c, b, a');
    }],
    ['a member rewrites the path: the next one sees it', { 'x-do-b': 'path' }, (o) => {
      assert.equal((o['upstream'] as { url: string }).url, '/rewritten-by-b');
      assert.equal((o['upstream'] as { headers: Record<string, string> }).headers['x-c-saw-path'], '/rewritten-by-b');
    }],
    ['a fail-closed member writes a header the gateway refuses', { 'x-do-b': 'bad-header' }, (o) => {
      assert.equal(o['status'], 500);
    }],
    ['a fail-open member writes a header the gateway refuses', { 'x-do-c': 'bad-header' }, (o) => {
      assert.equal(o['status'], 200);
      assert.equal((o['upstream'] as { headers: Record<string, string> }).headers['x-trail'], 'a, b');
    }],
    ['an async hook that settles with the call', { 'x-do-a': 'async' }, (o) => {
      assert.equal((o['upstream'] as { headers: Record<string, string> }).headers['x-a-async'], 'yes');
      assert.equal((o['upstream'] as { headers: Record<string, string> }).headers['x-b-saw-trail'], 'a,b');
    }],
    ['an inner onResponse sets the status: the outer ones see it', { 'x-do-c': 'status' }, (o) => {
      assert.equal(o['status'], 299);
      assert.equal((o['response'] as Record<string, string>)['x-a-saw-status'], '299');
      assert.equal((o['response'] as Record<string, string>)['x-b-saw-response-trail'], 'c,b');
    }],
    ['a fail-closed onResponse throws: the outer ones see the 500', { 'x-do-b': 'throw-response' }, (o) => {
      assert.equal(o['status'], 500);
      assert.equal((o['response'] as Record<string, string>)['x-a-saw-status'], '500');
    }],
    ['a fail-open member leaves a rejection unhandled (the crossing fails after its members ran)', { 'x-do-c': 'unhandled' }, (o) => {
      assert.equal(o['status'], 200);
      assert.equal((o['upstream'] as { headers: Record<string, string> }).headers['x-trail'], 'a, b');
    }],
    ['a fail-closed member leaves a rejection unhandled', { 'x-do-b': 'unhandled' }, (o) => {
      assert.equal(o['status'], 500);
      assert.equal((o['response'] as Record<string, string>)['x-a-saw-status'], '500');
    }],
    ["a promise job within its own member's CPU limit, past the last member's", { 'x-do-a': 'job-spin' }, (o) => {
      assert.equal(o['status'], 200);
      assert.equal((o['upstream'] as { headers: Record<string, string> }).headers['x-trail'], 'a, b, c');
    }],
    ["a member whose runtime answers an object: that member's failure, no one else's", { 'x-do-b': 'forge' }, (o) => {
      assert.equal(o['status'], 500);
      assert.equal((o['response'] as Record<string, string>)['x-a-saw-status'], '500');
    }],
    ['request-header changes in onResponse reach no outer member', { 'x-do-c': 'drop-probe', 'x-probe': 'p' }, (o) => {
      assert.equal((o['response'] as Record<string, string>)['x-a-saw-probe'], 'p');
      assert.equal((o['response'] as Record<string, string>)['x-b-saw-probe'], 'p');
    }],
  ];
  for (const [name, headers, expect] of cases) {
    it(`${name}: the same answer as separate isolates`, async () => {
      const own = outcome(await send('own', headers));
      const shared = outcome(await send('shared', headers));
      expect(own);
      assert.deepEqual(shared, own);
    });
  }

  it('each member has a context of its own: none sees another one\'s globals', async () => {
    const res = outcome(await send('shared'));
    const seen = (res['upstream'] as { headers: Record<string, string> }).headers;
    assert.equal(seen['x-a-saw-trail'], 'a');
    for (const m of ['a', 'b', 'c']) assert.equal(seen[`x-${m}-sees-globals`], undefined);
  });

  it('crosses into the isolate once per phase, not once per plugin', async () => {
    const table = gateways.shared!.gateway.table;
    const host = table.userPlugins.get('a')!;
    assert.equal(host, table.userPlugins.get('c'), 'one host for the three');
    assert.equal(host.shared, true);
    const before = host.crossings;
    for (let i = 0; i < 5; i++) assert.equal((await send('shared')).status, 200);
    assert.equal(host.crossings - before, 10, 'one crossing for the three onRequest hooks and one for the three onResponse hooks');
    // An async hook ends the crossing; its answer is taken synchronously (one more crossing, as a
    // member's own call does), then the rest of the chain runs in a new crossing.
    const async = host.crossings;
    assert.equal((await send('shared', { 'x-do-a': 'async' })).status, 200);
    assert.equal(host.crossings - async, 4, 'a, its take, b and c, then the onResponse hooks');
    const own = gateways.own!.gateway.table.userPlugins.get('b')!;
    const ownBefore = own.crossings;
    await send('own');
    assert.equal(own.crossings - ownBefore, 2, 'in its own isolate each plugin crosses once per hook');
  });

  it('a member over its CPU limit: its policy answers, the group restarts, the members before it ran again on the new isolate', { timeout: 60_000 }, async () => {
    const host = gateways.shared!.gateway.table.userPlugins.get('a')!;
    await waitFor(() => host.spareReady, 'the group has a spare isolate', 20_000);
    const callsBefore = Number((JSON.parse((await send('shared')).text) as Echo).headers['x-a-calls']);
    assert.ok(callsBefore >= 1);
    const failure = await send('shared', { 'x-do-b': 'loop' });
    assert.equal(failure.status, 500);
    assert.equal(failure.headers['x-a-saw-status'], '500', "a's onResponse ran on the new isolate");
    const line = logs.shared.find((l) => l['kind'] === 'timeout');
    assert.ok(line, 'a timeout was logged');
    assert.equal(line['plugin'], 'chain-member');
    assert.match(String(line['msg']), /onRequest failed \(fail-closed\)/);
    assert.equal(logs.shared.filter((l) => l['kind'] === 'timeout').length, 1);
    const next = JSON.parse((await send('shared')).text) as Echo;
    // a's module state started again with the group: the loop request's rerun was its first call.
    assert.equal(next.headers['x-a-calls'], '2');
    assert.equal(next.headers['x-trail'], 'a, b, c');
  });

  it('a fail-open member over its CPU limit: the request goes on without it', { timeout: 60_000 }, async () => {
    const host = gateways.shared!.gateway.table.userPlugins.get('a')!;
    await waitFor(() => host.spareReady, 'the group has a spare isolate', 20_000);
    const res = await send('shared', { 'x-do-c': 'loop' });
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.text) as Echo;
    assert.equal(seen.headers['x-trail'], 'a, b');
    assert.equal(seen.headers['x-a-calls'], '1', 'a ran again on the fresh isolate');
  });
});
