// Preloaded into every Node process the bench starts (NODE_OPTIONS="--import <this file>"), so
// that each row can report the GC pauses of its main V8 heap without touching the code under
// test. It sums perf_hooks 'gc' entries and, on SIGUSR2 from the runner, writes a snapshot of the
// totals to $BENCH_GC_DIR/<pid>.json (`GcSnapshot`, bench/gc-stats.ts) and restarts the
// "longest pause" window, so the runner gets exact per-repetition deltas by signalling before and
// after a repetition. Nothing runs per request; one observer callback per GC.
//
// It also counts the bytes minor GCs moved to the old generation (a v8.GCProfiler, read and
// restarted at each snapshot; minor-gc-promotion.ts says how it counts). Per request, that is the cause behind long scavenges: finished requests kept alive and
// promoted (see `reportSent` in runtime/src/gateway.ts) show as kilobytes per request where a
// healthy proxy shows tens of bytes, whatever the machine's speed. Its cost, the same for every
// Node row: heap statistics read before and after each GC (~0.06 ms added to each pause as
// perf_hooks reports it, measured on this bench's machines), ~4 KB kept per GC until the next
// snapshot, and a few ms to read them back between repetitions.
//
// Not seen from here: the heaps of isolated-vm isolates (plugins) are separate V8 isolates and
// perf_hooks reports only the main one.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import type { PerformanceEntry } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import type { GcSnapshot } from './gc-stats.ts';
import { minorGcPromotion } from './minor-gc-promotion.ts';

const dir = process.env['BENCH_GC_DIR'];

// Worker threads (the gateway's config evaluation, type checks) cannot take signals, and their
// heaps are not the request path's.
if (dir && isMainThread) {
  const totals: GcSnapshot = { pid: process.pid, seq: 0, count: 0, totalMs: 0, majorCount: 0, majorMs: 0, maxMs: 0, promotedBytes: 0 };

  const add = (entries: PerformanceEntry[]): void => {
    for (const entry of entries) {
      totals.count++;
      totals.totalMs += entry.duration;
      if (entry.duration > totals.maxMs) totals.maxMs = entry.duration;
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        totals.majorCount++;
        totals.majorMs += entry.duration;
      }
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });

  // v8.GCProfiler is in every Node the bench runs (the repository's Node 24).
  let profiler = new v8.GCProfiler();
  profiler.start();
  const addPromoted = (): void => {
    totals.promotedBytes += minorGcPromotion(profiler.stop().statistics).bytes;
    profiler = new v8.GCProfiler();
    profiler.start();
  };

  const file = join(dir, `${process.pid}.json`);
  const write = (): void => {
    add(observer.takeRecords());
    addPromoted();
    writeFileSync(`${file}.tmp`, JSON.stringify(totals));
    renameSync(`${file}.tmp`, file);
  };
  // seq 0 tells the runner this process has the observer (and may be signalled).
  write();
  process.on('SIGUSR2', function gcSnapshotRequested() {
    totals.seq++;
    write();
    totals.maxMs = 0;
  });
}
