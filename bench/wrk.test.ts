import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWrkOutput, parseWrkTime, wrkArgs } from './wrk.ts';

// Captured from wrk 4.1.0 against a local node:http server.
const CLEAN = `Running 1s test @ http://127.0.0.1:18081/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.85ms    1.84ms  14.53ms   89.64%
    Req/Sec    31.47k     8.71k   41.90k    70.00%
  Latency Distribution
     50%    1.25ms
     75%    1.89ms
     90%    3.74ms
     99%   10.20ms
  31333 requests in 1.00s, 7.41MB read
Requests/sec:  31181.24
Transfer/sec:      7.37MB
`;

// Mixed units (us / ms / s) plus both error lines.
const WITH_ERRORS = `Running 5s test @ http://127.0.0.1:9000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.40us    1.02ms    1.90s    97.12%
    Req/Sec    48.10k     3.22k   52.75k    82.00%
  Latency Distribution
     50%  640.00us
     75%  805.00us
     90%    1.10ms
     99%    1.52s
  239817 requests in 5.00s, 48.03MB read
  Socket errors: connect 2, read 17, write 1, timeout 4
  Non-2xx or 3xx responses: 123
Requests/sec:  47962.55
Transfer/sec:      9.61MB
`;

// The same kind of run with bench/wrk-percentiles.lua (captured from wrk 4.1.0).
const WITH_SCRIPT = `Running 1s test @ http://127.0.0.1:18099/
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.25ms    2.79ms  33.28ms   93.16%
    Req/Sec    18.58k     7.82k   27.57k    60.00%
  Latency Distribution
     50%  397.00us
     75%  630.00us
     90%    2.73ms
     99%   15.60ms
  18444 requests in 1.00s, 2.18MB read
Requests/sec:  18414.30
Transfer/sec:      2.18MB
bench-percentile 50 397
bench-percentile 90 2731
bench-percentile 99 15600
bench-percentile 99.9 27312
bench-percentile 99.99 33001
bench-latency-max 33285
`;

// A run where every request took seconds and the total duration is in minutes.
const SLOW = `Running 1m test @ http://127.0.0.1:9001/slow
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50s   200.00ms   1.99s    70.00%
    Req/Sec     5.00      2.00    10.00     60.00%
  Latency Distribution
     50%    1.48s
     75%    1.60s
     90%    1.80s
     99%    1.99s
  400 requests in 1.00m, 80.00KB read
  Socket errors: connect 0, read 0, write 0, timeout 7
Requests/sec:      6.66
Transfer/sec:      1.33KB
`;

describe('parseWrkTime', () => {
  it('converts every wrk unit to milliseconds', () => {
    assert.equal(parseWrkTime('250.00us'), 0.25);
    assert.equal(parseWrkTime('1.25ms'), 1.25);
    assert.equal(parseWrkTime('2.00s'), 2000);
    assert.equal(parseWrkTime('1.50m'), 90_000);
    assert.equal(parseWrkTime('1.00h'), 3_600_000);
  });
  it('rejects garbage', () => {
    assert.throws(() => parseWrkTime('-nan'));
    assert.throws(() => parseWrkTime('12'));
  });
});

describe('parseWrkOutput', () => {
  it('parses a clean run', () => {
    const r = parseWrkOutput(CLEAN);
    assert.equal(r.requestsPerSec, 31181.24);
    assert.equal(r.requests, 31333);
    assert.equal(r.durationSec, 1);
    assert.deepEqual(r.latencyMs, { 50: 1.25, 75: 1.89, 90: 3.74, 99: 10.2 });
    assert.equal(r.latencyAvgMs, 1.85);
    assert.deepEqual(r.socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 });
    assert.equal(r.non2xx3xx, 0);
    assert.equal(r.errors, 0);
  });

  it('parses socket errors, non-2xx responses and us/ms/s latencies', () => {
    const r = parseWrkOutput(WITH_ERRORS);
    assert.equal(r.requestsPerSec, 47962.55);
    assert.equal(r.requests, 239817);
    assert.equal(r.durationSec, 5);
    assert.equal(r.latencyMs[50], 0.64);
    assert.equal(r.latencyMs[75], 0.805);
    assert.equal(r.latencyMs[90], 1.1);
    assert.equal(r.latencyMs[99], 1520);
    assert.ok(Math.abs((r.latencyAvgMs ?? 0) - 0.8124) < 1e-9);
    assert.deepEqual(r.socketErrors, { connect: 2, read: 17, write: 1, timeout: 4 });
    assert.equal(r.non2xx3xx, 123);
    assert.equal(r.errors, 2 + 17 + 1 + 4 + 123);
  });

  it('parses second latencies and a duration in minutes', () => {
    const r = parseWrkOutput(SLOW);
    assert.equal(r.durationSec, 60);
    assert.equal(r.latencyMs[50], 1480);
    assert.equal(r.latencyMs[99], 1990);
    assert.equal(r.latencyAvgMs, 1500);
    assert.equal(r.socketErrors.timeout, 7);
    assert.equal(r.non2xx3xx, 0);
    assert.equal(r.errors, 7);
  });

  it('takes p99.9, p99.99 and the longest request from the percentiles script, in ms', () => {
    const r = parseWrkOutput(WITH_SCRIPT);
    assert.deepEqual(r.latencyMs, { 50: 0.397, 75: 0.63, 90: 2.731, 99: 15.6, 99.9: 27.312, 99.99: 33.001 });
    assert.equal(r.latencyMaxMs, 33.285);
    assert.equal(parseWrkOutput(CLEAN).latencyMaxMs, null);
    assert.equal(parseWrkOutput(CLEAN).latencyMs[99.9], undefined);
  });

  it('throws on output that is not a wrk report', () => {
    assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused\n'), /unexpected output/);
  });
});

describe('wrkArgs', () => {
  it('pins wrk with taskset when a cpu is given', () => {
    assert.deepEqual(wrkArgs({ url: 'http://127.0.0.1:1/', durationSec: 5, connections: 50, cpu: '1' }), {
      command: 'taskset',
      args: ['-c', '1', 'wrk', '-t1', '-c50', '-d5s', '--latency', 'http://127.0.0.1:1/'],
    });
  });
  it('passes a Lua script before the URL', () => {
    const { args } = wrkArgs({ url: 'http://127.0.0.1:1/', durationSec: 5, connections: 50, cpu: null, script: '/b/wrk-percentiles.lua' });
    assert.deepEqual(args, ['-t1', '-c50', '-d5s', '--latency', '-s', '/b/wrk-percentiles.lua', 'http://127.0.0.1:1/']);
  });
  it('runs wrk directly without a cpu', () => {
    assert.equal(wrkArgs({ url: 'http://127.0.0.1:1/', durationSec: 2, connections: 8, cpu: null }).command, 'wrk');
  });
});
