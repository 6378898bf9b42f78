// Fastify 5 + @fastify/reply-from set up as reply-from's README does for proxying: `base` set to
// the upstream, which makes reply-from use its undici Pool with the README's default settings
// (128 connections, pipelining 1, keep-alive 60 s), and a handler calling `reply.from()`. One
// catch-all route so every path (wrk's `/`) goes to the upstream; Fastify's logger is off, as by
// default.
//
// Usage: node bench/reply-from-proxy.ts --port <port> --upstream http://127.0.0.1:<port>
// Exits when its stdin closes, so it never outlives the bench runner.
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { parseArgs } from 'node:util';
import { serveForBench } from './serve-for-bench.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string', default: process.env.BENCH_UPSTREAM ?? '' },
  },
});
if (!values.upstream) throw new Error('reply-from-proxy: --upstream (or BENCH_UPSTREAM) is required');

const app = Fastify();
await app.register(replyFrom, { base: values.upstream });
app.all('/*', function proxyToUpstream(request, reply) {
  return reply.from(request.url);
});
await app.ready();

// Fastify's own listen() would do the same; serveForBench listens on app.server so that this
// process starts, reports readiness and exits like every other process the bench starts.
serveForBench(app.server, 'reply-from', Number(values.port), values.host, () => void app.close());
