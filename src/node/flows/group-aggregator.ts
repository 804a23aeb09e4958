/**
 * Sums counters per group key (`keyWords` words, at most MAX_GROUP_KEY_WORDS) in typed arrays: the hash
 * table that turns flows into hosts, pairs, ports or protocols at question time. Keys are written into
 * `key` by the caller and looked up with group(); nothing allocates per flow.
 */
export const MAX_GROUP_KEY_WORDS = 9;
/** Counter columns per group (COL_*). */
export const GROUP_COLUMNS = 5;
/** Column meanings; the "forward"/"reverse" pair depends on the grouping (sent/received, a->b/b->a). */
export const COL_PACKETS = 0;
export const COL_BYTES = 1;
export const COL_FORWARD_PACKETS = 2;
export const COL_FORWARD_BYTES = 3;
export const COL_FLOWS = 4;

export class GroupAggregator {
  /** The key of the next group(); callers fill words [0, keyWords). */
  readonly key: Uint32Array;
  readonly keyWords: number;
  count = 0;
  keys: Uint32Array;
  values: Float64Array;
  private hashes: Uint32Array;
  private index: Int32Array;
  private mask: number;

  constructor(keyWords: number, expectedGroups = 1024) {
    if (!(keyWords >= 1 && keyWords <= MAX_GROUP_KEY_WORDS)) throw new RangeError(`keyWords ${keyWords}`);
    this.keyWords = keyWords;
    this.key = new Uint32Array(keyWords);
    let capacity = 16;
    while (capacity < expectedGroups) capacity <<= 1;
    this.keys = new Uint32Array(capacity * keyWords);
    this.values = new Float64Array(capacity * GROUP_COLUMNS);
    this.hashes = new Uint32Array(capacity);
    this.index = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
  }

  /** Returns the group index for the current `key`, creating the group when new. */
  group(): number {
    const key = this.key;
    let h = 0x811c9dc5;
    for (let w = 0; w < this.keyWords; w++) h = Math.imul(h ^ key[w], 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d) >>> 0;
    for (let b = h & this.mask; ; b = (b + 1) & this.mask) {
      const entry = this.index[b];
      if (entry === 0) break;
      const g = entry - 1;
      if (this.hashes[g] !== h) continue;
      const k = g * this.keyWords;
      let same = true;
      for (let w = 0; w < this.keyWords; w++) {
        if (this.keys[k + w] !== key[w]) {
          same = false;
          break;
        }
      }
      if (same) return g;
    }
    if (this.count * this.keyWords >= this.keys.length) this.grow();
    const g = this.count++;
    this.keys.set(key, g * this.keyWords);
    this.hashes[g] = h;
    let b = h & this.mask;
    while (this.index[b] !== 0) b = (b + 1) & this.mask;
    this.index[b] = g + 1;
    return g;
  }

  private grow(): void {
    const capacity = (this.keys.length / this.keyWords) * 2;
    const keys = new Uint32Array(capacity * this.keyWords);
    keys.set(this.keys);
    this.keys = keys;
    const values = new Float64Array(capacity * GROUP_COLUMNS);
    values.set(this.values);
    this.values = values;
    const hashes = new Uint32Array(capacity);
    hashes.set(this.hashes);
    this.hashes = hashes;
    this.index = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
    for (let g = 0; g < this.count; g++) {
      let b = this.hashes[g] & this.mask;
      while (this.index[b] !== 0) b = (b + 1) & this.mask;
      this.index[b] = g + 1;
    }
  }
}
