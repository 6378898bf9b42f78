import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { compose } from '../chain/compose.ts';
import { testRequest } from '../chain/test-request.ts';
import type { GatewayRequest, GatewayResponse, Handler } from '../chain/types.ts';
import { silentLogger } from '../logging/logger.ts';
import { bundlePlugin } from './bundle-plugin.ts';
import { createPluginMiddleware } from './plugin-middleware.ts';
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

async function relay(source: Source): Promise<{ host: PluginHost; ask: (url: string) => Promise<Record<string, unknown>> }> {
  const host = await PluginHost.create('relay', await bundlePlugin(relayPath), {}, limits, silentLogger(), source);
  hosts.push(host);
  const handler = compose([{ name: 'relay', middleware: createPluginMiddleware(host, 'relay', 'fail-closed', silentLogger()) }], terminal);
  const ask = async (url: string) => {
    const res: GatewayResponse = await handler(testRequest({ path: '/x', headers: { host: 'gw', 'x-fetch-url': url }, route: { name: 'r' } as GatewayRequest['route'] }));
    assert.equal(res.status, 200, String(res.body));
    return JSON.parse(String(res.body)) as Record<string, unknown>;
  };
  return { host, ask };
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

  it('drops an answer whose isolate is gone without failing the host', async () => {
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
    assert.deepEqual(failures, []);
  });

  it('leaves plugin code only the frozen fetch function: neither reference it crosses through', async () => {
    const { ask } = await relay(async () => JSON.stringify({ status: 204, headers: {}, body: '' }));
    const got = await ask('http://upstream.test/');
    assert.equal(got['status'], 204);
    assert.deepEqual(got['globals'], ['__isogateHost', '__isogateHostFetch', '__isogatePlugin']);
  });
});
