// A request's garbage must die young. Two ways it did not, both found under load with the
// observing built-ins (metrics, access log, tracing): the gateway built the callback that reports
// a sent response as an arrow inside `Gateway.handle` (fixed by `reportSent`), and the tracing
// built-in made each request's OpenTelemetry context with the API's `BaseContext`, whose methods
// are arrows built per context (fixed by `RequestContext`). Either way, while the hot path ran
// unoptimized (5-13 s into the load; for the whole run with --no-opt), minor GCs kept finished
// requests alive and moved them to the old generation: megabytes per scavenge, pauses of 20-50 ms
// instead of 2-5.
//
// The gateway runs in a child with --no-opt --no-maglev so that the unoptimized code in which
// the pile-up happens runs for the whole measurement instead of for an unknown part of it, and
// without allocation-site pretenuring, as `isogate start` runs it (start-gateway.ts says why).
// What is measured is bytes, not time: a busy machine changes neither side much.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Pool } from 'undici';
import { startUpstream } from '../../helpers/upstream.ts';

const FIXTURE = path.join(import.meta.dirname, 'fixtures/promotion-under-load.ts');
const CONCURRENCY = 50;
const WARMUP = 1_000;
const MEASURED = 6_000;
/**
 * Measured here: ~5,000 bytes per request with neither fix, ~1,400 with the tracing one missing,
 * 35-70 with both (what is in flight at a scavenge).
 */
const MAX_PROMOTED_PER_REQUEST = 400;

function nextMessage<T>(child: ChildProcess): Promise<T> {
  return once(child, 'message').then(([message]) => message as T);
}

describe('request garbage under load, observed by tracing, metrics and logging', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('is not promoted to the old generation by minor GCs', { timeout: 300_000 }, async (t) => {
    const body = Buffer.from(JSON.stringify({ ok: true, message: 'hello from the upstream' }));
    const upstream = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    const child = fork(FIXTURE, [upstream.url], { execArgv: ['--no-opt', '--no-maglev', '--no-allocation-site-pretenuring'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    const { url } = await nextMessage<{ url: string }>(child);
    const client = new Pool(url, { connections: CONCURRENCY });
    try {
      const load = async (count: number): Promise<void> => {
        let sent = 0;
        const worker = async (): Promise<void> => {
          while (sent < count) {
            sent++;
            const res = await client.request({ path: `/users/${sent}`, method: 'GET' });
            await res.body.dump();
            assert.equal(res.statusCode, 200);
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      };
      await load(WARMUP);
      child.send('start');
      await nextMessage(child);
      await load(MEASURED);
      child.send('stop');
      const { promoted, minor } = await nextMessage<{ promoted: number; minor: number }>(child);
      const perRequest = Math.round(promoted / MEASURED);
      t.diagnostic(`${perRequest} bytes per request promoted by ${minor} minor GCs`);
      assert.ok(minor > 0, 'no minor GC ran during the load: nothing was measured');
      assert.ok(perRequest <= MAX_PROMOTED_PER_REQUEST, `${perRequest} bytes per request promoted by ${minor} minor GCs (at most ${MAX_PROMOTED_PER_REQUEST})`);
    } finally {
      await client.close();
      child.send('exit');
      await once(child, 'exit');
      await upstream.close();
    }
  });
});
