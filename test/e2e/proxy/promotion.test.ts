// A request's garbage must die young. Four ways it did not, all found under load, all the same V8
// behaviour: a function literal assigned straight to a property (`obj.f = () => …`) is marked by
// V8's parser for old-space allocation, and every tier but TurboFan honours the mark. Such a
// closure, dead, keeps its young context alive through every scavenge until the next full GC, so
// while the hot path had not been compiled by TurboFan yet (the first 5-13 s of load), minor GCs
// kept finished requests alive and moved them to the old generation: megabytes per scavenge,
// pauses of 20-50 ms instead of 2-5. The four: the sent-response callback of routed requests in
// `Gateway.handle` (now `reportSent`) and of requests answered before routing
// (`reportSentToAll`), the tracing built-in's per-request OpenTelemetry contexts (the API's
// `BaseContext` assigns its methods that way; now `RequestContext`), and a plugin's ctx.fetch
// (undici's request() API does, per request; now the proxy's dispatch handler, and a timer
// cleared with the call instead of AbortSignal.timeout, whose timer outlives it). The lint rule in
// eslint.config.js keeps the pattern out of our own code. ctx.fetch had a second cause of its own:
// isolated-vm kept the host's side of a call whose result is a promise alive past its end (now a
// call each way, neither waiting on a promise: hostFetchBridge in plugin-fetch.ts).
//
// The child runs with --no-opt, which keeps TurboFan (the only tier that ignores the mark) out for
// the whole measurement, --no-maglev, which keeps the tiers the same throughout, and without
// allocation-site pretenuring, as `isogate start` runs (start-gateway.ts says why). What is
// measured is bytes, not time: a busy machine changes neither side much.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Pool } from 'undici';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

const FIXTURE = path.join(import.meta.dirname, 'fixtures/promotion-under-load.ts');
const CONCURRENCY = 50;
const WARMUP = 1_000;
const MEASURED = 6_000;
/**
 * Measured here, routed requests: ~5,000 bytes per request with none of the fixes, ~1,400 without
 * the tracing one, 30-80 with all (what is in flight at a scavenge). Unrouted (404s): ~1,700
 * without `reportSentToAll`, ~20 with it. Behind a plugin's ctx.fetch: ~5,000 with undici's
 * request() API and AbortSignal.timeout, ~530 with the dispatch handler and a timer cleared with
 * the call while the isolate still waited on a host promise through isolated-vm, ~60 with the
 * bridge that hands no promise across (hostFetchBridge in plugin-fetch.ts).
 */
const MAX_PROMOTED_PER_REQUEST = 400;

/**
 * The child's next IPC message. Rejects if the child has exited or exits first, or its channel
 * fails: a crash must fail the test, never hang it.
 */
function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null || !child.connected) {
      reject(new Error(`the gateway child is gone (code ${child.exitCode}, signal ${child.signalCode})`));
      return;
    }
    const settle = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const onMessage = (message: unknown): void => {
      settle();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      settle();
      reject(new Error(`the gateway child exited (code ${code}, signal ${signal}) before answering`));
    };
    const onError = (err: Error): void => {
      settle();
      reject(err);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

/** Send `message` to the child; rejects if the channel is closed. */
function send(child: ChildProcess, message: string): Promise<void> {
  return new Promise<void>((resolve, reject) => child.send(message, (err) => (err ? reject(err) : resolve())));
}

/** Ends the child: asks it to close the gateway, and kills it if it has not exited within 10 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send('exit', () => {});
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

describe('request garbage under load: observed by tracing, metrics and logging, and with a plugin fetching', () => {
  it('is not promoted to the old generation by minor GCs: routed, answered before routing, or behind ctx.fetch', { timeout: 300_000 }, async (t) => {
    let upstream: Upstream | null = null;
    let child: ChildProcess | null = null;
    let client: Pool | null = null;
    try {
      const body = Buffer.from(JSON.stringify({ ok: true, message: 'hello from the upstream' }));
      const idp = await startUpstream((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      });
      // The upstream of every route, and the plugin's introspection endpoint.
      upstream = idp;
      // The test's own signal kills the child if the test times out, so `finally` still runs.
      const gateway = fork(FIXTURE, [idp.url], {
        execArgv: ['--no-opt', '--no-maglev', '--no-allocation-site-pretenuring'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        signal: t.signal,
        killSignal: 'SIGKILL',
      });
      // Channel errors are seen by nextMessage/send; none may go unhandled.
      gateway.on('error', () => {});
      child = gateway;
      const { url } = await nextMessage<{ url: string }>(gateway);
      const pool = new Pool(url, { connections: CONCURRENCY });
      client = pool;

      // The introspect plugin reads a bearer token (and asks the upstream about it; not active: 401).
      const headers = { authorization: 'Bearer not-active' };
      /** `count` GET requests to `prefix`/N, CONCURRENCY at a time, each answered with `status`. */
      const load = async (prefix: string, status: number, count: number): Promise<void> => {
        let sent = 0;
        const worker = async (): Promise<void> => {
          while (sent < count) {
            sent++;
            const res = await pool.request({ path: `${prefix}/${sent}`, method: 'GET', headers, signal: t.signal });
            await res.body.dump();
            assert.equal(res.statusCode, status);
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      };
      /** Bytes promoted per request while `count` requests ran. */
      const measure = async (prefix: string, status: number): Promise<number> => {
        await load(prefix, status, WARMUP);
        const started = nextMessage(gateway);
        await send(gateway, 'start');
        await started;
        await load(prefix, status, MEASURED);
        const stopped = nextMessage<{ promoted: number; minor: number }>(gateway);
        await send(gateway, 'stop');
        const { promoted, minor } = await stopped;
        const perRequest = Math.round(promoted / MEASURED);
        t.diagnostic(`${prefix}: ${perRequest} bytes per request promoted by ${minor} minor GCs`);
        assert.ok(minor > 0, `${prefix}: no minor GC ran during the load, nothing was measured`);
        return perRequest;
      };

      const routed = await measure('/users', 200);
      const unrouted = await measure('/nowhere', 404);
      const fetching = await measure('/introspected', 401);
      // The plugin also answers 401 without asking when there is no token: make sure it asked.
      assert.equal(idp.requests.filter((r) => r.url === '/introspect').length, WARMUP + MEASURED);
      assert.ok(routed <= MAX_PROMOTED_PER_REQUEST, `routed: ${routed} bytes per request promoted (at most ${MAX_PROMOTED_PER_REQUEST})`);
      assert.ok(unrouted <= MAX_PROMOTED_PER_REQUEST, `unrouted: ${unrouted} bytes per request promoted (at most ${MAX_PROMOTED_PER_REQUEST})`);
      assert.ok(fetching <= MAX_PROMOTED_PER_REQUEST, `a plugin's ctx.fetch per request: ${fetching} bytes per request promoted (at most ${MAX_PROMOTED_PER_REQUEST})`);
    } finally {
      // destroy, not close: a stuck child must not hold the test for undici's timeouts.
      await client?.destroy();
      if (child) await stop(child);
      await upstream?.close();
    }
  });
});
