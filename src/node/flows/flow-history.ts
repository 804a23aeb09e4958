import { UNDECODED_REASON_COUNT } from '../decode/decode-outcome.js';
import { EvictedResidue } from './evicted-residue.js';
import { emptyTotals, type RangePlan } from './flow-range-read.js';
import { HISTORY_TIERS, RESIDUE_ROWS_PER_SLICE } from './flow-store-config.js';
import {
  type FlowTable,
  REC_INTS,
  STAT_DOUBLES,
  STAT_OPEN_BYTES,
  STAT_OPEN_PACKETS,
  STAT_RETAINED_BYTES,
  STAT_RETAINED_PACKETS,
} from './flow-table.js';
import { HistoryEntryArena } from './history-entry-arena.js';
import { HistorySlice } from './history-slice.js';
import { SlotSums } from './slot-sums.js';

/**
 * A flow store's history: the closed slices (1 s, then 10 s and 60 s as they age: HISTORY_TIERS), their
 * entries in one arena, the retention and the memory budget of entries. The store closes a second into
 * it (close), then lets it age (age: expiry, tier merges, budget); range reads plan over it (plan,
 * signature); eviction moves the entries of evicted flows into slice residues (evictMarked).
 */
export class FlowHistory {
  /** Closed slices, oldest first. */
  readonly slices: HistorySlice[] = [];
  /** Entries held by the slices (their residue rows included): what the budget bounds. */
  entries = 0;
  /** History before this second was dropped (retention or memory): windows reaching before it are partial. */
  startSecond = Number.NEGATIVE_INFINITY;
  /** The entries of every closed slice. */
  readonly arena: HistoryEntryArena;
  /** Working arrays of range reads and slice merges, indexed by slot. */
  readonly sums = new SlotSums();

  constructor(
    private readonly table: FlowTable,
    readonly retentionSeconds: number,
    private readonly budget: number,
    arenaEntries: number,
  ) {
    this.arena = new HistoryEntryArena(arenaEntries);
  }

  /**
   * Closes `slice` (the open second): each of the `count` slots in `touched` that has open counts gets one
   * entry, its open counters move to its retained ones. A slice with no traffic is not kept.
   */
  close(slice: HistorySlice, touched: Int32Array, count: number): void {
    const t = this.table;
    const st = t.stats;
    // A slot appears in `touched` more than once when its flow was evicted and the slot reused within
    // the second, but only one listing still has open counts: at most one entry per slot.
    const at = this.arena.reserve(Math.min(count, t.capacity), this.slices);
    const slots = this.arena.slots;
    const packets = this.arena.packets;
    const bytes = this.arena.bytes;
    let n = 0;
    for (let i = 0; i < count; i++) {
      const slot = touched[i];
      const s = slot * STAT_DOUBLES;
      const p = st[s + STAT_OPEN_PACKETS];
      if (p === 0) continue;
      const b = st[s + STAT_OPEN_BYTES];
      slots[at + n] = slot;
      packets[at + n] = p;
      bytes[at + n] = b;
      n++;
      st[s + STAT_RETAINED_PACKETS] += p;
      st[s + STAT_RETAINED_BYTES] += b;
      st[s + STAT_OPEN_PACKETS] = 0;
      st[s + STAT_OPEN_BYTES] = 0;
    }
    this.arena.commit(slice, at, n);
    if (slice.framePackets > 0 || n > 0) {
      this.slices.push(slice);
      this.entries += n + (slice.residue === null ? 0 : slice.residue.rows);
    }
  }

  /** After the second `second` opened: drops expired slices, merges aged ones, enforces the budget. */
  age(second: number): void {
    this.expire(second);
    this.mergeTiers(second);
    this.enforceBudget();
  }

  residueOf(slice: HistorySlice): EvictedResidue {
    if (slice.residue === null) slice.residue = new EvictedResidue(RESIDUE_ROWS_PER_SLICE);
    return slice.residue;
  }

  /**
   * Moves the entries of the slots marked in `mark` into their slices' residues (eviction: the flows are
   * leaving the table), one pass over the history.
   */
  evictMarked(mark: Uint8Array): void {
    const t = this.table;
    const rec = t.records;
    const entrySlots = this.arena.slots;
    const entryPackets = this.arena.packets;
    const entryBytes = this.arena.bytes;
    for (const slice of this.slices) {
      const last = slice.lastSecond;
      const start = slice.offset;
      const end = start + slice.length;
      let kept = start;
      const before = slice.residue === null ? 0 : slice.residue.rows;
      for (let e = start; e < end; e++) {
        const slot = entrySlots[e];
        if (mark[slot] === 1 && t.insertedAtSecond(slot) <= last) {
          this.residueOf(slice).addFlow(rec, slot * REC_INTS, entryPackets[e], entryBytes[e]);
          continue;
        }
        entrySlots[kept] = slot;
        entryPackets[kept] = entryPackets[e];
        entryBytes[kept] = entryBytes[e];
        kept++;
      }
      if (kept === end) continue;
      this.entries -= end - kept;
      // Shrunk in place: the freed tail of the slice is a hole until the arena's next compaction.
      slice.length = kept - start;
      const residue = slice.residue!;
      this.entries += residue.rows - before;
    }
  }

  /** The slices a range read sums (newest first), its totals and coverage: everything but the sums. */
  plan(fromSecond: number, toSecond: number, requestedSeconds: number | null, openSecond: number): RangePlan {
    const slices: HistorySlice[] = [];
    const totals = emptyTotals();
    let from = Number.POSITIVE_INFINITY;
    let straddled = false;
    // The newest closed second; the range may not reach past it (those seconds are open or in the future).
    const closedTo = openSecond < 0 ? Number.NEGATIVE_INFINITY : openSecond - 1;
    let readTo = Math.min(toSecond, closedTo);
    for (let i = this.slices.length - 1; i >= 0; i--) {
      const slice = this.slices[i];
      if (slice.startSecond > toSecond) continue;
      if (slice.lastSecond > toSecond) {
        // A coarse slice that starts inside the range but ends after it is left out, as at the start.
        straddled = true;
        readTo = slice.startSecond - 1;
        continue;
      }
      if (slice.startSecond < fromSecond) {
        // A coarse slice that starts before the range but ends inside it is left out: never more than asked.
        if (slice.lastSecond >= fromSecond) straddled = true;
        break;
      }
      if (slice.startSecond < from) from = slice.startSecond;
      totals.packets += slice.framePackets;
      totals.bytes += slice.frameBytes;
      for (let r = 0; r < UNDECODED_REASON_COUNT; r++) {
        totals.undecodedPackets[r] += slice.undecodedPackets[r];
        totals.undecodedBytes[r] += slice.undecodedBytes[r];
      }
      totals.evictedPackets += slice.evictedPackets;
      totals.evictedBytes += slice.evictedBytes;
      if (slice.residue !== null) {
        totals.residue.addAll(slice.residue);
        totals.evictedPackets += slice.residue.packets;
        totals.evictedBytes += slice.residue.bytes;
      }
      slices.push(slice);
    }
    // Nothing counted yet: nothing can be missing (and no second to name as the end).
    const nothingCounted = openSecond < 0;
    const complete = nothingCounted || (fromSecond >= this.startSecond && !straddled && toSecond <= closedTo);
    return {
      slices,
      totals,
      stale: { packets: 0, bytes: 0 },
      coverage: {
        requestedSeconds,
        // A coarse slice merged after older seconds were dropped starts before the history does.
        fromSecond: from === Number.POSITIVE_INFINITY ? null : Math.max(from, this.startSecond),
        toSecond: nothingCounted ? null : readTo,
        complete,
      },
    };
  }

  /**
   * A description of the data selectRange(from, to) would read: the closed slices inside the range
   * (first start, last end, how many), the eviction count and the history start. Two ranges with the same
   * signature read the same data (closed slices change only by eviction, tier merging or expiry, each of
   * which changes the signature), so an answer computed for one can be reused for the other: a window
   * that slides over seconds without traffic, or every phase of a query. O(slices), allocates one string.
   */
  signature(fromSecond: number, toSecond: number, openSecond: number, evictedFlows: number): string {
    const from = fromSecond <= 0 ? Number.NEGATIVE_INFINITY : fromSecond;
    let first = -1;
    let last = -1;
    let count = 0;
    let straddles = false;
    for (const slice of this.slices) {
      if (slice.lastSecond > toSecond) {
        if (slice.startSecond <= toSecond) straddles = true;
        break;
      }
      if (slice.startSecond < from) {
        if (slice.lastSecond >= from) straddles = true;
        continue;
      }
      if (first < 0) first = slice.startSecond;
      last = slice.lastSecond;
      count++;
    }
    // A range reaching the open second (or beyond) reads up to the newest closed second, and which one
    // that is belongs to the data read (seconds without traffic close without a slice). A range that is
    // closed does not name its end: the same slices under a window sliding over quiet seconds are the
    // same data (and the same table), which is what lets every node reuse one table per data change.
    const partialTo = toSecond >= openSecond ? `open@${openSecond}` : 'closed';
    const historyCut = from < this.startSecond;
    return `${first}:${last}:${count}:${evictedFlows}:${straddles}:${partialTo}:${historyCut}`;
  }

  /** Drops slices that lie entirely before the retention (relative to `second`, the open one). */
  private expire(second: number): void {
    const oldestKeptSecond = second - this.retentionSeconds;
    let drop = 0;
    while (drop < this.slices.length && this.slices[drop].lastSecond < oldestKeptSecond) {
      this.release(this.slices[drop]);
      drop++;
    }
    if (drop > 0) this.slices.splice(0, drop);
  }

  private release(slice: HistorySlice): void {
    if (slice.lastSecond + 1 > this.startSecond) this.startSecond = slice.lastSecond + 1;
    const t = this.table;
    const last = slice.lastSecond;
    const entrySlots = this.arena.slots;
    const entryPackets = this.arena.packets;
    const entryBytes = this.arena.bytes;
    const end = slice.offset + slice.length;
    for (let e = slice.offset; e < end; e++) {
      const slot = entrySlots[e];
      if (t.insertedAtSecond(slot) > last) continue;
      t.stats[slot * STAT_DOUBLES + STAT_RETAINED_PACKETS] -= entryPackets[e];
      t.stats[slot * STAT_DOUBLES + STAT_RETAINED_BYTES] -= entryBytes[e];
    }
    slice.released = true;
    this.entries -= slice.length + (slice.residue === null ? 0 : slice.residue.rows);
  }

  /** Merges slices that aged out of their tier into the next tier's aligned slices. */
  private mergeTiers(second: number): void {
    for (let tier = 0; tier < HISTORY_TIERS.length - 1; tier++) {
      const span = HISTORY_TIERS[tier].spanSeconds;
      const nextSpan = HISTORY_TIERS[tier + 1].spanSeconds;
      const cutoff = second - HISTORY_TIERS[tier].untilAgeSeconds;
      let i = 0;
      while (i < this.slices.length) {
        const slice = this.slices[i];
        if (slice.spanSeconds !== span) {
          i++;
          continue;
        }
        const bucketStart = Math.floor(slice.startSecond / nextSpan) * nextSpan;
        if (bucketStart + nextSpan > cutoff) break;
        let j = i + 1;
        while (
          j < this.slices.length &&
          this.slices[j].spanSeconds === span &&
          this.slices[j].startSecond < bucketStart + nextSpan
        ) {
          j++;
        }
        // Out of the list first: the merged slice's room may be made by compacting the others.
        const group = this.slices.splice(i, j - i);
        this.slices.splice(i, 0, this.mergeSlices(group, bucketStart, nextSpan));
        i++;
      }
    }
  }

  private mergeSlices(group: HistorySlice[], startSecond: number, spanSeconds: number): HistorySlice {
    const sums = this.sums;
    sums.begin(this.table.capacity);
    const merged = new HistorySlice(startSecond, spanSeconds);
    const stale = { packets: 0, bytes: 0 };
    let before = 0;
    for (const slice of group) {
      merged.addCountersOf(slice);
      before += slice.length + (slice.residue === null ? 0 : slice.residue.rows);
      if (slice.residue !== null) this.residueOf(merged).addAll(slice.residue);
      sums.addSlice(slice, this.arena, this.table, stale);
      slice.released = true;
    }
    merged.evictedPackets += stale.packets;
    merged.evictedBytes += stale.bytes;
    const at = this.arena.reserve(sums.count, this.slices);
    sums.copyInto(this.arena, at);
    this.arena.commit(merged, at, sums.count);
    this.entries += merged.length + (merged.residue === null ? 0 : merged.residue.rows) - before;
    return merged;
  }

  private enforceBudget(): void {
    let drop = 0;
    while (this.entries > this.budget && drop < this.slices.length - 1) {
      const slice = this.slices[drop];
      this.release(slice);
      drop++;
    }
    if (drop > 0) this.slices.splice(0, drop);
  }
}
