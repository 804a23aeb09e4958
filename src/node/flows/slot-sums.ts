import type { FlowTable } from './flow-table.js';
import type { HistoryEntryArena } from './history-entry-arena.js';
import type { HistorySlice } from './history-slice.js';

/**
 * Per-slot sums of history entries: the working arrays of a range read (FlowStore.selectRange) or of a
 * merge of slices into a coarser one. Indexed by flow slot, stamped per sum, so starting a new sum costs
 * nothing (no clearing of arrays sized for every slot); `slots[0, count)` lists the slots summed.
 */
export class SlotSums {
  packets = new Float64Array(0);
  bytes = new Float64Array(0);
  slots = new Int32Array(0);
  count = 0;
  private stamp = new Uint32Array(0);
  private id = 0;

  /** Starts a new, empty sum for a table of `capacity` slots. */
  begin(capacity: number): void {
    this.ensure(capacity);
    this.id = (this.id + 1) >>> 0;
    if (this.id === 0) {
      this.stamp.fill(0);
      this.id = 1;
    }
    this.count = 0;
  }

  /**
   * Adds the slice's entries. Entries whose slot has a newer occupant than the slice (the flow was evicted
   * and the slot reused) are not the occupant's traffic: they go to `stale` instead.
   */
  addSlice(
    slice: HistorySlice,
    arena: HistoryEntryArena,
    table: FlowTable,
    stale: { packets: number; bytes: number },
  ): void {
    // The table may have grown since begin() (a sum read in steps).
    this.ensure(table.capacity);
    const sp = this.packets;
    const sb = this.bytes;
    const stamp = this.stamp;
    const list = this.slots;
    const id = this.id;
    const last = slice.lastSecond;
    const entrySlots = arena.slots;
    const entryPackets = arena.packets;
    const entryBytes = arena.bytes;
    const end = slice.offset + slice.length;
    let n = this.count;
    for (let e = slice.offset; e < end; e++) {
      const slot = entrySlots[e];
      if (table.insertedAtSecond(slot) > last) {
        stale.packets += entryPackets[e];
        stale.bytes += entryBytes[e];
        continue;
      }
      if (stamp[slot] !== id) {
        stamp[slot] = id;
        sp[slot] = 0;
        sb[slot] = 0;
        list[n++] = slot;
      }
      sp[slot] += entryPackets[e];
      sb[slot] += entryBytes[e];
    }
    this.count = n;
  }

  /** The summed slots and their sums as new arrays, indexed like `slots`. */
  copyOut(): { slots: Int32Array; packets: Float64Array; bytes: Float64Array } {
    const n = this.count;
    const out = { slots: new Int32Array(n), packets: new Float64Array(n), bytes: new Float64Array(n) };
    this.copyInto(out, 0);
    return out;
  }

  /**
   * Writes the summed slots and their sums into `to`'s arrays from `offset` (a HistoryEntryArena with
   * room reserved by the caller, or copyOut's new arrays).
   */
  copyInto(to: Pick<HistoryEntryArena, 'slots' | 'packets' | 'bytes'>, offset: number): void {
    const n = this.count;
    const slots = to.slots;
    const packets = to.packets;
    const bytes = to.bytes;
    for (let i = 0; i < n; i++) {
      const slot = this.slots[i];
      slots[offset + i] = slot;
      packets[offset + i] = this.packets[slot];
      bytes[offset + i] = this.bytes[slot];
    }
  }

  private ensure(capacity: number): void {
    if (this.packets.length >= capacity) return;
    const grow = <T extends Float64Array | Int32Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const bigger = make(capacity);
      bigger.set(old);
      return bigger;
    };
    this.packets = grow(this.packets, (n) => new Float64Array(n));
    this.bytes = grow(this.bytes, (n) => new Float64Array(n));
    this.slots = grow(this.slots, (n) => new Int32Array(n));
    this.stamp = grow(this.stamp, (n) => new Uint32Array(n));
  }
}
