// Design measurement for issue 14 ("a route's chain of N user plugins should not pay N full
// crossings"): what would a shared isolate, or one crossing for a run of hooks, save per request?
// Each variant runs the SDK's real hook runtime (the one every plugin isolate runs) around the
// bench plugin (sets one header), and does on the host what the gateway does with each answer
// (parse it, apply its header operations); only where the plugins live and how many crossings a
// request makes differ:
//
// - separate:  N isolates, N crossings (what the gateway does).
// - contexts:  one isolate with a context per plugin, N crossings (a shared isolate, no batching).
// - batched:   one isolate, one crossing: a driver context calls each plugin's runtime directly
//              (same isolate) and applies each answer's header operations to the headers the
//              next plugin gets; the host then applies every answer, in order.
// - bare:      the same N crossings into runtimes whose hook does nothing and reads nothing: the
//              crossing alone, the most batching could ever save.
//
// Pinned to one core by bench/run.ts; interleaved rounds; medians. Prints one JSON line.
import assert from 'node:assert/strict';
import path from 'node:path';
import ivm from '../runtime/src/isolate/isolated-vm.ts';
import { applyHeaderOps, packHookCall, type HookOutput } from '@isogate/sdk/internal/hook-wire';
import { createHookRuntime } from '@isogate/sdk/internal/hook-runtime';
import { bundlePlugin } from '../runtime/src/isolate/bundle-plugin.ts';

const CALLS = Number(process.env.BENCH_CHAIN_CALLS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_CHAIN_ROUNDS ?? 7);
const SIZES = [1, 3];

const headers = {
  host: 'bench.local', 'user-agent': 'wrk', accept: '*/*', 'accept-encoding': 'gzip, br', 'accept-language': 'en',
  'cache-control': 'no-cache', connection: 'keep-alive', cookie: 'a=1; b=2', 'x-request-id': '0123456789abcdef',
  'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', referer: 'https://example.test/page', dnt: '1',
  'sec-fetch-mode': 'cors', 'sec-fetch-site': 'same-origin',
};
const message = JSON.stringify({ rq: ['GET', '/api/users/42', 'expand=orders', { id: '42' }, '203.0.113.7', '/api/users/:id'] });
const invalid = (m: string) => new Error(m);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const plugin = await bundlePlugin(path.join(import.meta.dirname, 'plugins/set-header.ts'));
const runtimeScript = `globalThis.__isogateHost = (${createHookRuntime.toString()})();\n;void 0`;
const pluginScript = `${plugin.code}\n;__isogateHost.register(__isogatePlugin); __isogateHost.configure('{}');\n;void 0`;
const bareScript = `globalThis.__isogateHost = { call: () => '{}', callPacked: () => '{}' };\n;void 0`;

type Call = ivm.Reference<(hook: string, input: string, requestHeaders: string) => string>;
type PackedCall = ivm.Reference<(packed: string) => string>;

/**
 * A context running the hook runtime with the bench plugin (or the bare stand-in): its `call`
 * (for a driver in the same isolate) and `callPacked` (what the gateway's host crosses into).
 */
function member(isolate: ivm.Isolate, bare: boolean): { context: ivm.Context; call: Call; packed: PackedCall } {
  const context = isolate.createContextSync();
  context.evalSync(bare ? bareScript : runtimeScript);
  if (!bare) context.evalSync(pluginScript);
  const host = context.global.getSync('__isogateHost', { reference: true }) as ivm.Reference<Record<string, unknown>>;
  return { context, call: host.getSync('call', { reference: true }) as Call, packed: host.getSync('callPacked', { reference: true }) as PackedCall };
}

/** The gateway's way: one crossing per hook, the headers encoded for each, each answer applied. */
function perHook(calls: PackedCall[]): () => Record<string, string | string[]> {
  return () => {
    let reqHeaders: Record<string, string | string[]> = { ...headers };
    for (const call of calls) {
      const out = JSON.parse(call.applySync(undefined, [packHookCall('onRequest', message, JSON.stringify(reqHeaders))])) as HookOutput;
      if (out.h) reqHeaders = applyHeaderOps(reqHeaders, out.h, invalid);
    }
    return reqHeaders;
  };
}

/**
 * One crossing for the whole run: a driver context holds each member's `call` as a plain function
 * (derefInto: same isolate) and hands the next member the headers the previous one left.
 */
function batched(isolate: ivm.Isolate, members: { call: Call }[]): () => Record<string, string | string[]> {
  const driver = isolate.createContextSync();
  driver.evalSync(`globalThis.members = [];
globalThis.drive = (packed) => {
  // The same one-string framing the gateway's host uses (packHookCall).
  const a = packed.indexOf('\\u0000'), b = packed.indexOf('\\u0000', a + 1), c = packed.indexOf('\\u0000', b + 1);
  const hook = packed.slice(0, a) === 'onRequest' ? 'onRequest' : packed.slice(0, a);
  const inputEnd = c + 1 + Number(packed.slice(a + 1, b));
  const input = packed.slice(c + 1, inputEnd);
  const headerJson = packed.slice(inputEnd, inputEnd + Number(packed.slice(b + 1, c)));
  const outs = [];
  let json = headerJson;
  let headers = null;
  for (const call of members) {
    const out = call(hook, input, json);
    outs.push(out);
    const ops = JSON.parse(out).h;
    if (!ops) continue;
    headers ??= JSON.parse(json);
    for (const [op, name, value] of ops) {
      if (op === 'd') delete headers[name];
      else if (op === 's' || headers[name] === undefined) headers[name] = value;
      else headers[name] = [].concat(headers[name], value);
    }
    json = JSON.stringify(headers);
  }
  return '[' + outs.join(',') + ']';
};
void 0`);
  const add = driver.global.getSync('members', { reference: true }) as ivm.Reference<unknown[]>;
  members.forEach((m, i) => add.setSync(i, m.call.derefInto()));
  const drive = driver.global.getSync('drive', { reference: true }) as PackedCall;
  return () => {
    let reqHeaders: Record<string, string | string[]> = { ...headers };
    const outs = JSON.parse(drive.applySync(undefined, [packHookCall('onRequest', message, JSON.stringify(reqHeaders))])) as HookOutput[];
    for (const out of outs) if (out.h) reqHeaders = applyHeaderOps(reqHeaders, out.h, invalid);
    return reqHeaders;
  };
}

function cpuPerCall(call: () => unknown, calls = CALLS): number {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) call();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}

const isolates: ivm.Isolate[] = [];
const isolate = (mb: number) => {
  const made = new ivm.Isolate({ memoryLimit: mb });
  isolates.push(made);
  return made;
};
const variants: Record<string, () => unknown> = {};
for (const n of SIZES) {
  variants[`separate-${n}`] = perHook(Array.from({ length: n }, () => member(isolate(64), false).packed));
  const shared = isolate(64 * n);
  const members = Array.from({ length: n }, () => member(shared, false));
  variants[`contexts-${n}`] = perHook(members.map((m) => m.packed));
  variants[`batched-${n}`] = batched(shared, members);
  variants[`bare-separate-${n}`] = perHook(Array.from({ length: n }, () => member(isolate(16), true).packed));
  const bareShared = isolate(16);
  variants[`bare-batched-${n}`] = batched(bareShared, Array.from({ length: n }, () => member(bareShared, true)));
}
// Every variant must do the same work: the plugins' headers arrive whichever way they crossed.
for (const [name, run] of Object.entries(variants)) {
  const bare = name.startsWith('bare-');
  assert.deepEqual(run(), bare ? headers : { ...headers, 'x-bench-plugin': 'on' }, `${name} applied the hooks' answers`);
}
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (const run of Object.values(variants)) cpuPerCall(run, CALLS / 4);
for (let r = 0; r < ROUNDS; r++) for (const [name, run] of Object.entries(variants)) samples[name]!.push(cpuPerCall(run));
for (const made of isolates) made.dispose();
const us = Object.fromEntries(Object.entries(samples).map(([name, xs]) => [name, median(xs)]));
process.stdout.write(`${JSON.stringify({ calls: CALLS, rounds: ROUNDS, sizes: SIZES, us })}\n`);
