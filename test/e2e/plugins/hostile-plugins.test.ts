import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, startGateway, type RunningGateway } from '../../../runtime/src/index.ts';

// Through real sockets: a misbehaving plugin on one route is answered per its failure policy
// within its limits, while another route keeps serving and the process stays up.
const hostile = path.resolve(import.meta.dirname, '../../../runtime/src/isolate/fixtures/hostile.ts');
let dir: string;
let upstream: http.Server;
let running: RunningGateway;
let origin: string;

before(async () => {
  upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, hostile: req.headers['x-hostile'] ?? null }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-hostile-'));
  await fs.writeFile(
    path.join(dir, 'gateway.config.ts'),
    `export default {
  plugins: {
    closed: { use: ${JSON.stringify(hostile)}, limits: { cpuMs: 50, wallMs: 400, memoryMb: 32 }, fetch: { allow: [${JSON.stringify(origin)}] } },
    open: { use: ${JSON.stringify(hostile)}, failurePolicy: 'fail-open', limits: { cpuMs: 50, wallMs: 400, memoryMb: 32 }, fetch: { allow: [${JSON.stringify(origin)}] } },
  },
  routes: [
    { path: '/closed/*', upstream: ${JSON.stringify(origin)}, middleware: ['closed'] },
    { path: '/open/*', upstream: ${JSON.stringify(origin)}, middleware: ['open'] },
    { path: '/plain/*', upstream: ${JSON.stringify(origin)} },
  ],
};
`,
  );
  running = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, logger: silentLogger() });
});

after(async () => {
  await running?.stop();
  upstream.closeAllConnections();
  upstream.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function get(p: string, mode?: string): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const headers: Record<string, string> = mode ? { 'x-mode': mode } : {};
  if (mode === 'loop-after-fetch') headers['x-fetch-url'] = `${origin}/ping`;
  const res = await fetch(`${running.url}${p}`, { headers });
  return { status: res.status, body: await res.text(), ms: Date.now() - started };
}

/** One thread's scheduler counters (Linux schedstat): ns on CPU, ns runnable but waiting for a CPU. */
function threadTimes(): Map<string, { name: string; onCpu: number; waiting: number }> {
  const times = new Map<string, { name: string; onCpu: number; waiting: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const [onCpu, waiting] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ').map(Number);
      times.set(tid, { name: readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').trim(), onCpu: onCpu! / 1e6, waiting: waiting! / 1e6 });
    } catch {
      // the thread ended
    }
  }
  return times;
}

/**
 * The threads of this process (the gateway runs in it) that spun through a window of `ms`: on the
 * CPU for at least half of the time they were not waiting for one. That holds for an endless loop
 * however busy the machine is (it is always either running or waiting to), and not for threads that
 * woke now and then. Plugin code runs on this thread or on isolated-vm's pool threads; V8's own
 * platform workers (GC, compilation) are left out: they never run plugin code, and the work a
 * failure leaves them is a one-time burst, not a runaway.
 */
async function spinningThreads(ms: number): Promise<string[]> {
  if (process.platform !== 'linux') return []; // schedstat is Linux's
  const before = threadTimes();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const spinning: string[] = [];
  for (const [tid, after] of threadTimes()) {
    if (after.name === 'V8Worker' || after.name === 'DelayedTaskSche') continue;
    const onCpu = after.onCpu - (before.get(tid)?.onCpu ?? 0);
    const waiting = after.waiting - (before.get(tid)?.waiting ?? 0);
    if (onCpu >= (ms - waiting) / 2) spinning.push(`${tid} (${after.name}): ${onCpu.toFixed(0)} ms on CPU, ${waiting.toFixed(0)} ms waiting for one, in ${ms} ms`);
  }
  return spinning;
}

describe('misbehaving plugins over real sockets', () => {
  for (const mode of ['throw', 'loop', 'loop-after-await', 'loop-after-fetch', 'never', 'allocate', 'fill']) {
    it(`"${mode}": fail-closed answers a coded 500 within its limit; fail-open passes; other routes keep serving`, async () => {
      const plainDuring = get('/plain/x'); // in flight while the plugin misbehaves
      const closed = await get('/closed/x', mode);
      assert.equal(closed.status, 500);
      assert.equal(JSON.parse(closed.body).error.code, 'ISOGATE_ERR_PLUGIN_FAILED');
      assert.doesNotMatch(closed.body, /secret|hostile\.ts|Error/);
      assert.ok(closed.ms < 5_000, `took ${closed.ms} ms`);
      const open = await get('/open/x', mode);
      assert.equal(open.status, 200, 'fail-open skips the failing hook');
      assert.equal((await plainDuring).status, 200);
      // Both plugins recover (a fresh isolate where needed): a hook that runs says its isolate is
      // loaded, and the one-time work of building it is done before anything is measured below.
      for (const route of ['/closed/x', '/open/x']) {
        const calm = await get(route);
        assert.equal(calm.status, 200);
        assert.equal(JSON.parse(calm.body).hostile, 'calm', route);
      }
      // Nothing keeps spinning: a runaway left running would hold a thread on the CPU.
      const spinning = await spinningThreads(300);
      assert.deepEqual(spinning, [], `threads still spinning after "${mode}"`);
    });
  }

  it('plugin code cannot reach the host: no isolated-vm objects, no process, require, fetch, or import()', async () => {
    const res = await get('/closed/x', 'escape');
    const seen = JSON.parse(res.body) as Record<string, string>;
    assert.deepEqual(seen['hostObjects'], [], 'no isolated-vm object is reachable from plugin code');
    assert.equal(seen['process'], 'undefined');
    assert.equal(seen['require'], 'undefined');
    assert.equal(seen['fetch'], 'undefined');
    assert.match(seen['ctor']!, /^(undefined|blocked: .*)$/);
    assert.equal(seen['dynamicImport'], 'refused');
  });
});
