import { UNDECODED_REASON_COUNT } from '../decode/decode-outcome.js';
import type { EvictedResidue } from './evicted-residue.js';

/**
 * The traffic of one closed stretch of time (1 s for recent data, coarser further back): per flow slot
 * the packets and bytes counted in it, plus the frame totals that do not belong to any kept flow.
 *
 * Entries (in the store's HistoryEntryArena) name flow-table slots. A slot may have been reused by
 * another flow since: an entry is valid only when the slot's current occupant arrived no later than the
 * slice's last second (see FlowTable.insertedAtSecond); stale entries count as evicted traffic.
 */
export class HistorySlice {
  readonly startSecond: number;
  /** Length in seconds: 1, 10 or 60 (see flow-store.ts for the tiers). */
  readonly spanSeconds: number;
  /** The slice's entries are [offset, offset + length) of the store's HistoryEntryArena. */
  offset = 0;
  length = 0;
  /** Dropped from history (expired, over budget or merged): its entries survive only until a compaction. */
  released = false;
  /** Every frame in the slice, decoded or not. */
  framePackets = 0;
  frameBytes = 0;
  /** Per undecoded reason (decode-outcome.ts) the frames and bytes. */
  readonly undecodedPackets = new Float64Array(UNDECODED_REASON_COUNT);
  readonly undecodedBytes = new Float64Array(UNDECODED_REASON_COUNT);
  /** IP traffic whose flow could not be told any more (stale entries dropped at merge): in no row. */
  evictedPackets = 0;
  evictedBytes = 0;
  /** Traffic of flows evicted from the table while this slice held entries for them, per address/service. */
  residue: EvictedResidue | null = null;

  constructor(startSecond: number, spanSeconds: number) {
    this.startSecond = startSecond;
    this.spanSeconds = spanSeconds;
  }

  get lastSecond(): number {
    return this.startSecond + this.spanSeconds - 1;
  }

  /** Adds the non-entry counters of `other` (frame totals, undecoded, evicted) to this slice. */
  addCountersOf(other: HistorySlice): void {
    this.framePackets += other.framePackets;
    this.frameBytes += other.frameBytes;
    for (let r = 0; r < UNDECODED_REASON_COUNT; r++) {
      this.undecodedPackets[r] += other.undecodedPackets[r];
      this.undecodedBytes[r] += other.undecodedBytes[r];
    }
    this.evictedPackets += other.evictedPackets;
    this.evictedBytes += other.evictedBytes;
  }
}
