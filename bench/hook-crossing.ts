// Micro-benchmark: the CPU cost of one onRequest hook call through the real plugin host and
// middleware adapter (encode the request, one string into the isolate, run the hook, one string
// back, apply the changes), against the same chain without the plugin. Pinned to one core by
// bench/run.ts; interleaved rounds; medians. Prints one JSON line.
import path from 'node:path';
import { compose } from '../runtime/src/chain/compose.ts';
import type { GatewayRequest, Handler } from '../runtime/src/chain/types.ts';
import { testRequest } from '../runtime/src/chain/test-request.ts';
import { bundlePlugin } from '../runtime/src/isolate/bundle-plugin.ts';
import { createPluginMiddleware } from '../runtime/src/isolate/plugin-middleware.ts';
import { PluginHost } from '../runtime/src/isolate/plugin-host.ts';
import { silentLogger } from '../runtime/src/logging/logger.ts';

const CALLS = Number(process.env.BENCH_HOOK_CALLS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_HOOK_ROUNDS ?? 7);

const headers = {
  host: 'bench.local', 'user-agent': 'wrk', accept: '*/*', 'accept-encoding': 'gzip, br', 'accept-language': 'en',
  'cache-control': 'no-cache', connection: 'keep-alive', cookie: 'a=1; b=2', 'x-request-id': '0123456789abcdef',
  'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', referer: 'https://example.test/page', dnt: '1',
  'sec-fetch-mode': 'cors', 'sec-fetch-site': 'same-origin',
};
const request = (): GatewayRequest =>
  testRequest({ path: '/api/users/42', query: 'expand=orders', headers: { ...headers }, params: { id: '42' }, clientIp: '203.0.113.7', remoteAddress: '203.0.113.7', route: { name: '/api/users/:id' } as GatewayRequest['route'] });
const terminal: Handler = async () => ({ status: 200, headers: {}, body: null });

const host = await PluginHost.create('p1', await bundlePlugin(path.join(import.meta.dirname, 'plugins/set-header.ts')), {}, { memoryMb: 64, cpuMs: 50, wallMs: 1000 }, silentLogger());
const withPlugin = compose([{ name: 'p1', middleware: createPluginMiddleware(host, 'p1', 'fail-closed', silentLogger()) }], terminal);

async function cpuPerCall(handler: Handler): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) await handler(request());
  const used = process.cpuUsage(start);
  return (used.user + used.system) / CALLS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
await cpuPerCall(withPlugin);
await cpuPerCall(terminal);
const plugin: number[] = [];
const bare: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  plugin.push(await cpuPerCall(withPlugin));
  bare.push(await cpuPerCall(terminal));
}
host.dispose();
const hookUs = median(plugin) - median(bare);
process.stdout.write(`${JSON.stringify({ calls: CALLS, rounds: ROUNDS, chainWithPluginUs: median(plugin), chainWithoutUs: median(bare), hookCpuUs: hookUs })}\n`);
setTimeout(() => process.exit(0), 200);
