import { type FlowFacts, KEY_DST, KEY_META, KEY_PORTS, KEY_SRC } from './flow-facts.js';

/**
 * Slots allocated up front. Typed arrays are zero-filled lazily by the OS (untouched pages of a large
 * allocation are not resident), so reserving the whole budget costs address space, not memory, except
 * for the index, whose random writes touch every page: about 16 bytes per flow of the budget. Growing
 * by doubling instead cost ~9% of the time of a 370k-flow file in rehashing.
 */
const INITIAL_SLOTS_MAX = 1 << 22;
/** Marks a free slot in the cold column's insertedAtSecond (no occupant: every history entry is stale). */
export const SLOT_FREE = Number.POSITIVE_INFINITY;

/**
 * Each slot is one 128-byte record: int32 words 0..15 (key, hash, flags) in its first 64-byte cache
 * line and float64 counters in its second, both views over one buffer. Counting a packet then touches
 * the index and one record (two adjacent lines, which the CPU's pair prefetcher fetches together)
 * instead of one cache miss per column.
 *
 * `records` is indexed slot * REC_INTS + word. The key words are stored as int32 (an address word above
 * 2^31 reads back negative: use `>>> 0` for its unsigned value).
 */
export const REC_INTS = 32;
/** Words 0..9: the flow key (flow-facts.ts KEY_* offsets). */
export const REC_HASH = 10;
/** Id of the open second in which the slot was last listed as touched. */
export const REC_TOUCHED = 11;
/** TCP flags OR-ed over the flow's packets (low byte) and direction (bits 8..9: source local, destination local). */
export const REC_FLAGS = 12;

/** `stats` (float64 view of the same records) is indexed slot * STAT_DOUBLES + STAT_* column (8..15). */
export const STAT_DOUBLES = 16;
/** All-time packets and bytes since the current occupant arrived. */
export const STAT_PACKETS = 8;
export const STAT_BYTES = 9;
/** Counts in the open (current) second, moved into history when the second closes. */
export const STAT_OPEN_PACKETS = 10;
export const STAT_OPEN_BYTES = 11;
export const STAT_LAST_SEEN = 12;
/** Sum over closed, retained history; eviction ranks flows by this plus the open second. */
export const STAT_RETAINED_PACKETS = 13;
export const STAT_RETAINED_BYTES = 14;
export const STAT_FIRST_SEEN = 15;
const RECORD_BYTES = 128;

/** Cold per-slot values (touched on insert, eviction and questions, never per packet). */
const COLD_DOUBLES = 3;
const COLD_INSERTED_AT = 0;
const COLD_ERROR_PACKETS = 1;
const COLD_ERROR_BYTES = 2;

/** The direction bits in REC_FLAGS. */
export const DIRECTION_SHIFT = 8;

/**
 * A hash table of directional 5-tuple flows in typed arrays, so that counting a packet touches a few
 * numbers and allocates nothing. Open addressing with linear probing over an index of (slot + 1, hash)
 * pairs (load factor at most 1/2); deletion uses backward shifting, so there are no tombstones.
 *
 * The table grows by doubling up to `maxFlows` slots and never beyond: the owner (FlowStore) evicts
 * before inserting into a full table. The record/stats arrays are public for the owner's tight loops;
 * only the table itself replaces them (on growth), so callers must not cache them across inserts.
 */
export class FlowTable {
  readonly maxFlows: number;
  /** Slots currently allocated. */
  capacity = 0;
  /** Occupied slots. */
  count = 0;

  /** Int32 view of the records. */
  records = new Int32Array(0);
  /** Float64 view of the same records. */
  stats = new Float64Array(0);
  private cold = new Float64Array(0);
  /** Open-addressing index: pairs (slot + 1, hash); slot + 1 = 0 marks an empty bucket. */
  private index = new Int32Array(0);
  private indexMask = 0;
  /** Slots freed by removal, reused before never-used ones. */
  private freeSlots = new Int32Array(0);
  private freeCount = 0;
  /** Slots [highWater, capacity) have never been used. */
  private highWater = 0;

  constructor(maxFlows: number) {
    if (!(Number.isInteger(maxFlows) && maxFlows >= 16))
      throw new RangeError('maxFlows must be an integer >= 16');
    this.maxFlows = maxFlows;
    this.grow(Math.min(INITIAL_SLOTS_MAX, maxFlows));
  }

  get isFull(): boolean {
    return this.count >= this.maxFlows;
  }

  /**
   * Hash of the key in `facts` (murmur3-style mixing). Words are read as int32 (`| 0`): a uint32 above
   * 2^31 passed to a function that is not inlined would be boxed as a heap number, an allocation per
   * packet; as int32 it stays a small integer.
   */
  static hashFacts(f: FlowFacts): number {
    const src = f.srcAddr;
    const dst = f.dstAddr;
    let h = mix(0x9e3779b9 ^ ((f.ipVersion << 8) | f.protocol), src[0] | 0);
    h = mix(h, dst[0] | 0);
    h = mix(h, (f.srcPort << 16) | f.dstPort);
    if (f.ipVersion === 6) {
      h = mix(h, src[1] | 0);
      h = mix(h, src[2] | 0);
      h = mix(h, src[3] | 0);
      h = mix(h, dst[1] | 0);
      h = mix(h, dst[2] | 0);
      h = mix(h, dst[3] | 0);
    }
    return finalize(h);
  }

  /** Slot of the flow described by `facts`, or -1. */
  find(f: FlowFacts, hash: number): number {
    const index = this.index;
    const mask = this.indexMask;
    const rec = this.records;
    const ports = (f.srcPort << 16) | f.dstPort;
    const meta = (f.ipVersion << 8) | f.protocol;
    const src = f.srcAddr;
    const dst = f.dstAddr;
    for (let b = hash & mask; ; b = (b + 1) & mask) {
      const entry = index[2 * b];
      if (entry === 0) return -1;
      if (index[2 * b + 1] !== hash) continue;
      const k = (entry - 1) * REC_INTS;
      if (
        rec[k + KEY_PORTS] === ports &&
        rec[k + KEY_META] === meta &&
        rec[k + KEY_SRC] === (src[0] | 0) &&
        rec[k + KEY_DST] === (dst[0] | 0) &&
        rec[k + KEY_SRC + 1] === (src[1] | 0) &&
        rec[k + KEY_SRC + 2] === (src[2] | 0) &&
        rec[k + KEY_SRC + 3] === (src[3] | 0) &&
        rec[k + KEY_DST + 1] === (dst[1] | 0) &&
        rec[k + KEY_DST + 2] === (dst[2] | 0) &&
        rec[k + KEY_DST + 3] === (dst[3] | 0)
      ) {
        return entry - 1;
      }
    }
  }

  /**
   * Inserts a new flow (the caller checked find() returned -1 and that the table is not full) and
   * returns its slot with zeroed counters.
   */
  insert(f: FlowFacts, hash: number, second: number): number {
    if (this.count >= this.capacity) this.grow(Math.min(this.capacity * 2, this.maxFlows));
    const slot = this.freeCount > 0 ? this.freeSlots[--this.freeCount] : this.highWater++;
    const rec = this.records;
    const k = slot * REC_INTS;
    for (let w = 0; w < 4; w++) {
      rec[k + KEY_SRC + w] = f.srcAddr[w];
      rec[k + KEY_DST + w] = f.dstAddr[w];
    }
    rec[k + KEY_PORTS] = (f.srcPort << 16) | f.dstPort;
    rec[k + KEY_META] = (f.ipVersion << 8) | f.protocol;
    rec[k + REC_HASH] = hash;
    rec[k + REC_TOUCHED] = 0;
    rec[k + REC_FLAGS] = 0;
    const st = this.stats;
    const s = slot * STAT_DOUBLES;
    st[s + STAT_PACKETS] = 0;
    st[s + STAT_BYTES] = 0;
    st[s + STAT_OPEN_PACKETS] = 0;
    st[s + STAT_OPEN_BYTES] = 0;
    st[s + STAT_LAST_SEEN] = 0;
    st[s + STAT_RETAINED_PACKETS] = 0;
    st[s + STAT_RETAINED_BYTES] = 0;
    st[s + STAT_FIRST_SEEN] = 0;
    const c = slot * COLD_DOUBLES;
    this.cold[c + COLD_INSERTED_AT] = second;
    this.cold[c + COLD_ERROR_PACKETS] = 0;
    this.cold[c + COLD_ERROR_BYTES] = 0;
    const index = this.index;
    const mask = this.indexMask;
    let b = hash & mask;
    while (index[2 * b] !== 0) b = (b + 1) & mask;
    index[2 * b] = slot + 1;
    index[2 * b + 1] = hash;
    this.count++;
    return slot;
  }

  /** Removes the flow in `slot` (backward-shift deletion keeps probe chains intact). */
  remove(slot: number): void {
    const index = this.index;
    const mask = this.indexMask;
    let b = this.records[slot * REC_INTS + REC_HASH] & mask;
    while (index[2 * b] !== slot + 1) b = (b + 1) & mask;
    // Shift later members of the cluster back into the hole unless that would move them before home.
    let hole = b;
    for (let j = (hole + 1) & mask; index[2 * j] !== 0; j = (j + 1) & mask) {
      const home = index[2 * j + 1] & mask;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        index[2 * hole] = index[2 * j];
        index[2 * hole + 1] = index[2 * j + 1];
        hole = j;
      }
    }
    index[2 * hole] = 0;
    index[2 * hole + 1] = 0;
    this.cold[slot * COLD_DOUBLES + COLD_INSERTED_AT] = SLOT_FREE;
    this.freeSlots[this.freeCount++] = slot;
    this.count--;
  }

  /** True when `slot` holds a flow. */
  isOccupied(slot: number): boolean {
    return slot < this.highWater && this.cold[slot * COLD_DOUBLES + COLD_INSERTED_AT] !== SLOT_FREE;
  }

  /** Upper end of slots that may be occupied: iterate [0, slotLimit) and test isOccupied(). */
  get slotLimit(): number {
    return this.highWater;
  }

  /** The second the slot's current occupant arrived; SLOT_FREE when free. Validates history entries. */
  insertedAtSecond(slot: number): number {
    return this.cold[slot * COLD_DOUBLES + COLD_INSERTED_AT];
  }

  /** Key word `w` (flow-facts.ts KEY_*) of the flow in `slot`, as an unsigned 32-bit value. */
  keyWord(slot: number, w: number): number {
    return this.records[slot * REC_INTS + w] >>> 0;
  }

  stat(slot: number, column: number): number {
    return this.stats[slot * STAT_DOUBLES + column];
  }

  tcpFlags(slot: number): number {
    return this.records[slot * REC_INTS + REC_FLAGS] & 0xff;
  }

  /** Bit 0: the source is local (this host sent it); bit 1: the destination is local. */
  direction(slot: number): number {
    return (this.records[slot * REC_INTS + REC_FLAGS] >>> DIRECTION_SHIFT) & 3;
  }

  setDirection(slot: number, direction: number): void {
    this.records[slot * REC_INTS + REC_FLAGS] |= direction << DIRECTION_SHIFT;
  }

  /** Upper bound of traffic this flow may have had before it (re-)entered the table after evictions. */
  errorPackets(slot: number): number {
    return this.cold[slot * COLD_DOUBLES + COLD_ERROR_PACKETS];
  }

  errorBytes(slot: number): number {
    return this.cold[slot * COLD_DOUBLES + COLD_ERROR_BYTES];
  }

  setErrorBound(slot: number, packets: number, bytes: number): void {
    this.cold[slot * COLD_DOUBLES + COLD_ERROR_PACKETS] = packets;
    this.cold[slot * COLD_DOUBLES + COLD_ERROR_BYTES] = bytes;
  }

  private grow(newCapacity: number): void {
    const old = this.capacity;
    this.capacity = newCapacity;
    const buffer = new ArrayBuffer(newCapacity * RECORD_BYTES);
    const records = new Int32Array(buffer);
    records.set(this.records);
    this.records = records;
    this.stats = new Float64Array(buffer);
    const cold = new Float64Array(newCapacity * COLD_DOUBLES);
    cold.set(this.cold);
    for (let slot = old; slot < newCapacity; slot++) cold[slot * COLD_DOUBLES + COLD_INSERTED_AT] = SLOT_FREE;
    this.cold = cold;
    const freeSlots = new Int32Array(newCapacity);
    freeSlots.set(this.freeSlots.subarray(0, this.freeCount));
    this.freeSlots = freeSlots;
    // Rebuild the index at load factor <= 1/2.
    let size = 1;
    while (size < newCapacity * 2) size <<= 1;
    this.index = new Int32Array(size * 2);
    this.indexMask = size - 1;
    const index = this.index;
    const mask = this.indexMask;
    for (let slot = 0; slot < this.highWater; slot++) {
      if (cold[slot * COLD_DOUBLES + COLD_INSERTED_AT] === SLOT_FREE) continue;
      const hash = records[slot * REC_INTS + REC_HASH];
      let b = hash & mask;
      while (index[2 * b] !== 0) b = (b + 1) & mask;
      index[2 * b] = slot + 1;
      index[2 * b + 1] = hash;
    }
  }
}

function mix(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
