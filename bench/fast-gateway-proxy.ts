// fast-gateway (https://fgw.21no.de) set up as its README's "Gateway" example, the way its users
// proxy: one route, the default `http` proxy type, nothing else. That type is fast-proxy-lite,
// whose own defaults are the keep-alive pool (an http.Agent with keepAlive, 1 min, up to 2048
// sockets); undici exists only behind the `http-legacy` type (fast-proxy, "not installed by
// default"), so the recommended setup is the one measured. `prefix: ''` with the default
// `pathRegex: '/*'` registers `/*`, so every path (wrk's `/`) reaches the upstream unchanged;
// `enableServicesEndpoint: false` only removes the GET /services.json route.
//
// Usage: node bench/fast-gateway-proxy.ts --port <port> --upstream http://127.0.0.1:<port>
// Exits when its stdin closes, so it never outlives the bench runner.
import type http from 'node:http';
import { parseArgs } from 'node:util';
import gateway from 'fast-gateway';
import { serveForBench } from './serve-for-bench.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string', default: process.env.BENCH_UPSTREAM ?? '' },
  },
});
if (!values.upstream) throw new Error('fast-gateway-proxy: --upstream (or BENCH_UPSTREAM) is required');

const router = gateway({
  enableServicesEndpoint: false,
  routes: [{ prefix: '', target: values.upstream }],
});

serveForBench(router.getServer() as http.Server, 'fast-gateway', Number(values.port), values.host);
