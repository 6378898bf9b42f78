/**
 * Unknown option keys: `configure` compares the options given with what the plugin's schema kept,
 * whatever library the schema comes from, and refuses a key the schema neither declared nor used.
 * Run against the hook runtime directly; the gateway evaluates the same function's source in the
 * isolate (runtime/src/isolate/load-user-plugins.test.ts covers that path and the key paths).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { definePlugin, type StandardSchemaV1 } from '../index.ts';
import { createHookRuntime } from './hook-runtime.ts';

interface Configured {
  ok: boolean;
  issues?: { message: string; path: string[] }[];
}

async function configure(plugin: object, options: unknown): Promise<Configured> {
  const rt = createHookRuntime();
  rt.register(plugin);
  const answer = rt.configure(JSON.stringify(options));
  return JSON.parse(answer.charCodeAt(0) === 0 ? await rt.settle(Number(answer.slice(1))) : answer) as Configured;
}

const paths = (out: Configured) => (out.issues ?? []).map((i) => i.path.join('.'));

/** A Standard Schema written by hand: an object of declared keys that drops the others (valibot's `object`). */
function handObject(keys: Record<string, unknown>, opts: { async?: boolean } = {}): StandardSchemaV1<Record<string, unknown>> {
  const validate = (value: unknown) => {
    if (value === null || typeof value !== 'object') return { issues: [{ message: 'expected an object' }] };
    const out: Record<string, unknown> = {};
    for (const [k, d] of Object.entries(keys)) out[k] = k in value ? (value as Record<string, unknown>)[k] : d;
    return { value: out };
  };
  return { '~standard': { version: 1, vendor: 'hand', validate: opts.async ? async (v: unknown) => validate(v) : validate } };
}

const withSchema = (options: StandardSchemaV1 | undefined, extra: object = {}) => definePlugin({ name: 'p', version: '1.0.0', options, ...extra });

describe('unknown option keys', () => {
  it('refuses a typo that zod`s default object drops, naming it and the key it probably meant', async () => {
    const out = await configure(withSchema(z.object({ header: z.string().default('x-request-id') })), { headr: 'x-trace' });
    assert.equal(out.ok, false);
    assert.deepEqual(paths(out), ['headr']);
    assert.match(out.issues![0]!.message, /unknown option/);
    assert.match(out.issues![0]!.message, /did you mean "header"\?/);
  });

  it('accepts options the schema knows, with defaults filled in and optional keys left out', async () => {
    const schema = z.object({ header: z.string().default('x'), echo: z.boolean().optional(), n: z.number().default(1) });
    assert.deepEqual(await configure(withSchema(schema), { header: 'y' }), { ok: true });
    assert.deepEqual(await configure(withSchema(schema), {}), { ok: true });
  });

  it('finds unknown keys at any depth: nested objects and array items', async () => {
    const schema = z.object({
      request: z.object({ set: z.record(z.string(), z.string()).default({}), remove: z.array(z.string()).default([]) }).default({ set: {}, remove: [] }),
      rules: z.array(z.object({ path: z.string(), limit: z.number() })).default([]),
    });
    const out = await configure(withSchema(schema), {
      request: { set: { 'x-a': '1' }, remvoe: ['cookie'] },
      rules: [{ path: '/a', limit: 1 }, { path: '/b', limit: 2, burst: 3 }],
    });
    assert.deepEqual(paths(out).sort(), ['request.remvoe', 'rules.1.burst']);
  });

  it('leaves records, loose objects and catch-alls alone: they keep unknown keys on purpose', async () => {
    const schema = z.object({
      headers: z.record(z.string(), z.string()),
      extra: z.looseObject({ a: z.number() }),
      tags: z.object({}).catchall(z.string()),
    });
    assert.deepEqual(await configure(withSchema(schema), { headers: { 'x-anything': '1' }, extra: { a: 1, b: 2 }, tags: { env: 'prod' } }), { ok: true });
  });

  it('does not report a key a transform used (renamed or consumed), nor look inside what a transform made', async () => {
    const renamed = z.object({ hdr: z.string() }).transform((o) => ({ header: o.hdr }));
    assert.deepEqual(await configure(withSchema(renamed), { hdr: 'x' }), { ok: true });
    const consumed = z.object({ ms: z.number().optional(), seconds: z.number().optional() }).transform((o) => ({ timeoutMs: o.ms ?? (o.seconds ?? 1) * 1000 }));
    assert.deepEqual(await configure(withSchema(consumed), { seconds: 2 }), { ok: true });
    const toMap = z.object({ routes: z.record(z.string(), z.number()).transform((r) => new Map(Object.entries(r))) });
    assert.deepEqual(await configure(withSchema(toMap), { routes: { '/a': 1 } }), { ok: true });
    const filtered = z.object({ list: z.array(z.object({ on: z.boolean() })).transform((l) => l.filter((i) => i.on)) });
    assert.deepEqual(await configure(withSchema(filtered), { list: [{ on: false }, { on: true }] }), { ok: true });
    // But an unknown key beside a transformed one is still unknown.
    const out = await configure(withSchema(consumed), { seconds: 2, secnods: 3 });
    assert.deepEqual(paths(out), ['secnods']);
  });

  it('judges a union by the branch that matched', async () => {
    const schema = z.object({
      store: z.union([z.object({ kind: z.literal('memory'), size: z.number().default(100) }), z.object({ kind: z.literal('redis'), url: z.string() })]),
    });
    assert.deepEqual(await configure(withSchema(schema), { store: { kind: 'redis', url: 'redis://x' } }), { ok: true });
    // `url` belongs to the other branch: the memory store never sees it.
    assert.deepEqual(paths(await configure(withSchema(schema), { store: { kind: 'memory', url: 'redis://x' } })), ['store.url']);
  });

  it('works with any Standard Schema library, sync or async', async () => {
    assert.deepEqual(paths(await configure(withSchema(handObject({ header: 'x' })), { header: 'y', headr: 'z' })), ['headr']);
    assert.deepEqual(paths(await configure(withSchema(handObject({ header: 'x' }, { async: true })), { header: 'y', headr: 'z' })), ['headr']);
    assert.deepEqual(await configure(withSchema(handObject({ header: 'x' }, { async: true })), { header: 'y' }), { ok: true });
  });

  it('reports every unknown key at once, and only once the values are valid', async () => {
    const out = await configure(withSchema(z.object({ a: z.string().default('') })), { b: 1, c: 2 });
    assert.deepEqual(paths(out).sort(), ['b', 'c']);
    // A value the schema refuses is reported as before (unknown keys are checked once the options are valid).
    const bad = await configure(withSchema(z.object({ a: z.string() })), { a: 1, b: 1 });
    assert.deepEqual(paths(bad), ['a']);
  });

  it('refuses options given to a plugin that declares none', async () => {
    const out = await configure(withSchema(undefined), { header: 'x' });
    assert.deepEqual(paths(out), ['header']);
    assert.match(out.issues![0]!.message, /declares no options/);
    assert.deepEqual(await configure(withSchema(undefined), {}), { ok: true });
  });

  it('lets a plugin opt out with allowUnknownOptions: the keys reach ctx.options', async () => {
    const schema = z.looseObject({ target: z.string() });
    const stripping = z.object({ target: z.string() });
    assert.deepEqual(await configure(withSchema(stripping, { allowUnknownOptions: true }), { target: 'a', anything: 1 }), { ok: true });
    assert.deepEqual(await configure(withSchema(undefined, { allowUnknownOptions: true }), { anything: 1 }), { ok: true });
    const rt = createHookRuntime();
    rt.register(
      definePlugin({
        name: 'pass',
        version: '1.0.0',
        options: schema,
        allowUnknownOptions: true,
        onRequest(req, ctx) {
          req.headers.set('x-seen', JSON.stringify(ctx.options));
        },
      }),
    );
    assert.equal(rt.configure(JSON.stringify({ target: 'a', forwarded: { b: 1 } })), '{"ok":true}');
    const out = JSON.parse(rt.call('onRequest', JSON.stringify({ rq: ['GET', '/', '', {}, '127.0.0.1', '/'] }), '{}')) as { h: string[][] };
    assert.deepEqual(JSON.parse(out.h[0]![2]!), { target: 'a', forwarded: { b: 1 } });
  });
});
