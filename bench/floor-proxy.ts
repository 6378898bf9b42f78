// The floor any Node gateway stands on: node:http server + one undici.Pool to
// the upstream, no routing, no middleware. Isogate is measured against this.
//
// Usage: node bench/floor-proxy.ts --port <port> --upstream http://127.0.0.1:<port>
// Exits when its stdin closes, so it never outlives the bench runner.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { serveForBench } from './serve-for-bench.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string', default: process.env.BENCH_UPSTREAM ?? '' },
    connections: { type: 'string', default: '64' },
  },
});
if (!values.upstream) throw new Error('floor-proxy: --upstream (or BENCH_UPSTREAM) is required');

// More upstream connections than wrk's default 50 client connections, so the
// pool never queues; keep-alive for the whole run.
const pool = new Pool(values.upstream, {
  connections: Number(values.connections),
  pipelining: 1,
  keepAliveTimeout: 60_000,
  keepAliveMaxTimeout: 60_000,
});

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'host', 'transfer-encoding']);

function stripHopByHop(headers: http.IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

const server = http.createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .request({
      path: req.url ?? '/',
      method: (req.method ?? 'GET') as 'GET',
      headers: stripHopByHop(req.headers),
      body: hasBody ? req : null,
    })
    .then(({ statusCode, headers, body }) => {
      res.writeHead(statusCode, stripHopByHop(headers));
      // body.pipe(res), not stream.pipeline(): on Node 24 pipeline() roughly doubled this proxy's
      // CPU per request (measured ~90 vs ~45 µs/req). Errors and client aborts by hand instead:
      body.on('error', () => res.destroy());
      res.on('close', () => {
        if (!res.writableFinished) body.destroy();
      });
      body.pipe(res);
    })
    .catch(() => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
});
serveForBench(server, 'floor-proxy', Number(values.port), values.host, () => void pool.destroy());
