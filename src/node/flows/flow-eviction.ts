import { EvictedResidue } from './evicted-residue.js';
import type { FlowHistory } from './flow-history.js';
import { EVICT_FRACTION, EVICT_SAMPLE, RESIDUE_ROWS_ALL_TIME_MIN } from './flow-store-config.js';
import {
  type FlowTable,
  REC_INTS,
  STAT_BYTES,
  STAT_DOUBLES,
  STAT_OPEN_BYTES,
  STAT_OPEN_PACKETS,
  STAT_PACKETS,
  STAT_RETAINED_BYTES,
} from './flow-table.js';
import type { HistorySlice } from './history-slice.js';

/**
 * A flow store's eviction: when its table is full, the lightest flows go (evictLightest), and their
 * traffic moves into residues per address and service (evicted-residue.ts) so the groupings that can
 * keep it stay exact. Keeps what eviction did: flows, packets and bytes evicted, the largest count of an
 * evicted flow (the error bound of flows inserted after it) and the all-time residue.
 */
export class FlowEviction {
  /** Flows removed to make room. */
  flows = 0;
  /** Their all-time traffic. */
  packets = 0;
  bytes = 0;
  /** Largest all-time count of any evicted flow: the error bound of flows inserted after it. */
  maxPackets = 0;
  maxBytes = 0;
  /** Evicted flows' traffic since the start, for all-time questions. */
  readonly residueAllTime: EvictedResidue;
  /** Slots chosen for eviction in the current round (by slot). */
  private mark = new Uint8Array(0);
  /** Working arrays of eviction rounds, reused: garbage per round added up in a flood. */
  private readonly sample = new Float64Array(EVICT_SAMPLE);
  private victims = new Int32Array(0);

  constructor(maxFlows: number) {
    this.residueAllTime = new EvictedResidue(Math.max(RESIDUE_ROWS_ALL_TIME_MIN, Math.floor(maxFlows / 8)));
  }

  /**
   * Makes room by evicting about EVICT_FRACTION of the flows: those with the least retained traffic
   * (idle flows first). The threshold is estimated from a sample, so one eviction round costs one pass
   * over the table and happens once per maxFlows/4 new flows.
   *
   * Error bound (as in Space-Saving/Lossy Counting): the threshold is the sampled 1/4-quantile of
   * retained bytes, so a flow holding more than about total/(3/4 * maxFlows) retained bytes is not evicted;
   * a flow that re-enters after an eviction reports errorBytes = the largest all-time count ever evicted.
   */
  evictLightest(t: FlowTable, history: FlowHistory, openSlice: HistorySlice): void {
    const limit = t.slotLimit;
    const sample = this.sample.subarray(0, Math.min(EVICT_SAMPLE, t.count));
    const stride = Math.max(1, Math.floor(limit / sample.length));
    let s = 0;
    for (let slot = 0; slot < limit && s < sample.length; slot += stride) {
      if (t.isOccupied(slot)) sample[s++] = rankBytes(t, slot);
    }
    const sorted = sample.subarray(0, s).sort();
    const threshold = sorted.length > 0 ? sorted[Math.floor(sorted.length * EVICT_FRACTION)] : 0;
    const target = Math.max(1, Math.floor(t.count * EVICT_FRACTION));
    if (this.victims.length < target)
      this.victims = new Int32Array(Math.ceil(t.maxFlows * EVICT_FRACTION) + 1);
    const victims = this.victims;
    let n = 0;
    // One pass: every flow at or below the threshold, until the target is reached.
    for (let slot = 0; slot < limit && n < target; slot++) {
      if (t.isOccupied(slot) && rankBytes(t, slot) <= threshold) victims[n++] = slot;
    }
    if (n === 0) {
      // Everything is above the sampled threshold (tiny or skewed sample): evict the first occupied slot.
      for (let slot = 0; slot < limit && n === 0; slot++) if (t.isOccupied(slot)) victims[n++] = slot;
    }
    this.evictSlots(t, history, openSlice, victims, n);
  }

  /**
   * Removes `victims[0, n)` from the table. Their traffic is not lost to the groupings that can keep it:
   * all-time counts go to the all-time residue, the open second's to the open slice's residue, and each
   * closed slice's entries for them move into that slice's residue (one pass over the history per round).
   */
  private evictSlots(
    t: FlowTable,
    history: FlowHistory,
    openSlice: HistorySlice,
    victims: Int32Array,
    n: number,
  ): void {
    if (this.mark.length < t.capacity) this.mark = new Uint8Array(t.capacity);
    const mark = this.mark;
    const st = t.stats;
    const rec = t.records;
    const openResidue = history.residueOf(openSlice);
    for (let i = 0; i < n; i++) {
      const slot = victims[i];
      mark[slot] = 1;
      const s = slot * STAT_DOUBLES;
      this.packets += st[s + STAT_PACKETS];
      this.bytes += st[s + STAT_BYTES];
      this.residueAllTime.addFlow(rec, slot * REC_INTS, st[s + STAT_PACKETS], st[s + STAT_BYTES]);
      const maxPackets = st[s + STAT_PACKETS] + t.errorPackets(slot);
      const maxBytes = st[s + STAT_BYTES] + t.errorBytes(slot);
      if (maxPackets > this.maxPackets) this.maxPackets = maxPackets;
      if (maxBytes > this.maxBytes) this.maxBytes = maxBytes;
      if (st[s + STAT_OPEN_PACKETS] > 0) {
        openResidue.addFlow(rec, slot * REC_INTS, st[s + STAT_OPEN_PACKETS], st[s + STAT_OPEN_BYTES]);
        st[s + STAT_OPEN_PACKETS] = 0;
        st[s + STAT_OPEN_BYTES] = 0;
      }
    }
    history.evictMarked(mark);
    for (let i = 0; i < n; i++) {
      mark[victims[i]] = 0;
      t.remove(victims[i]);
    }
    this.flows += n;
  }
}

/** What eviction ranks a flow by: its retained history plus the open second, in bytes. */
function rankBytes(t: FlowTable, slot: number): number {
  return t.stats[slot * STAT_DOUBLES + STAT_RETAINED_BYTES] + t.stats[slot * STAT_DOUBLES + STAT_OPEN_BYTES];
}
