/**
 * Per-request CPU cost of the logging middleware, by hand (not part of the test suite):
 *
 *   node plugins/logging/bench.ts [requests]
 *
 * Runs the same request through a chain without and with the plugin (the terminal handler stands
 * in for the proxy: it reports one upstream attempt and answers a small body), reports the
 * transport's `sent`, and prints the CPU time per request of each variant and the difference.
 * Lines go to a file in a temp directory (as in the gateway benchmark), then to a pino logger
 * like the gateway's own in `isogate start` (synchronous, to /dev/null here).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { compose } from '../../runtime/src/chain/compose.ts';
import { sentNotifier, startUpstream } from '../../runtime/src/chain/instruments.ts';
import type { GatewayRequest, GatewayResponse, Handler, Middleware } from '../../runtime/src/chain/types.ts';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import { createInstance, testContext } from './test-support.ts';
import { testRequest } from '../../runtime/src/chain/test-request.ts';

const requests = Number(process.argv[2] ?? 200_000);
const route = { name: 'users', path: '/users/:id' } as GatewayRequest['route'];

const terminal: Handler = async (req) => {
  const done = req.instruments === null ? null : startUpstream(req, { origin: 'http://127.0.0.1:3001', method: req.method, path: req.path, headers: req.headers });
  const res: GatewayResponse = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
  done?.({ status: 200 });
  return res;
};

function request(i: number): GatewayRequest {
  return testRequest({
    path: `/users/${i}`,
    headers: { host: 'gw.test', 'user-agent': 'bench/1.0', accept: '*/*', authorization: 'Bearer x.y.z' },
    params: { id: String(i) },
    route,
  });
}

async function measure(middleware: Middleware[]): Promise<number> {
  const chain = compose(
    middleware.map((m, i) => ({ name: `m${i}`, middleware: m })),
    terminal,
  );
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const req = request(i);
      const res = await chain(req);
      sentNotifier(req)?.(res.status, { bytes: 11, aborted: false });
      // A gateway turns the event loop between requests; so must this loop, or file writes never run.
      if ((i & 255) === 255) await new Promise(setImmediate);
    }
  };
  await run(Math.min(20_000, requests)); // warm-up
  const before = process.cpuUsage();
  await run(requests);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / requests;
}

const dir = mkdtempSync(path.join(tmpdir(), 'isogate-logging-bench-'));
const file = path.join(dir, 'access.log');
const ctx = testContext(silentLogger());
try {
  const idOnly = createInstance({ level: 'debug' }, testContext(silentLogger())); // silent: request id only
  const toFile = createInstance({ file }, ctx);
  // What `isogate start` does by default: pino writing each line synchronously to stdout (here /dev/null).
  const gatewayLogger = pino({ level: 'info', base: { pid: process.pid } }, pino.destination({ dest: '/dev/null', sync: true }));
  const toGatewayLog = createInstance({}, testContext(gatewayLogger.child({ plugin: 'access' })));
  const rows: [string, number][] = [];
  for (let round = 0; round < 2; round++) {
    rows.push(
      ['empty chain', await measure([])],
      ['request id only (level off)', await measure([idOnly.middleware])],
      ['access line to a file', await measure([toFile.middleware])],
      ['access line to gateway log', await measure([toGatewayLog.middleware])],
    );
  }
  await toFile.dispose?.();
  await ctx.closeShared();
  const base = rows[4]![1];
  for (const [name, us] of rows.slice(4)) console.log(`${name.padEnd(30)} ${us.toFixed(2)} µs/req CPU  (+${(us - base).toFixed(2)})`);
  console.log(`file: ${(statSync(file).size / ((requests + Math.min(20_000, requests)) * 2)).toFixed(0)} bytes/line`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
