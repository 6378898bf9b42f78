// What a v8.GCProfiler run says minor GCs moved to the old generation: old space's used size after
// each scavenge (or minor mark-sweep, with --minor-ms) minus before it. Promoted large objects are
// not counted, and a scavenge that overlaps old-space sweeping can count less. Used by the bench's
// GC observer, bench/closure-promotion.ts and test/e2e/proxy/promotion.test.ts.
import type v8 from 'node:v8';

type GcStatistics = ReturnType<v8.GCProfiler['stop']>['statistics'];

export interface MinorGcPromotion {
  /** Bytes moved to old space by minor GCs. */
  bytes: number;
  /** How many minor GCs ran. */
  minorGcs: number;
}

export function minorGcPromotion(statistics: GcStatistics): MinorGcPromotion {
  let bytes = 0;
  let minorGcs = 0;
  for (const gc of statistics) {
    if (gc.gcType !== 'Scavenge' && gc.gcType !== 'MinorMarkSweep') continue;
    minorGcs++;
    bytes += Math.max(0, oldSpaceUsed(gc.afterGC.heapSpaceStatistics) - oldSpaceUsed(gc.beforeGC.heapSpaceStatistics));
  }
  return { bytes, minorGcs };
}

function oldSpaceUsed(spaces: readonly { spaceName: string; spaceUsedSize: number }[]): number {
  for (const space of spaces) if (space.spaceName === 'old_space') return space.spaceUsedSize;
  return 0;
}
