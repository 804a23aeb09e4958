import { PerformanceObserver, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Detects allocation on a path that must allocate nothing. Garbage is invisible after a collection, so
 * the probe looks at both signs of it: heap growth while the work ran, and any collection that started
 * while it ran (young-generation space is a few MB, so a path allocating even 16 bytes per call over a
 * few million calls triggers collections).
 */

/** Settling time for GC performance entries, which are delivered asynchronously. */
const GC_ENTRY_SETTLE_MS = 20;

let gcFunction: (() => void) | null = null;

/** A full garbage collection, without needing node --expose-gc on the command line. */
export function forceGc(): void {
  if (gcFunction === null) {
    v8.setFlagsFromString('--expose-gc');
    gcFunction = vm.runInNewContext('gc') as () => void;
  }
  gcFunction();
}

export interface AllocationProbe {
  /** Garbage collections that started while the work ran. */
  collections: number;
  /** used_heap_size after the work minus before it. */
  heapGrowthBytes: number;
  durationMs: number;
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, GC_ENTRY_SETTLE_MS));
}

/** Runs `work` synchronously after a full collection and reports what it allocated. */
export async function probeAllocation(work: () => void): Promise<AllocationProbe> {
  const starts: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) starts.push(entry.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  forceGc();
  await settle();
  const t0 = performance.now();
  const before = v8.getHeapStatistics().used_heap_size;
  work();
  const after = v8.getHeapStatistics().used_heap_size;
  const t1 = performance.now();
  await settle();
  observer.disconnect();
  return {
    collections: starts.filter((s) => s >= t0 && s <= t1).length,
    heapGrowthBytes: after - before,
    durationMs: t1 - t0,
  };
}
