import { type FlowFacts, KEY_DST, KEY_META, KEY_PORTS, KEY_SRC, KEY_WORDS } from './flow-facts.js';

/** Slots allocated up front; the table doubles from here up to its maximum. */
const INITIAL_SLOTS = 1 << 14;
/** Marks a free slot in `insertedAtSecond` (no occupant, so every history entry for it is stale). */
export const SLOT_FREE = Number.POSITIVE_INFINITY;

/**
 * A hash table of directional 5-tuple flows in typed arrays ("struct of arrays"), so that counting a
 * packet touches a few numbers and allocates nothing. Open addressing with linear probing over an index
 * of slot numbers (load factor at most 1/2); deletion uses backward shifting, so there are no tombstones.
 *
 * The table grows by doubling up to `maxFlows` slots and never beyond: the owner (FlowStore) evicts
 * before inserting into a full table. Column arrays are public for the owner's tight loops; only the
 * table itself changes their length.
 */
export class FlowTable {
  readonly maxFlows: number;
  /** Slots currently allocated (length of the per-slot columns). */
  capacity = 0;
  /** Occupied slots. */
  count = 0;

  keys = new Uint32Array(0);
  /** Int32, not Uint32: hashes stay small integers (Smis) so hashing a packet never allocates. */
  private hashes = new Int32Array(0);
  /** Open-addressing index: slot + 1, or 0 for an empty bucket. */
  private index = new Int32Array(0);
  private indexMask = 0;
  /** Slots freed by removal, reused before never-used ones. */
  private freeSlots = new Int32Array(0);
  private freeCount = 0;
  /** Slots [highWater, capacity) have never been used. */
  private highWater = 0;

  // Per-slot columns. Totals are since the current occupant arrived.
  packets = new Float64Array(0);
  bytes = new Float64Array(0);
  firstSeen = new Float64Array(0);
  lastSeen = new Float64Array(0);
  tcpFlags = new Uint8Array(0);
  /** Bit 0: the source is a local address (this host sent it); bit 1: the destination is local. */
  direction = new Uint8Array(0);
  /** The second the current occupant arrived; SLOT_FREE for a free slot. Validates history entries. */
  insertedAtSecond = new Float64Array(0);
  /** Upper bound of traffic this flow may have had before it (re-)entered the table after evictions. */
  errorPackets = new Float64Array(0);
  errorBytes = new Float64Array(0);
  /** Counts in the open (current) second, moved into history when the second closes. */
  openPackets = new Float64Array(0);
  openBytes = new Float64Array(0);
  /** Id of the open second in which the slot was last listed as touched. */
  touchedStamp = new Uint32Array(0);
  /** Sum over closed, retained history; eviction ranks flows by this plus the open second. */
  retainedPackets = new Float64Array(0);
  retainedBytes = new Float64Array(0);

  /** Called after the columns were reallocated, so owners can resize slot-indexed scratch arrays. */
  onGrow: ((capacity: number) => void) | null = null;

  constructor(maxFlows: number) {
    if (!(Number.isInteger(maxFlows) && maxFlows >= 16))
      throw new RangeError('maxFlows must be an integer >= 16');
    this.maxFlows = maxFlows;
    this.grow(Math.min(INITIAL_SLOTS, maxFlows));
  }

  get isFull(): boolean {
    return this.count >= this.maxFlows;
  }

  /** Hash of the key in `facts`; the same function as hashSlot() for stored keys. */
  static hashFacts(f: FlowFacts): number {
    const meta = (f.ipVersion << 8) | f.protocol;
    let h = mix(0x9e3779b9 ^ meta, f.srcAddr[0]);
    h = mix(h, f.dstAddr[0]);
    h = mix(h, (f.srcPort << 16) | f.dstPort);
    if (f.ipVersion === 6) {
      h = mix(h, f.srcAddr[1]);
      h = mix(h, f.srcAddr[2]);
      h = mix(h, f.srcAddr[3]);
      h = mix(h, f.dstAddr[1]);
      h = mix(h, f.dstAddr[2]);
      h = mix(h, f.dstAddr[3]);
    }
    return finalize(h);
  }

  /** Slot of the flow described by `facts`, or -1. */
  find(f: FlowFacts, hash: number): number {
    const index = this.index;
    const mask = this.indexMask;
    const keys = this.keys;
    const hashes = this.hashes;
    const ports = ((f.srcPort << 16) | f.dstPort) >>> 0;
    const meta = (f.ipVersion << 8) | f.protocol;
    const src = f.srcAddr;
    const dst = f.dstAddr;
    for (let b = hash & mask; ; b = (b + 1) & mask) {
      const entry = index[b];
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (hashes[slot] !== hash) continue;
      const k = slot * KEY_WORDS;
      if (
        keys[k + KEY_PORTS] === ports &&
        keys[k + KEY_META] === meta &&
        keys[k + KEY_SRC] === src[0] &&
        keys[k + KEY_DST] === dst[0] &&
        keys[k + KEY_SRC + 1] === src[1] &&
        keys[k + KEY_SRC + 2] === src[2] &&
        keys[k + KEY_SRC + 3] === src[3] &&
        keys[k + KEY_DST + 1] === dst[1] &&
        keys[k + KEY_DST + 2] === dst[2] &&
        keys[k + KEY_DST + 3] === dst[3]
      ) {
        return slot;
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
    const k = slot * KEY_WORDS;
    const keys = this.keys;
    keys[k + KEY_SRC] = f.srcAddr[0];
    keys[k + KEY_SRC + 1] = f.srcAddr[1];
    keys[k + KEY_SRC + 2] = f.srcAddr[2];
    keys[k + KEY_SRC + 3] = f.srcAddr[3];
    keys[k + KEY_DST] = f.dstAddr[0];
    keys[k + KEY_DST + 1] = f.dstAddr[1];
    keys[k + KEY_DST + 2] = f.dstAddr[2];
    keys[k + KEY_DST + 3] = f.dstAddr[3];
    keys[k + KEY_PORTS] = (f.srcPort << 16) | f.dstPort;
    keys[k + KEY_META] = (f.ipVersion << 8) | f.protocol;
    this.hashes[slot] = hash;
    this.packets[slot] = 0;
    this.bytes[slot] = 0;
    this.firstSeen[slot] = 0;
    this.lastSeen[slot] = 0;
    this.tcpFlags[slot] = 0;
    this.direction[slot] = 0;
    this.insertedAtSecond[slot] = second;
    this.errorPackets[slot] = 0;
    this.errorBytes[slot] = 0;
    this.openPackets[slot] = 0;
    this.openBytes[slot] = 0;
    this.touchedStamp[slot] = 0;
    this.retainedPackets[slot] = 0;
    this.retainedBytes[slot] = 0;
    const index = this.index;
    const mask = this.indexMask;
    let b = hash & mask;
    while (index[b] !== 0) b = (b + 1) & mask;
    index[b] = slot + 1;
    this.count++;
    return slot;
  }

  /** Removes the flow in `slot` (backward-shift deletion keeps probe chains intact). */
  remove(slot: number): void {
    const index = this.index;
    const mask = this.indexMask;
    const hashes = this.hashes;
    let b = hashes[slot] & mask;
    while (index[b] !== slot + 1) b = (b + 1) & mask;
    // Shift later members of the cluster back into the hole when that does not move them before home.
    let hole = b;
    for (let j = (hole + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const home = hashes[index[j] - 1] & mask;
      // Move j into hole unless home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        index[hole] = index[j];
        hole = j;
      }
    }
    index[hole] = 0;
    this.insertedAtSecond[slot] = SLOT_FREE;
    this.freeSlots[this.freeCount++] = slot;
    this.count--;
  }

  /** True when `slot` holds a flow. */
  isOccupied(slot: number): boolean {
    return slot < this.highWater && this.insertedAtSecond[slot] !== SLOT_FREE;
  }

  /** Upper end of slots that may be occupied: iterate [0, slotLimit) and test isOccupied(). */
  get slotLimit(): number {
    return this.highWater;
  }

  private grow(newCapacity: number): void {
    const old = this.capacity;
    this.capacity = newCapacity;
    this.keys = resizeU32(this.keys, newCapacity * KEY_WORDS);
    this.hashes = resizeI32(this.hashes, newCapacity);
    this.packets = resizeF64(this.packets, newCapacity);
    this.bytes = resizeF64(this.bytes, newCapacity);
    this.firstSeen = resizeF64(this.firstSeen, newCapacity);
    this.lastSeen = resizeF64(this.lastSeen, newCapacity);
    this.tcpFlags = resizeU8(this.tcpFlags, newCapacity);
    this.direction = resizeU8(this.direction, newCapacity);
    this.insertedAtSecond = resizeF64(this.insertedAtSecond, newCapacity);
    this.insertedAtSecond.fill(SLOT_FREE, old);
    this.errorPackets = resizeF64(this.errorPackets, newCapacity);
    this.errorBytes = resizeF64(this.errorBytes, newCapacity);
    this.openPackets = resizeF64(this.openPackets, newCapacity);
    this.openBytes = resizeF64(this.openBytes, newCapacity);
    this.touchedStamp = resizeU32(this.touchedStamp, newCapacity);
    this.retainedPackets = resizeF64(this.retainedPackets, newCapacity);
    this.retainedBytes = resizeF64(this.retainedBytes, newCapacity);
    const freeSlots = new Int32Array(newCapacity);
    freeSlots.set(this.freeSlots.subarray(0, this.freeCount));
    this.freeSlots = freeSlots;
    // Rebuild the index at load factor <= 1/2.
    let size = 1;
    while (size < newCapacity * 2) size <<= 1;
    this.index = new Int32Array(size);
    this.indexMask = size - 1;
    const index = this.index;
    const mask = this.indexMask;
    for (let slot = 0; slot < this.highWater; slot++) {
      if (this.insertedAtSecond[slot] === SLOT_FREE) continue;
      let b = this.hashes[slot] & mask;
      while (index[b] !== 0) b = (b + 1) & mask;
      index[b] = slot + 1;
    }
    this.onGrow?.(newCapacity);
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

function resizeF64(a: Float64Array, n: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}
function resizeU32(a: Uint32Array, n: number): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}
function resizeI32(a: Int32Array, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}
function resizeU8(a: Uint8Array, n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}
