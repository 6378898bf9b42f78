import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { compose } from '../chain/compose.ts';
import { testRequest } from '../chain/test-request.ts';
import type { GatewayRequest, GatewayResponse, Handler } from '../chain/types.ts';
import { silentLogger } from '../logging/logger.ts';
import { bundlePlugin } from './bundle-plugin.ts';
import { createPluginMiddleware } from './plugin-middleware.ts';
import { hostFetchBridge } from './plugin-fetch.ts';
import { PluginHost } from './plugin-host.ts';

// ctx.fetch's bridge between a plugin's isolate and the host (hostFetchBridge and installHostFetch
// in plugin-fetch.ts): the isolate asks without waiting on a host promise, the host answers through
// a reference back into the isolate. Here with a fetch source of the test's own, so that what the
// host answers, when, and whether it fails are the test's to choose.
const relayPath = path.join(import.meta.dirname, 'fixtures/fetch-relay.ts');
const limits = { memoryMb: 32, cpuMs: 200, wallMs: 5_000 };
const terminal: Handler = async () => ({ status: 599, headers: {}, body: 'the plugin did not answer' });

type Source = (url: string, init: string) => Promise<string>;
const hosts: PluginHost[] = [];
after(() => hosts.forEach((h) => h.dispose()));

async function relay(source: Source): Promise<{ host: PluginHost; ask: (url: string) => Promise<Record<string, unknown>>; send: (headers: Record<string, string>) => Promise<GatewayResponse> }> {
  const host = await PluginHost.create('relay', await bundlePlugin(relayPath), {}, limits, silentLogger(), source);
  hosts.push(host);
  const handler = compose([{ name: 'relay', middleware: createPluginMiddleware(host, 'relay', 'fail-closed', silentLogger()) }], terminal);
  const send = (headers: Record<string, string>) => handler(testRequest({ path: '/x', headers: { host: 'gw', ...headers }, route: { name: 'r' } as GatewayRequest['route'] }));
  const ask = async (url: string) => {
    const res: GatewayResponse = await send({ 'x-fetch-url': url });
    assert.equal(res.status, 200, String(res.body));
    return JSON.parse(String(res.body)) as Record<string, unknown>;
  };
  return { host, ask, send };
}

/** Unhandled rejections and uncaught exceptions while `run` runs (and a moment after). */
async function hostFailuresDuring(run: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const record = (err: unknown) => seen.push(err);
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off('unhandledRejection', record);
    process.off('uncaughtException', record);
  }
  return seen;
}

describe('ctx.fetch bridge', () => {
  it('gives each call its own answer, whatever order the host answers in', async () => {
    const answers: { url: string; answer: () => void }[] = [];
    const { ask } = await relay(
      (url) =>
        new Promise((resolve) => {
          answers.push({ url, answer: () => resolve(JSON.stringify({ status: 200, headers: {}, body: `for ${url}` })) });
          // Once all have asked, answer them last first.
          if (answers.length === 20) for (const a of [...answers].reverse()) a.answer();
        }),
    );
    const urls = Array.from({ length: 20 }, (_, i) => `http://upstream.test/${i}`);
    const got = await Promise.all(urls.map((u) => ask(u)));
    assert.deepEqual(
      got.map((g) => g['text']),
      urls.map((u) => `for ${u}`),
    );
  });

  it('turns a fetch source that throws or rejects into an error the plugin can catch, and nothing escapes in the host', async () => {
    const { ask } = await relay(async (url) => {
      if (url.endsWith('/throw')) throw new Error('boom');
      return Promise.reject(new Error('ctx.fetch: refused by the test'));
    });
    let thrown: Record<string, unknown> | undefined;
    let rejected: Record<string, unknown> | undefined;
    const failures = await hostFailuresDuring(async () => {
      thrown = await ask('http://upstream.test/throw');
      rejected = await ask('http://upstream.test/reject');
    });
    assert.deepEqual(failures, []);
    assert.equal(thrown!['error'], 'ctx.fetch: boom');
    assert.equal(rejected!['error'], 'ctx.fetch: refused by the test');
  });

  // isolated-vm drops a task for a disposed isolate without a word, so this pins the behaviour
  // more than the bridge's own guard (plugin-fetch.ts, answer()).
  it('an answer that comes after its isolate is gone fails nothing in the host', async () => {
    let answer: (() => void) | undefined;
    const asked = Promise.withResolvers<void>();
    const { host, ask } = await relay(
      () =>
        new Promise((resolve) => {
          answer = () => resolve(JSON.stringify({ status: 200, headers: {}, body: 'late' }));
          asked.resolve();
        }),
    );
    const failures = await hostFailuresDuring(async () => {
      const pending = ask('http://upstream.test/slow').catch((err: unknown) => err);
      await asked.promise;
      host.dispose(); // the plugin's call fails; its fetch is still in flight
      answer!();
      await pending;
    });
    assert.equal(typeof answer, 'function', 'the fetch reached the host before the isolate went');
    assert.deepEqual(failures, []);
  });

  it('leaves plugin code only the frozen fetch function: neither reference it crosses through', async () => {
    const { ask } = await relay(async () => JSON.stringify({ status: 204, headers: {}, body: '' }));
    const got = await ask('http://upstream.test/');
    assert.equal(got['status'], 204);
    assert.deepEqual(got['globals'], ['__isogateHost', '__isogateHostFetch', '__isogatePlugin']);
  });

  it('sends nothing a plugin asked for once its isolate is gone: a loop of fetches stopped by its CPU limit', async () => {
    let sent = 0;
    const { send } = await relay(async () => {
      sent++;
      return JSON.stringify({ status: 200, headers: {}, body: '' });
    });
    const res = await send({ 'x-flood': '1' });
    assert.equal(res.status, 500, 'fail-closed: the hook was stopped');
    // The loop's calls were queued behind the hook call; they run now, and find the isolate gone.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(sent, 0);
  });
});

describe('ctx.fetch bridge, host side (hostFetchBridge)', () => {
  const answers = () => {
    const got: [number, string][] = [];
    return { got, deliver: { applyIgnored: (_: undefined, [id, reply]: [number, string]) => void got.push([id, reply]) } };
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('refuses past its bound of fetches in flight, at once, and takes more as they finish', async () => {
    const open: (() => void)[] = [];
    const bridge = hostFetchBridge(() => new Promise((resolve) => open.push(() => resolve('{"status":200,"headers":{},"body":""}'))), 2);
    const { got, deliver } = answers();
    bridge.connect(deliver, () => true);
    bridge.start('http://a.test/', '{}', 1);
    bridge.start('http://a.test/', '{}', 2);
    bridge.start('http://a.test/', '{}', 3);
    await settle();
    assert.equal(open.length, 2);
    assert.deepEqual(got, [[3, JSON.stringify({ error: 'ctx.fetch: 2 fetches of this plugin are already in flight' })]]);
    open[0]!();
    await settle();
    bridge.start('http://a.test/', '{}', 4);
    await settle();
    assert.equal(open.length, 3, 'one finished: one more may go');
  });

  it('counts a fetch that failed as finished', async () => {
    let calls = 0;
    const bridge = hostFetchBridge(async () => {
      calls++;
      throw new Error('refused');
    }, 1);
    const { got, deliver } = answers();
    bridge.connect(deliver, () => true);
    bridge.start('http://a.test/', '{}', 1);
    await settle();
    bridge.start('http://a.test/', '{}', 2);
    await settle();
    assert.equal(calls, 2, 'the bound of one was free again');
    assert.deepEqual(got.map(([id]) => id), [1, 2]);
  });

  it('answers bad arguments with an error and starts nothing for an isolate that is gone', async () => {
    let calls = 0;
    const bridge = hostFetchBridge(async () => (calls++, '{}'));
    const { got, deliver } = answers();
    let alive = true;
    bridge.connect(deliver, () => alive);
    bridge.start(42, '{}', 1);
    bridge.start('http://a.test/', '{}', 'x');
    alive = false;
    bridge.start('http://a.test/', '{}', 2);
    await settle();
    assert.equal(calls, 0);
    assert.deepEqual(got, [[1, JSON.stringify({ error: 'ctx.fetch: invalid arguments' })]]);
  });
});
