/**
 * Sums counters per group key (`keyWords` int32 words, at most MAX_GROUP_KEY_WORDS) in typed arrays: the
 * hash table that turns flows into hosts, pairs, ports or protocols at question time. Keys are written
 * into `key` by the caller and looked up with group(); nothing allocates per flow.
 *
 * Layout, for few cache misses per lookup: the index holds (group + 1, hash) pairs, and each group is one
 * 80-byte record with its key words (int32 view, words 0..9) and its counters (float64 view, values
 * 5..9), so a lookup touches the index and one record.
 */
export const MAX_GROUP_KEY_WORDS = 9;
/** Int32 words per group record in `keys` (key at words 0..keyWords-1). */
export const GROUP_KEY_STRIDE = 20;
/** Float64 values per group record in `values`; counters are at the COL_* offsets. */
export const GROUP_COLUMNS = 10;
/** Counter offsets within a record ("forward" = sent for hosts, a->b for pairs). */
export const COL_PACKETS = 5;
export const COL_BYTES = 6;
export const COL_FORWARD_PACKETS = 7;
export const COL_FORWARD_BYTES = 8;
export const COL_FLOWS = 9;
const RECORD_BYTES = 80;

export class GroupAggregator {
  /** The key of the next group(); callers fill words [0, keyWords). */
  readonly key: Int32Array;
  readonly keyWords: number;
  count = 0;
  /** Int32 view of the group records: key of group g at g * GROUP_KEY_STRIDE. */
  keys: Int32Array;
  /** Float64 view of the same records: counters of group g at g * GROUP_COLUMNS + COL_*. */
  values: Float64Array;
  private capacity: number;
  private index: Int32Array;
  private mask: number;

  constructor(keyWords: number, expectedGroups = 1024) {
    if (!(keyWords >= 1 && keyWords <= MAX_GROUP_KEY_WORDS)) throw new RangeError(`keyWords ${keyWords}`);
    this.keyWords = keyWords;
    this.key = new Int32Array(keyWords);
    let capacity = 16;
    while (capacity < expectedGroups) capacity <<= 1;
    this.capacity = capacity;
    const buffer = new ArrayBuffer(capacity * RECORD_BYTES);
    this.keys = new Int32Array(buffer);
    this.values = new Float64Array(buffer);
    this.index = new Int32Array(capacity * 4);
    this.mask = capacity * 2 - 1;
  }

  /** Returns the group index for the current `key`, creating the group when new. */
  group(): number {
    const key = this.key;
    const width = this.keyWords;
    const keys = this.keys;
    const index = this.index;
    const mask = this.mask;
    const h = hashKey(key, width);
    let b = h & mask;
    for (; ; b = (b + 1) & mask) {
      const entry = index[2 * b];
      if (entry === 0) break;
      if (index[2 * b + 1] !== h) continue;
      const k = (entry - 1) * GROUP_KEY_STRIDE;
      let w = 0;
      while (w < width && keys[k + w] === key[w]) w++;
      if (w === width) return entry - 1;
    }
    if (this.count === this.capacity) {
      this.grow();
      return this.group();
    }
    const g = this.count++;
    keys.set(key, g * GROUP_KEY_STRIDE);
    index[2 * b] = g + 1;
    index[2 * b + 1] = h;
    return g;
  }

  /**
   * The group index of the current `key`, or -1 when no group has it; adds nothing. For looking up a
   * named group after aggregation (a window table's findKey).
   */
  find(): number {
    const key = this.key;
    const width = this.keyWords;
    const keys = this.keys;
    const index = this.index;
    const mask = this.mask;
    const h = hashKey(key, width);
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const entry = index[2 * b];
      if (entry === 0) return -1;
      if (index[2 * b + 1] !== h) continue;
      const k = (entry - 1) * GROUP_KEY_STRIDE;
      let w = 0;
      while (w < width && keys[k + w] === key[w]) w++;
      if (w === width) return entry - 1;
    }
  }

  /**
   * Keeps only the groups g with keep[g] === 1, in their order, in place: no new arrays, so pruning a
   * bounded table over and over (evicted-residue.ts) makes no garbage. Group indexes change.
   */
  retain(keep: Uint8Array): void {
    const keys = this.keys;
    let k = 0;
    for (let g = 0; g < this.count; g++) {
      if (keep[g] !== 1) continue;
      // A record is GROUP_KEY_STRIDE int32 words: key words and counters (the values view) together.
      if (k !== g) keys.copyWithin(k * GROUP_KEY_STRIDE, g * GROUP_KEY_STRIDE, (g + 1) * GROUP_KEY_STRIDE);
      k++;
    }
    // New groups start from zeroed records (group() writes only the key).
    keys.fill(0, k * GROUP_KEY_STRIDE, this.count * GROUP_KEY_STRIDE);
    this.count = k;
    const index = this.index;
    const mask = this.mask;
    index.fill(0);
    for (let g = 0; g < k; g++) {
      const h = hashKeyAt(keys, g * GROUP_KEY_STRIDE, this.keyWords);
      let b = h & mask;
      while (index[2 * b] !== 0) b = (b + 1) & mask;
      index[2 * b] = g + 1;
      index[2 * b + 1] = h;
    }
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const buffer = new ArrayBuffer(capacity * RECORD_BYTES);
    const keys = new Int32Array(buffer);
    keys.set(this.keys);
    this.keys = keys;
    this.values = new Float64Array(buffer);
    const oldIndex = this.index;
    this.index = new Int32Array(capacity * 4);
    this.mask = capacity * 2 - 1;
    this.capacity = capacity;
    for (let b = 0; b < oldIndex.length; b += 2) {
      if (oldIndex[b] === 0) continue;
      let nb = oldIndex[b + 1] & this.mask;
      while (this.index[2 * nb] !== 0) nb = (nb + 1) & this.mask;
      this.index[2 * nb] = oldIndex[b];
      this.index[2 * nb + 1] = oldIndex[b + 1];
    }
  }
}

/** FNV-1a over the key words with a final mix (linear probing needs well-spread low bits). */
function hashKey(key: Int32Array, width: number): number {
  return hashKeyAt(key, 0, width);
}

/** hashKey of the key at words [at, at + width) of `words`. */
function hashKeyAt(words: Int32Array, at: number, width: number): number {
  let h = 0x811c9dc5;
  for (let w = 0; w < width; w++) h = Math.imul(h ^ words[at + w], 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h;
}
