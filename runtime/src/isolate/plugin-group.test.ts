import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../logging/logger.ts';
import { bundlePlugin } from './bundle-plugin.ts';
import { groupIdentityOf, PluginFailure, PluginHost, PluginMemberLoadError, PluginOptionsError, type PluginMemberSpec } from './plugin-host.ts';

// A shared plugin group's host: several instances in one isolate, one context each; each call
// judged by its own member's limits, a crossing by the sum of its members'.
const member = path.join(import.meta.dirname, 'fixtures/chain-member.ts');
const cpuWork = path.join(import.meta.dirname, 'fixtures/cpu-work.ts');
const limits = { memoryMb: 32, cpuMs: 50, wallMs: 1_000 };

/** The request headers a member's onRequest answered with (its header operations applied to none). */
function headersOf(answer: string): Record<string, string> {
  const out = JSON.parse(answer) as { h?: [string, string, string?][] };
  return Object.fromEntries((out.h ?? []).filter((op) => op[0] !== 'd').map((op) => [op[1], op[2]!]));
}

const message = JSON.stringify({ rq: ['GET', '/p', '', {}, '127.0.0.1', 'r'] });

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
    const entries = JSON.parse(await group.callGroup([0, 1], 'onRequest', message, '{}')) as Record<string, unknown>[];
    assert.equal(group.crossings - before, 1);
    assert.equal(entries.length, 2);
    assert.equal(headersOf(JSON.stringify(entries[1]))['x-b-saw-trail'], 'a,b');
    assert.equal(headersOf(JSON.stringify(entries[1]))['x-b-saw-state'], 'a');
  });

  it('ends a crossing after a member that answered directly or threw, naming the throw', async () => {
    const answered = JSON.parse(await group.callGroup([0, 1], 'onRequest', message, '{"x-do-a":"answer"}')) as Record<string, unknown>[];
    assert.equal(answered.length, 1);
    assert.deepEqual(answered[0]!['r'], { status: 403, body: { by: 'a' } });
    const threw = JSON.parse(await group.callGroup([0, 1], 'onRequest', message, '{"x-do-a":"throw"}')) as { f?: string; k?: string }[];
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
