// The floor of an aggregating Node gateway: node:http + one undici.Pool, three GETs to the
// upstream with Promise.all, each answer parsed, merged under a key, written as one JSON object.
// No routing, no templates, no limits. Isogate's aggregated route is measured against it.
//
// Usage: node bench/aggregate-floor.ts --port <port> --upstream http://127.0.0.1:<port>
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
    connections: { type: 'string', default: '192' },
  },
});
if (!values.upstream) throw new Error('aggregate-floor: --upstream (or BENCH_UPSTREAM) is required');

// Three upstream calls per client request: enough connections that the pool never queues.
const pool = new Pool(values.upstream, { connections: Number(values.connections), pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
const GROUPS = ['a', 'b', 'c'] as const;

async function fetchJson(path: string): Promise<unknown> {
  const { statusCode, body } = await pool.request({ path, method: 'GET' });
  if (statusCode !== 200) {
    await body.dump();
    throw new Error(`upstream answered ${statusCode}`);
  }
  return body.json();
}

const server = http.createServer((_req, res) => {
  Promise.all(GROUPS.map((g) => fetchJson(`/${g}`)))
    .then((answers) => {
      const merged: Record<string, unknown> = {};
      answers.forEach((answer, i) => (merged[GROUPS[i]!] = answer));
      const text = JSON.stringify(merged);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    })
    .catch(() => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
});
serveForBench(server, 'aggregate-floor', Number(values.port), values.host, () => void pool.destroy());
