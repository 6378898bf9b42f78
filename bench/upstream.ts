// Benchmark upstream: a single-process node:http server that answers every
// request (any method, any path) with the same small JSON body.
//
// Usage: node bench/upstream.ts --port <port>
// Prints one JSON line {"msg":"listening","port":N} on stdout when ready.
// Exits when its stdin closes, so it never outlives the bench runner.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { serveForBench } from './serve-for-bench.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

// ~100 bytes of JSON, fixed, so every target moves the same payload.
export const UPSTREAM_BODY = Buffer.from(
  JSON.stringify({ ok: true, service: 'isogate-bench-upstream', message: 'hello from the benchmark upstream' }),
);

const responseHeaders: Record<string, string | number> = {
  'content-type': 'application/json',
  'content-length': UPSTREAM_BODY.length,
};

const server = http.createServer((req, res) => {
  // Drain any request body before answering so keep-alive stays usable.
  req.resume();
  if (req.method === 'HEAD') {
    res.writeHead(200, responseHeaders);
    res.end();
    return;
  }
  res.writeHead(200, responseHeaders);
  res.end(UPSTREAM_BODY);
});

serveForBench(server, 'upstream', Number(values.port), values.host);
