import { UNDECODED_REASON_COUNT } from '../decode/decode-outcome.js';
import type { EvictedResidue } from './evicted-residue.js';

/**
 * The traffic of one closed stretch of time (1 s for recent data, coarser further back): per flow slot
 * the packets and bytes counted in it, plus the frame totals that do not belong to any kept flow.
 *
 * Entries name flow-table slots. A slot may have been reused by another flow since: an entry is valid
 * only when the slot's current occupant arrived no later than the slice's last second (see
 * FlowTable.insertedAtSecond); stale entries count as evicted traffic.
 */
export class HistorySlice {
  readonly startSecond: number;
  /** Length in seconds: 1, 10 or 60 (see flow-store.ts for the tiers). */
  readonly spanSeconds: number;
  slots: Int32Array;
  packets: Float64Array;
  bytes: Float64Array;
  length = 0;
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

  constructor(startSecond: number, spanSeconds: number, entryCapacity: number) {
    this.startSecond = startSecond;
    this.spanSeconds = spanSeconds;
    this.slots = new Int32Array(entryCapacity);
    this.packets = new Float64Array(entryCapacity);
    this.bytes = new Float64Array(entryCapacity);
  }

  get lastSecond(): number {
    return this.startSecond + this.spanSeconds - 1;
  }

  append(slot: number, packets: number, bytes: number): void {
    if (this.length === this.slots.length) this.reserve(Math.max(16, this.length * 2));
    this.slots[this.length] = slot;
    this.packets[this.length] = packets;
    this.bytes[this.length] = bytes;
    this.length++;
  }

  /** Frees the unused tail once the slice is complete. */
  trim(): void {
    if (this.length < this.slots.length) {
      this.slots = this.slots.slice(0, this.length);
      this.packets = this.packets.slice(0, this.length);
      this.bytes = this.bytes.slice(0, this.length);
    }
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

  private reserve(n: number): void {
    const slots = new Int32Array(n);
    slots.set(this.slots.subarray(0, this.length));
    this.slots = slots;
    const packets = new Float64Array(n);
    packets.set(this.packets.subarray(0, this.length));
    this.packets = packets;
    const bytes = new Float64Array(n);
    bytes.set(this.bytes.subarray(0, this.length));
    this.bytes = bytes;
  }
}
