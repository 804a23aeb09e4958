/**
 * Sums counters per group key (up to GROUP_KEY_WORDS words) in typed arrays: the hash table that turns
 * flows into hosts, pairs, ports or protocols at question time. Keys are written into `key` by the
 * caller and added with add(); nothing allocates per flow.
 */
export const GROUP_KEY_WORDS = 9;
/** Counter columns per group (COL_*). */
export const GROUP_COLUMNS = 5;
/** Column meanings; the "forward"/"reverse" pair depends on the grouping (sent/received, a->b/b->a). */
export const COL_PACKETS = 0;
export const COL_BYTES = 1;
export const COL_FORWARD_PACKETS = 2;
export const COL_FORWARD_BYTES = 3;
export const COL_FLOWS = 4;

export class GroupAggregator {
  /** The key of the next add(); callers fill words [0, GROUP_KEY_WORDS). */
  readonly key = new Uint32Array(GROUP_KEY_WORDS);
  count = 0;
  keys: Uint32Array;
  values: Float64Array;
  private hashes: Uint32Array;
  private index: Int32Array;
  private mask: number;

  constructor(expectedGroups = 1024) {
    let capacity = 16;
    while (capacity < expectedGroups) capacity <<= 1;
    this.keys = new Uint32Array(capacity * GROUP_KEY_WORDS);
    this.values = new Float64Array(capacity * GROUP_COLUMNS);
    this.hashes = new Uint32Array(capacity);
    this.index = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
  }

  /** Returns the group index for the current `key`, creating the group when new. */
  group(): number {
    const key = this.key;
    let h = 0x811c9dc5;
    for (let w = 0; w < GROUP_KEY_WORDS; w++) h = Math.imul(h ^ key[w], 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d) >>> 0;
    for (let b = h & this.mask; ; b = (b + 1) & this.mask) {
      const entry = this.index[b];
      if (entry === 0) break;
      const g = entry - 1;
      if (this.hashes[g] !== h) continue;
      const k = g * GROUP_KEY_WORDS;
      let same = true;
      for (let w = 0; w < GROUP_KEY_WORDS; w++) {
        if (this.keys[k + w] !== key[w]) {
          same = false;
          break;
        }
      }
      if (same) return g;
    }
    if (this.count * GROUP_KEY_WORDS >= this.keys.length) this.grow();
    const g = this.count++;
    this.keys.set(key, g * GROUP_KEY_WORDS);
    this.hashes[g] = h;
    let b = h & this.mask;
    while (this.index[b] !== 0) b = (b + 1) & this.mask;
    this.index[b] = g + 1;
    return g;
  }

  private grow(): void {
    const capacity = (this.keys.length / GROUP_KEY_WORDS) * 2;
    const keys = new Uint32Array(capacity * GROUP_KEY_WORDS);
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
