import type { HistorySlice } from './history-slice.js';

/**
 * Entries the arena may use before its first compaction, and the least it compacts into: 1.25 MB,
 * so a quiet node touches little memory.
 */
const MIN_SOFT_LIMIT = 65_536;
/**
 * After a compaction the arena may fill to this multiple of the entries then live (plus the reservation)
 * before compacting again. Each compaction copies the live entries once, so 1.5 costs at most two
 * copies per entry appended; pages beyond the soft limit are never touched, so a node keeps about 1.5x
 * its live history resident, not the whole capacity.
 */
const SOFT_LIMIT_GROWTH = 1.5;

/**
 * The entries (flow slot, packets, bytes) of every closed history slice, in three arrays allocated once.
 *
 * Why not an array per slice: a flood makes every closed second a large slice, tier merges replace ten
 * slices by one, and the history budget drops the oldest ones. With an array per slice that churned
 * ArrayBuffers of every size, which V8 frees only at its next external-memory GC and glibc then keeps in
 * its heap: peak RSS grew 30-70% on a file with 10x more flows although the live history is bounded.
 * Here memory is bounded by `capacity` (from the flow budget) and the resident part by the live history.
 *
 * Slices are written only at the tail (a closing second, a merge); a slice that shrinks (eviction) or
 * is released leaves a hole, and when the tail reaches the soft limit the live slices are moved to the
 * front in place (compaction), their offsets updated. A released slice's entries stay readable until
 * the next compaction: readers holding slices across time check `compactions` (FlowStore.beginRangeRead).
 */
export class HistoryEntryArena {
  slots: Int32Array;
  packets: Float64Array;
  bytes: Float64Array;
  /** Compactions so far; a released slice's entries are overwritten by the next one. */
  compactions = 0;
  /** Entries [0, tail) hold slices or holes; new slices start at the tail. */
  private tail = 0;
  private softLimit: number;

  /**
   * `capacity` must hold the most entries that can be live at once plus one reservation (FlowStore
   * derives it from the flow and history budgets). Untouched pages of the arrays are not resident.
   */
  constructor(capacity: number) {
    if (!(Number.isInteger(capacity) && capacity > 0)) {
      throw new RangeError(`history arena capacity must be a positive integer, got ${capacity}`);
    }
    this.slots = new Int32Array(capacity);
    this.packets = new Float64Array(capacity);
    this.bytes = new Float64Array(capacity);
    this.softLimit = Math.min(capacity, MIN_SOFT_LIMIT);
  }

  get capacity(): number {
    return this.slots.length;
  }

  /** Entries from the start of the arrays to the tail, holes included. */
  get used(): number {
    return this.tail;
  }

  /**
   * Room for `n` entries of a new slice at the tail; returns their offset. May first compact `live`, which
   * must list every slice whose entries are still needed (released ones left out). Read the arrays after
   * this call: they are replaced if the capacity proved too small.
   */
  reserve(n: number, live: readonly HistorySlice[]): number {
    if (this.tail + n > this.softLimit) this.compact(n, live);
    return this.tail;
  }

  /** Ends a reservation: `slice` holds the `length` entries written at `offset` (its reserve() result). */
  commit(slice: HistorySlice, offset: number, length: number): void {
    slice.offset = offset;
    slice.length = length;
    this.tail = offset + length;
  }

  private compact(n: number, live: readonly HistorySlice[]): void {
    // Moving slices in the order of their offsets never overwrites a slice not yet moved.
    const ordered = [...live].sort((a, b) => a.offset - b.offset);
    let to = 0;
    for (const slice of ordered) {
      if (slice.length > 0 && slice.offset !== to) {
        const end = slice.offset + slice.length;
        this.slots.copyWithin(to, slice.offset, end);
        this.packets.copyWithin(to, slice.offset, end);
        this.bytes.copyWithin(to, slice.offset, end);
      }
      slice.offset = to;
      to += slice.length;
    }
    this.tail = to;
    this.compactions++;
    if (to + n > this.capacity) {
      // Not reachable while FlowStore's budgets hold (they size the capacity); grow rather than lose data.
      this.grow(Math.ceil((to + n) * SOFT_LIMIT_GROWTH));
    }
    this.softLimit = Math.min(
      this.capacity,
      Math.max(MIN_SOFT_LIMIT, Math.ceil((to + n) * SOFT_LIMIT_GROWTH)),
    );
  }

  private grow(capacity: number): void {
    const slots = new Int32Array(capacity);
    slots.set(this.slots.subarray(0, this.tail));
    this.slots = slots;
    const packets = new Float64Array(capacity);
    packets.set(this.packets.subarray(0, this.tail));
    this.packets = packets;
    const bytes = new Float64Array(capacity);
    bytes.set(this.bytes.subarray(0, this.tail));
    this.bytes = bytes;
  }
}
