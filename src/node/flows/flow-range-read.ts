import { UNDECODED_REASON_COUNT } from '../decode/decode-outcome.js';
import { EvictedResidue } from './evicted-residue.js';
import { type FlowTable, STAT_BYTES, STAT_DOUBLES, STAT_PACKETS } from './flow-table.js';
import type { HistorySlice } from './history-slice.js';
import type { SlotSums } from './slot-sums.js';

/**
 * What a range read of a flow store returns, and the pieces every range read shares: the validated range,
 * the plan (flow-history.ts FlowHistory.plan) and the result made of the summed slots.
 */

/**
 * The flows a question selected and their values (all-time or summed over a window). For all-time
 * questions `slots` is null: every occupied table slot is selected with its all-time counters, read in
 * place (copying 370k flows into fresh arrays cost more than the grouping itself: new pages fault).
 */
export interface FlowSelection {
  /** Slots of selected flows, [0, count); null = every occupied slot, values from the table. */
  slots: Int32Array | null;
  count: number;
  /** Indexed like `slots` (not by slot); empty when `slots` is null. */
  packets: Float64Array;
  bytes: Float64Array;
}

/** A range read done in steps (FlowStore.beginRangeRead). */
export interface SteppedRangeRead {
  /**
   * Sums slices until all are read or performance.now() passes `untilMs`; returns true when done, or
   * when stale (nothing more to read).
   */
  advance(untilMs: number): boolean;
  /** The store evicted flows or began another stepped read meanwhile: the result must not be used. */
  readonly stale: boolean;
  /** What selectRange would have returned when the read began (reads what is left first). */
  result(): { flows: FlowSelection; totals: TrafficTotals; coverage: WindowCoverage };
}

/** Everything a range read needs but the per-flow sums (FlowHistory.plan). */
export interface RangePlan {
  /** The closed slices inside the range, newest first. */
  slices: HistorySlice[];
  totals: TrafficTotals;
  /** Entries of slots reused since (added to the evicted traffic by rangeResult). */
  stale: { packets: number; bytes: number };
  coverage: WindowCoverage;
}

/**
 * A range's validated start (-Infinity for "from the beginning", fromSecond <= 0) and the seconds it
 * asks for (null for "from the beginning"); throws RangeError naming `caller` for a bad range.
 */
export function checkedRange(
  caller: string,
  fromSecond: number,
  toSecond: number,
): { from: number; requested: number | null } {
  if (Number.isNaN(fromSecond) || !Number.isInteger(toSecond) || toSecond < fromSecond) {
    throw new RangeError(`${caller}: bad range [${fromSecond}, ${toSecond}] (integers, from <= to)`);
  }
  const from = fromSecond <= 0 ? Number.NEGATIVE_INFINITY : fromSecond;
  if (!(from === Number.NEGATIVE_INFINITY || Number.isInteger(from))) {
    throw new RangeError(`${caller}: fromSecond ${fromSecond} is not a whole second`);
  }
  return { from, requested: from === Number.NEGATIVE_INFINITY ? null : toSecond - from + 1 };
}

export function rangeResult(
  plan: RangePlan,
  sums: SlotSums,
): { flows: FlowSelection; totals: TrafficTotals; coverage: WindowCoverage } {
  const { slots, packets, bytes } = sums.copyOut();
  const totals = { ...plan.totals };
  totals.evictedPackets += plan.stale.packets;
  totals.evictedBytes += plan.stale.bytes;
  return { flows: { slots, count: slots.length, packets, bytes }, totals, coverage: plan.coverage };
}

/** The selection as dense arrays, for callers that rank individual flows. */
export function denseSelection(
  table: FlowTable,
  flows: FlowSelection,
): {
  slots: Int32Array;
  count: number;
  packets: Float64Array;
  bytes: Float64Array;
} {
  if (flows.slots !== null)
    return { slots: flows.slots, count: flows.count, packets: flows.packets, bytes: flows.bytes };
  const slots = new Int32Array(table.count);
  const packets = new Float64Array(table.count);
  const bytes = new Float64Array(table.count);
  let n = 0;
  for (let slot = 0; slot < table.slotLimit; slot++) {
    if (!table.isOccupied(slot)) continue;
    slots[n] = slot;
    packets[n] = table.stats[slot * STAT_DOUBLES + STAT_PACKETS];
    bytes[n] = table.stats[slot * STAT_DOUBLES + STAT_BYTES];
    n++;
  }
  return { slots, count: n, packets, bytes };
}

export interface TrafficTotals {
  /** Every frame, decoded or not. */
  packets: number;
  bytes: number;
  /** Frames per undecoded reason (index = decode outcome). */
  undecodedPackets: Float64Array;
  undecodedBytes: Float64Array;
  /** IP traffic of flows evicted from the table (in address and service rows via `residue`, not in flow rows). */
  evictedPackets: number;
  evictedBytes: number;
  /** Evicted flows' traffic per address and service, for the groupings that can still be exact. */
  residue: EvictedResidue;
}

export interface WindowCoverage {
  /** Seconds asked for; null = everything since the store started. */
  requestedSeconds: number | null;
  /** First and last second (Unix) the answer covers; null when nothing was counted. */
  fromSecond: number | null;
  toSecond: number | null;
  /** False when history older than the window start was dropped for memory, or coarse slices clip it. */
  complete: boolean;
}

/** Totals of nothing, to add slices into. */
export function emptyTotals(): TrafficTotals {
  return {
    packets: 0,
    bytes: 0,
    undecodedPackets: new Float64Array(UNDECODED_REASON_COUNT),
    undecodedBytes: new Float64Array(UNDECODED_REASON_COUNT),
    evictedPackets: 0,
    evictedBytes: 0,
    residue: new EvictedResidue(Number.POSITIVE_INFINITY),
  };
}
