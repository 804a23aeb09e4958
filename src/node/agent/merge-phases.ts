import { UsageError } from '../../util/errors.js';
import { type GroupRow, type Metric, rankTop } from '../flows/key-vocabulary.js';
import type { WindowTable } from '../flows/window-table.js';
import {
  type LocalTopAnswer,
  PHASE_ABOVE_THRESHOLD,
  PHASE_EXACT,
  PHASE_LOCAL_TOP,
  type PhaseAnswer,
  type PhaseRequest,
} from './local-query-engine.js';
import type { CachedTable } from './window-table-cache.js';

/**
 * A node's side of the TPUT phases (src/query/tput.ts has the coordinator's), answered from the window
 * table of the query's pinned window:
 *   1. the local top-k, totals and transit flows; with a hint from the coordinator's previous answer to
 *      the same question, also every row at or above `threshold` and the rows of `keys`, so that phases 2
 *      and 3 can be skipped;
 *   2. every row at or above the threshold (the top-k of phase 1 are not sent again);
 *   3. the rows of the keys asked (a key the node does not have is absent: 0 there).
 */

/**
 * Groups kept in value order per table and metric, to answer "every row >= threshold" without scanning
 * every group: TPUT's thresholds select tens of rows out of tens of thousands, and a scan per phase per
 * query was most of a node's work (0.2 ms of 0.3 at 65k groups).
 */
const HEAVY_GROUPS = 2048;

export function answerPhase(cached: CachedTable, request: PhaseRequest, node: string): PhaseAnswer {
  const table = cached.table;
  const by = request.window.by;
  const answer = emptyAnswer(table, request.window.toSecond, node);
  switch (request.phase) {
    case PHASE_LOCAL_TOP: {
      const sent = new Set<number>(topOf(cached, by, request.k));
      if (request.threshold > 0) forEachAtLeast(cached, by, request.threshold, (g) => sent.add(g));
      for (const key of request.keys) {
        const g = table.findKey(key);
        if (g >= 0) sent.add(g);
      }
      for (const g of sent) answer.rows.push(rowOf(table, g));
      answer.transit = table.transit;
      answer.totals = { ...table.totals };
      answer.undecoded = undecodedList(table.undecoded);
      answer.evictedPackets = table.evicted.packets;
      answer.evictedBytes = table.evicted.bytes;
      break;
    }
    case PHASE_ABOVE_THRESHOLD: {
      const sent = new Set(topOf(cached, by, request.k));
      forEachAtLeast(cached, by, request.threshold, (g) => {
        if (!sent.has(g)) answer.rows.push(rowOf(table, g));
      });
      break;
    }
    case PHASE_EXACT: {
      for (const key of request.keys) {
        const g = table.findKey(key);
        if (g >= 0) answer.rows.push(rowOf(table, g));
      }
      break;
    }
    default:
      throw new UsageError(`unknown merge phase ${String((request as { phase: unknown }).phase)}`);
  }
  return answer;
}

/** This node's own top `limit` rows (0 = all) of a table computed with transit flows counted. */
export function localTopAnswer(
  cached: CachedTable,
  by: Metric,
  toSecond: number,
  limit: number,
  node: string,
): LocalTopAnswer {
  const table = cached.table;
  // Only the rows returned get their key text (all of them when there is no limit).
  const top = topOf(cached, by, limit > 0 ? limit : table.count);
  return {
    ...emptyAnswer(table, toSecond, node),
    rows: Array.from(top, (g) => rowOf(table, g)),
    totals: { ...table.totals },
    undecoded: undecodedList(table.undecoded),
    evictedPackets: table.evicted.packets,
    evictedBytes: table.evicted.bytes,
    groups: table.count,
  };
}

/**
 * An answer without rows. A table is shared by every window that reads the same data (a window sliding
 * over quiet seconds), so the newest second read is the window's own when the table covers it whole, and
 * the table's (the newest second closed here) when it does not.
 */
function emptyAnswer(table: WindowTable, toSecond: number, node: string): PhaseAnswer {
  return {
    rows: [],
    transit: [],
    totals: null,
    undecoded: [],
    evictedPackets: 0,
    evictedBytes: 0,
    windowComplete: table.complete,
    windowToSecond: table.toSecond === null ? null : table.complete ? toSecond : table.toSecond,
    node,
  };
}

function metricOf(table: WindowTable, by: Metric): Float64Array {
  return by === 'packets' ? table.packets : table.bytes;
}

/** The k best groups (key-vocabulary.ts order), best first, cached per table. */
function topOf(cached: CachedTable, by: Metric, k: number): Int32Array {
  const cacheKey = `${by}:${k}`;
  const known = cached.tops.get(cacheKey);
  if (known !== undefined) return known;
  const table = cached.table;
  const metric = metricOf(table, by);
  const top =
    k <= 0
      ? new Int32Array(0)
      : rankTop(
          table.count,
          (g) => metric[g] as number,
          (g) => table.keyOf(g),
          Math.min(k, table.count),
        ).order;
  cached.tops.set(cacheKey, top);
  return top;
}

/** Calls `visit` for every group whose metric is >= threshold. */
function forEachAtLeast(
  cached: CachedTable,
  by: Metric,
  threshold: number,
  visit: (g: number) => void,
): void {
  const table = cached.table;
  const metric = metricOf(table, by);
  const n = table.count;
  let heavy = cached.heavy.get(by);
  if (heavy === undefined) {
    if (n <= HEAVY_GROUPS) {
      const order = Int32Array.from({ length: n }, (_, g) => g);
      heavy = { order, floor: Number.NEGATIVE_INFINITY };
    } else {
      const floor = metric.slice(0, n).sort()[n - HEAVY_GROUPS] as number;
      const picked: number[] = [];
      for (let g = 0; g < n; g++) if ((metric[g] as number) >= floor) picked.push(g);
      heavy = { order: Int32Array.from(picked), floor };
    }
    heavy.order.sort((a, b) => (metric[b] as number) - (metric[a] as number));
    cached.heavy.set(by, heavy);
  }
  if (threshold >= heavy.floor) {
    for (const g of heavy.order) {
      if ((metric[g] as number) < threshold) break;
      visit(g);
    }
    return;
  }
  for (let g = 0; g < n; g++) if ((metric[g] as number) >= threshold) visit(g);
}

function rowOf(table: WindowTable, g: number): GroupRow {
  return {
    key: table.keyOf(g),
    packets: table.packets[g] as number,
    bytes: table.bytes[g] as number,
    flows: table.flows[g] as number,
    forwardPackets: table.forwardPackets[g] as number,
    forwardBytes: table.forwardBytes[g] as number,
  };
}

function undecodedList(undecoded: Record<string, number>): { reason: string; packets: number }[] {
  return Object.entries(undecoded)
    .filter(([, packets]) => packets > 0)
    .map(([reason, packets]) => ({ reason, packets }));
}
