import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GatewayRequest, GatewayResponse } from '../chain/types.ts';
import { testRequest } from '../chain/test-request.ts';
import { silentLogger } from '../logging/logger.ts';
import { bundlePlugin } from './bundle-plugin.ts';
import { HookWatchdog } from './hook-watchdog.ts';
import ivm from './isolated-vm.ts';
import { createSharedGroupMiddleware } from './shared-group-middleware.ts';
import { groupIdentityOf, PluginFailure, PluginHost, PluginMemberLoadError, PluginOptionsError, type PluginMemberSpec } from './plugin-host.ts';

// A shared plugin group's host: several instances in one isolate, one context each; each call
// judged by its own member's limits, each member's part of a crossing by that member's.
const member = path.join(import.meta.dirname, 'fixtures/chain-member.ts');
const cpuWork = path.join(import.meta.dirname, 'fixtures/cpu-work.ts');
const limits = { memoryMb: 32, cpuMs: 50, wallMs: 1_000 };

/** The request headers a member's onRequest answered with (its header operations applied to none). */
function headersOf(answer: string): Record<string, string> {
  const out = JSON.parse(answer) as { h?: [string, string, string?][] };
  return Object.fromEntries((out.h ?? []).filter((op) => op[0] !== 'd').map((op) => [op[1], op[2]!]));
}

const message = JSON.stringify({ rq: ['GET', '/p', '', {}, '127.0.0.1', 'r'] });

/** The ids (1-6, the first ones a runtime gives) of answers still parked in a member's runtime on load `generation`. */
async function parkedAnswers(host: PluginHost, member: number, generation: number): Promise<number[]> {
  const parked: number[] = [];
  for (let id = 1; id <= 6; id++) {
    const taken = await Promise.resolve(host.takeMember(member, 'onRequest', id, generation)).catch(() => null);
    if (taken !== null && taken.charCodeAt(0) !== 0) parked.push(id);
  }
  return parked;
}

describe('plugin host: a shared group', () => {
  let specs: PluginMemberSpec[];
  let group: PluginHost;

  before(async () => {
    const bundle = await bundlePlugin(member);
    specs = ['a', 'b'].map((name) => ({ instanceName: name, bundle, options: { name }, limits, fetch: null }));
    group = await PluginHost.createGroup(specs, silentLogger());
  });
  after(() => {
    // One use per member.
    for (let i = 0; i < specs.length; i++) group.dispose();
  });

  it('loads each instance with its own options, in a context of its own', async () => {
    assert.equal(group.shared, true);
    assert.deepEqual(
      group.members.map((m) => [m.instanceName, m.manifest.name]),
      [
        ['a', 'chain-member'],
        ['b', 'chain-member'],
      ],
    );
    // Awaited: a call made while the watchdog installs an isolate (the spare) waits for it.
    const a = headersOf(await group.member('a').call('onRequest', message));
    const b = headersOf(await group.member('b').call('onRequest', message));
    assert.equal(a['x-a-calls'], '1');
    assert.equal(b['x-b-calls'], '1', "b's module state is its own");
    assert.equal(b['x-b-sees-globals'], undefined, "b does not see a's globals");
    assert.throws(() => group.member('c'), /not in host/);
  });

  it('has the identity its members give it, and a reordered group has another', () => {
    assert.equal(group.identity, groupIdentityOf(specs));
    assert.notEqual(group.identity, groupIdentityOf([...specs].reverse()));
    assert.notEqual(group.identity, groupIdentityOf([specs[0]!, { ...specs[1]!, options: { name: 'z' } }]));
  });

  it('runs consecutive members in one crossing, each seeing the headers and state the one before left', async () => {
    const before = group.crossings;
    const entries = JSON.parse((await group.callGroup([0, 1], 'onRequest', message, '{}')).text) as Record<string, unknown>[];
    assert.equal(group.crossings - before, 1);
    assert.equal(entries.length, 2);
    assert.equal(headersOf(JSON.stringify(entries[1]))['x-b-saw-trail'], 'a,b');
    assert.equal(headersOf(JSON.stringify(entries[1]))['x-b-saw-state'], 'a');
  });

  it('ends a crossing after a member that answered directly or threw, naming the throw', async () => {
    const answered = JSON.parse((await group.callGroup([0, 1], 'onRequest', message, '{"x-do-a":"answer"}')).text) as Record<string, unknown>[];
    assert.equal(answered.length, 1);
    assert.deepEqual(answered[0]!['r'], { status: 403, body: { by: 'a' } });
    const threw = JSON.parse((await group.callGroup([0, 1], 'onRequest', message, '{"x-do-a":"throw"}')).text) as { f?: string; k?: string }[];
    assert.equal(threw.length, 1);
    assert.equal(threw[0]!.f, 'a threw');
    const failure = group.groupThrow(0, threw[0]!.f!, threw[0]!.k!);
    assert.equal(failure.instance, 'a');
    assert.match(failure.location ?? '', /chain-member\.ts:\d+:\d+$/);
  });

  it('a member that fails its options schema is named', async () => {
    await assert.rejects(
      PluginHost.createGroup([specs[0]!, { ...specs[1]!, options: { name: 7 } }], silentLogger()),
      (err: unknown) => err instanceof PluginMemberLoadError && err.instanceName === 'b' && err.cause instanceof PluginOptionsError,
    );
  });
});

describe('plugin host: limits in a shared group', () => {
  let group: PluginHost;
  before(async () => {
    const bundle = await bundlePlugin(cpuWork);
    group = await PluginHost.createGroup(
      [
        { instanceName: 'tight', bundle, options: {}, limits: { memoryMb: 16, cpuMs: 20, wallMs: 60_000 }, fetch: null },
        { instanceName: 'roomy', bundle, options: {}, limits: { memoryMb: 16, cpuMs: 5_000, wallMs: 60_000 }, fetch: null },
      ],
      silentLogger(),
    );
  });
  after(() => {
    group.dispose();
    group.dispose();
  });

  it("judges each member's call by that member's CPU limit", async () => {
    // 200 ms of work: within the roomy member's 5 s, over the tight member's 20 ms.
    const roomy = JSON.parse((await group.member('roomy').call('onRequest', message, '{"x-work-ms":"200"}')) as string) as { h: unknown[] };
    assert.ok(roomy.h.length > 0);
    await assert.rejects(
      async () => group.member('tight').call('onRequest', message, '{"x-work-ms":"200"}'),
      (err: unknown) => err instanceof PluginFailure && err.kind === 'timeout' && err.instance === 'tight',
    );
  });

  it("each member's part of a crossing is judged by that member's own CPU limit; the member stopped is named", async () => {
    const bundle = await bundlePlugin(member);
    // A roomy member first (5 s), then a tight one (50 ms) that loops: stopped at its own 50 ms,
    // not at the 5,050 ms the two have together.
    const chained = await PluginHost.createGroup(
      [
        { instanceName: 'a', bundle, options: { name: 'a' }, limits: { memoryMb: 16, cpuMs: 5_000, wallMs: 60_000 }, fetch: null },
        { instanceName: 'b', bundle, options: { name: 'b' }, limits: { memoryMb: 16, cpuMs: 50, wallMs: 60_000 }, fetch: null },
      ],
      silentLogger(),
    );
    try {
      const started = process.cpuUsage();
      await assert.rejects(
        async () => chained.callGroup([0, 1], 'onRequest', message, '{"x-do-b":"loop"}'),
        (err: unknown) => err instanceof PluginFailure && err.kind === 'timeout' && err.instance === 'b' && /its 50 ms CPU limit/.test(err.message),
      );
      // Judged by CPU time, so a busy machine does not change it: far below the pair's 5 s.
      const used = process.cpuUsage(started);
      assert.ok((used.user + used.system) / 1000 < 2_500, `the loop ran ${(used.user + used.system) / 1000} ms of CPU`);
      // The group runs on a fresh isolate: a's module state started again.
      const a = headersOf((await chained.member('a').call('onRequest', message)) as string);
      assert.equal(a['x-a-calls'], '1');
    } finally {
      chained.dispose();
      chained.dispose();
    }
  });
});

// What a crossing hands on, and what it leaves behind, when a member (or the gateway's timing)
// does something the common path does not: each case was a defect found in review.
describe('plugin host: parked answers, and answers across a shared group\'s members and loads', () => {
  let bundle: Awaited<ReturnType<typeof bundlePlugin>>;
  const groupOf = (names: string[], limitsOf: (name: string) => typeof limits = () => limits) =>
    PluginHost.createGroup(
      names.map((name) => ({ instanceName: name, bundle, options: { name }, limits: limitsOf(name), fetch: null })),
      silentLogger(),
    );
  const disposeAll = (host: PluginHost, uses: number) => {
    for (let i = 0; i < uses; i++) host.dispose();
  };
  before(async () => {
    bundle = await bundlePlugin(member);
  });

  it('an empty list of header changes is no change: the members after it still get valid ones', async () => {
    const host = await groupOf(['a', 'b', 'c']);
    try {
      const entries = JSON.parse((await host.callGroup([0, 1, 2], 'onRequest', message, '{"x-do-a":"forge-empty-ops"}')).text) as { f?: string; h?: unknown }[];
      assert.equal(entries.length, 3);
      assert.equal(entries[2]!.f, undefined, `c failed: ${entries[2]!.f}`);
      assert.equal(headersOf(JSON.stringify(entries[2]))['x-c-saw-trail'], 'b,c', "a's changes were none; b's reached c");
    } finally {
      disposeAll(host, 3);
    }
  });

  it('an async marker without an id is its member\'s failure, not a reason to run the others twice', async () => {
    const host = await groupOf(['a', 'b']);
    try {
      const entries = JSON.parse((await host.callGroup([0, 1], 'onRequest', message, '{"x-do-a":"forge-marker"}')).text) as { f?: string }[];
      assert.equal(entries.length, 1, 'the crossing ended at a');
      assert.match(entries[0]!.f ?? '', /async marker without an id/);
      const b = headersOf((await host.member('b').call('onRequest', message)) as string);
      assert.equal(b['x-b-calls'], '1', 'b did not run in that crossing');
    } finally {
      disposeAll(host, 2);
    }
  });

  it('a crossing that fails after the runner returned leaves no async answer parked in a kept isolate', async () => {
    const host = await groupOf(['a', 'b']);
    try {
      const generation = host.generation;
      for (let i = 0; i < 3; i++) {
        // a leaves a rejection unhandled, b's hook is async: the crossing throws once the isolate
        // has run its promise jobs, after b's answer was parked; the isolate is kept.
        await assert.rejects(
          async () => host.callGroup([0, 1], 'onRequest', message, '{"x-do-a":"unhandled","x-do-b":"async"}'),
          (err: unknown) => err instanceof PluginFailure && err.instance === null,
        );
      }
      assert.equal(host.generation, generation, 'the isolate was kept');
      assert.deepEqual(await parkedAnswers(host, 1, generation), [], 'answers left in b');
    } finally {
      disposeAll(host, 2);
    }
  });

  it('an own call that fails after its async hook parked an answer leaves nothing parked (forgetLast)', async () => {
    const host = await PluginHost.create('a', bundle, { name: 'a' }, limits, silentLogger());
    try {
      const generation = host.generation;
      for (let i = 0; i < 3; i++) {
        await assert.rejects(
          async () => host.call('onRequest', message, '{"x-do-a":"async-unhandled"}'),
          (err: unknown) => err instanceof PluginFailure && err.kind === 'throw',
        );
      }
      assert.equal(host.generation, generation, 'the isolate was kept');
      assert.deepEqual(await parkedAnswers(host, 0, generation), [], 'answers left in the runtime');
    } finally {
      host.dispose();
    }
  });

  it("promise jobs left by the crossing are judged by its members' largest limits, not by the last member's", async () => {
    // roomy's 150 ms job is within its own limit; tight (50 ms) ran last.
    const host = await groupOf(['roomy', 'tight'], (name) => (name === 'roomy' ? { memoryMb: 32, cpuMs: 2_000, wallMs: 60_000 } : { memoryMb: 32, cpuMs: 50, wallMs: 60_000 }));
    try {
      const generation = host.generation;
      for (let i = 0; i < 2; i++) {
        const entries = JSON.parse((await host.callGroup([0, 1], 'onRequest', message, '{"x-do-roomy":"job-spin"}')).text) as unknown[];
        assert.equal(entries.length, 2);
      }
      assert.equal(host.generation, generation, 'the group was not restarted');
    } finally {
      disposeAll(host, 2);
    }
  });

  it("a member's async answer reaches its own request when another request's limit breach restarts the group first", { timeout: 60_000 }, async () => {
    const host = await groupOf(['x', 'j']);
    const middleware = createSharedGroupMiddleware(
      host,
      ['x', 'j'].map((instanceName) => ({ instanceName, failurePolicy: 'fail-closed' as const })),
      silentLogger(),
    );
    const upstreamSaw = (req: GatewayRequest): Promise<GatewayResponse> => Promise.resolve({ status: 200, headers: { 'x-upstream-saw-j-for': String(req.headers['x-j-for']) }, body: null });
    const send = (headers: Record<string, string>) => middleware(upstreamSaw)(testRequest({ path: '/p', headers }));
    const watchdog = HookWatchdog.shared();
    const other = new ivm.Isolate({ memoryLimit: 8 });
    try {
      await send({});
      while (!host.spareReady) await new Promise((resolve) => setTimeout(resolve, 10));
      // While the watchdog installs another isolate, calls wait for it and then run in a row: R
      // parks j's answer on this load, X's loop gets the group restarted, S parks on the next load.
      const installing = watchdog.watch(other, 20);
      for (let i = 0; i < 1_000 && watchdog.covering; i++) await Promise.resolve();
      assert.equal(watchdog.covering, false, 'the handover did not start: the scenario is not set up');
      const r = send({ 'x-do-j': 'async-echo', 'x-req': 'R' });
      const x = send({ 'x-do-x': 'loop' });
      const s = send({ 'x-do-j': 'async-echo', 'x-req': 'S' });
      const [rRes, xRes, sRes] = await Promise.all([r, x, s]);
      (await installing)?.release();
      assert.equal(xRes.status, 500, 'x was stopped by its CPU limit');
      assert.deepEqual([rRes.status, rRes.headers['x-upstream-saw-j-for']], [200, 'R']);
      assert.deepEqual([sRes.status, sRes.headers['x-upstream-saw-j-for']], [200, 'S']);
    } finally {
      other.dispose();
      disposeAll(host, 2);
    }
  });
});
