// Micro-benchmark: the CPU cost of one onRequest hook call through the real plugin host and
// middleware adapter (encode the request, one string into the isolate, run the hook, one string
// back, apply the changes), against the same chain without the plugin; and what the sandbox's
// globals (URL, TextEncoder, crypto, console… runtime/src/isolate/sandbox/) cost: a plugin
// isolate's start with them (from the code cache, and cold) and without them, the same hook in
// an isolate without them, and a hook that does use them (HMAC verification of a 1 KiB body).
// Pinned to one core by bench/run.ts; interleaved rounds; medians. Prints one JSON line.
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { compose } from '../runtime/src/chain/compose.ts';
import type { GatewayRequest, Handler } from '../runtime/src/chain/types.ts';
import { testRequest } from '../runtime/src/chain/test-request.ts';
import { bundlePlugin, type PluginBundle } from '../runtime/src/isolate/bundle-plugin.ts';
import { createPluginMiddleware } from '../runtime/src/isolate/plugin-middleware.ts';
import { PluginHost } from '../runtime/src/isolate/plugin-host.ts';
import { sandboxBenchSettings, sandboxScript } from '../runtime/src/isolate/sandbox/sandbox-script.ts';
import { silentLogger } from '../runtime/src/logging/logger.ts';

const CALLS = Number(process.env.BENCH_HOOK_CALLS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_HOOK_ROUNDS ?? 7);
const STARTS = Number(process.env.BENCH_START_ROUNDS ?? 15);
const limits = { memoryMb: 64, cpuMs: 50, wallMs: 1000 };

const headers = {
  host: 'bench.local', 'user-agent': 'wrk', accept: '*/*', 'accept-encoding': 'gzip, br', 'accept-language': 'en',
  'cache-control': 'no-cache', connection: 'keep-alive', cookie: 'a=1; b=2', 'x-request-id': '0123456789abcdef',
  'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', referer: 'https://example.test/page', dnt: '1',
  'sec-fetch-mode': 'cors', 'sec-fetch-site': 'same-origin',
};
const request = (): GatewayRequest =>
  testRequest({ path: '/api/users/42', query: 'expand=orders', headers: { ...headers }, params: { id: '42' }, clientIp: '203.0.113.7', remoteAddress: '203.0.113.7', route: { name: '/api/users/:id' } as GatewayRequest['route'] });
const terminal: Handler = async () => ({ status: 200, headers: {}, body: null });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A plugin host built with the sandbox as `settings` say (restored afterwards). */
async function load(bundle: PluginBundle, options: unknown, settings: { install: boolean; codeCache: boolean }): Promise<PluginHost> {
  Object.assign(sandboxBenchSettings, settings);
  try {
    return await PluginHost.create('p1', bundle, options, limits, silentLogger());
  } finally {
    Object.assign(sandboxBenchSettings, { install: true, codeCache: true });
  }
}

// Once per process, before any plugin loads: bundle the sandbox and make its code cache.
const built = performance.now();
await sandboxScript();
const sandboxBuildMs = performance.now() - built;

const setHeader = await bundlePlugin(path.join(import.meta.dirname, 'plugins/set-header.ts'));
const setHeaderAsync = await bundlePlugin(path.join(import.meta.dirname, 'plugins/set-header-async.ts'));
const webhook = await bundlePlugin(path.join(import.meta.dirname, '../examples/plugins/webhook-signature.ts'));

// Isolate start: the whole plugin load (isolate, context, prelude, sandbox, bundle, options), interleaved.
const kinds = { cached: { install: true, codeCache: true }, cold: { install: true, codeCache: false }, without: { install: false, codeCache: false } } as const;
const starts: Record<keyof typeof kinds, number[]> = { cached: [], cold: [], without: [] };
for (let r = 0; r < STARTS + 1; r++) {
  for (const kind of Object.keys(kinds) as (keyof typeof kinds)[]) {
    const t = performance.now();
    const host = await load(setHeader, {}, kinds[kind]);
    const ms = performance.now() - t;
    host.dispose();
    if (r > 0) starts[kind].push(ms); // the first round warms up the host's own code
  }
}

const withGlobals = await load(setHeader, {}, kinds.cached);
const withoutGlobals = await load(setHeader, {}, kinds.without);
const chain = (host: PluginHost) => compose([{ name: 'p1', middleware: createPluginMiddleware(host, 'p1', 'fail-closed', silentLogger()) }], terminal);
const withPlugin = chain(withGlobals);
const withPluginNoGlobals = chain(withoutGlobals);
const asyncHost = await load(setHeaderAsync, {}, kinds.cached);
const withAsyncPlugin = chain(asyncHost);

async function cpuPerCall(call: () => unknown, calls = CALLS): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await call();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}

// A hook that uses the globals: the webhook plugin verifying a 1 KiB body's HMAC-SHA256 (an async
// hook: it awaits crypto.subtle, so the host settles its promise).
const secret = 'whsec_bench';
const hmacHost = await PluginHost.create('hmac', webhook, { secret }, limits, silentLogger());
const payload = Buffer.alloc(1024, 'a');
const hmacMessage = JSON.stringify({ rq: ['POST', '/hooks/x', '', {}, '203.0.113.7', '/hooks/*', 'bytes'], qb: payload.toString('base64') });
const hmacHeaders = JSON.stringify({ 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(payload).digest('hex')}` });
const hmacCall = async () => {
  const raw = hmacHost.call('onRequest', hmacMessage, hmacHeaders);
  const out = typeof raw === 'string' ? raw : await raw;
  if (out.includes('"r"')) throw new Error(`the signature was refused: ${out}`);
};

const plugin: number[] = [];
const pluginNoGlobals: number[] = [];
const bare: number[] = [];
const hmac: number[] = [];
const asyncHook: number[] = [];
await cpuPerCall(() => withPlugin(request()));
await cpuPerCall(() => withPluginNoGlobals(request()));
await cpuPerCall(() => terminal(request()));
await cpuPerCall(hmacCall, CALLS / 10);
await cpuPerCall(() => withAsyncPlugin(request()));
for (let r = 0; r < ROUNDS; r++) {
  plugin.push(await cpuPerCall(() => withPlugin(request())));
  pluginNoGlobals.push(await cpuPerCall(() => withPluginNoGlobals(request())));
  bare.push(await cpuPerCall(() => terminal(request())));
  hmac.push(await cpuPerCall(hmacCall, CALLS / 10));
  asyncHook.push(await cpuPerCall(() => withAsyncPlugin(request())));
}
withGlobals.dispose();
withoutGlobals.dispose();
hmacHost.dispose();
asyncHost.dispose();
process.stdout.write(
  `${JSON.stringify({
    calls: CALLS,
    rounds: ROUNDS,
    chainWithPluginUs: median(plugin),
    chainWithoutUs: median(bare),
    hookCpuUs: median(plugin) - median(bare),
    hookCpuUsNoGlobals: median(pluginNoGlobals) - median(bare),
    hmacHookCpuUs: median(hmac),
    asyncHookCpuUs: median(asyncHook) - median(bare),
    startRounds: STARTS,
    startMsCached: median(starts.cached),
    startMsCold: median(starts.cold),
    startMsNoGlobals: median(starts.without),
    sandboxBuildMs,
  })}\n`,
);
setTimeout(() => process.exit(0), 200);
