import { KEY_DST, KEY_META, KEY_PORTS, KEY_SRC } from './flow-facts.js';
import {
  COL_BYTES,
  COL_FLOWS,
  COL_FORWARD_BYTES,
  COL_FORWARD_PACKETS,
  COL_PACKETS,
  GROUP_COLUMNS,
  GROUP_KEY_STRIDE,
  GroupAggregator,
} from './group-aggregator.js';
import { hasPorts, servicePort } from './protocol-names.js';

/**
 * The traffic of flows evicted from the flow table, kept per address and per service, so that host,
 * src, dst, port and proto rows stay whole when a flood of small flows pushes flows out (the flood's
 * victim is the heavy hitter, but most of its bytes arrive in flows that get evicted).
 *
 * Rows are bounded (`maxRows` addresses, `maxRows` services): when a table reaches twice that, its
 * lightest rows are folded into `otherPackets/otherBytes`, traffic then in no row (a random-source
 * flood's sources, a few packets each), at once and in place, so a table never holds more than
 * 2 x maxRows rows and never reallocates once grown to that (one eviction round may add thousands
 * of addresses to every history slice's residue; growing and pruning those made most of a flood's
 * garbage). Eviction-time work only: nothing here runs per packet.
 *
 * Address rows live in a GroupAggregator keyed by (version, 4 address words). Their counters use the
 * record's value slots: source side in COL_PACKETS/COL_BYTES, destination side in the COL_FORWARD_*
 * slots, traffic of flows from an address to itself (counted once under host) in COL_FLOWS and in
 * value slot ADDRESS_SELF_BYTES, which a 5-word key leaves free (key bytes 0..19 overlap value slots 0..2).
 */
export const ADDRESS_SRC_PACKETS = COL_PACKETS;
export const ADDRESS_SRC_BYTES = COL_BYTES;
export const ADDRESS_DST_PACKETS = COL_FORWARD_PACKETS;
export const ADDRESS_DST_BYTES = COL_FORWARD_BYTES;
export const ADDRESS_SELF_PACKETS = COL_FLOWS;
export const ADDRESS_SELF_BYTES = 4;
const ADDRESS_KEY_WORDS = 5;
/** Service rows: key (protocol, service port + 1; 0 = no port), counters in COL_PACKETS/COL_BYTES. */
const SERVICE_KEY_WORDS = 2;
const INITIAL_ROWS = 16;

export class EvictedResidue {
  readonly addresses = new GroupAggregator(ADDRESS_KEY_WORDS, INITIAL_ROWS);
  readonly services = new GroupAggregator(SERVICE_KEY_WORDS, INITIAL_ROWS);
  /** Traffic of folded (lightest) rows: in no address row. */
  otherPackets = 0;
  otherBytes = 0;
  /** All traffic added, folded or not. */
  packets = 0;
  bytes = 0;

  constructor(private readonly maxRows: number) {}

  get rows(): number {
    return this.addresses.count + this.services.count;
  }

  /** Adds `packets`/`bytes` of the flow whose key is at `records[k...]` (flow-table layout). */
  addFlow(records: Int32Array, k: number, packets: number, bytes: number): void {
    this.packets += packets;
    this.bytes += bytes;
    const a = this.addresses;
    const key = a.key;
    key[0] = records[k + KEY_META] >>> 8;
    for (let w = 0; w < 4; w++) key[1 + w] = records[k + KEY_SRC + w];
    let v = a.values;
    const src = a.group() * GROUP_COLUMNS;
    v = a.values;
    v[src + ADDRESS_SRC_PACKETS] += packets;
    v[src + ADDRESS_SRC_BYTES] += bytes;
    let same = true;
    for (let w = 0; w < 4; w++) {
      if (records[k + KEY_DST + w] !== key[1 + w]) same = false;
      key[1 + w] = records[k + KEY_DST + w];
    }
    if (same) {
      v[src + ADDRESS_DST_PACKETS] += packets;
      v[src + ADDRESS_DST_BYTES] += bytes;
      v[src + ADDRESS_SELF_PACKETS] += packets;
      v[src + ADDRESS_SELF_BYTES] += bytes;
    } else {
      const dst = a.group() * GROUP_COLUMNS;
      v = a.values;
      v[dst + ADDRESS_DST_PACKETS] += packets;
      v[dst + ADDRESS_DST_BYTES] += bytes;
    }
    const protocol = records[k + KEY_META] & 0xff;
    const ports = records[k + KEY_PORTS];
    const s = this.services;
    s.key[0] = protocol;
    s.key[1] = hasPorts(protocol) ? servicePort(ports >>> 16, ports & 0xffff) + 1 : 0;
    const g = s.group() * GROUP_COLUMNS;
    s.values[g + COL_PACKETS] += packets;
    s.values[g + COL_BYTES] += bytes;
    this.prune();
  }

  /** Adds every row of `other` (merging history slices, or summing a window). */
  addAll(other: EvictedResidue): void {
    this.packets += other.packets;
    this.bytes += other.bytes;
    this.otherPackets += other.otherPackets;
    this.otherBytes += other.otherBytes;
    this.copyRows(other.addresses, this.addresses, ADDRESS_SELF_BYTES);
    this.copyRows(other.services, this.services, COL_PACKETS);
  }

  /** Adds the rows of `from` into `to` (one of this residue's tables), value slots [firstValue, COL_FLOWS]. */
  private copyRows(from: GroupAggregator, to: GroupAggregator, firstValue: number): void {
    const width = from.keyWords;
    for (let g = 0; g < from.count; g++) {
      for (let w = 0; w < width; w++) to.key[w] = from.keys[g * GROUP_KEY_STRIDE + w];
      const base = to.group() * GROUP_COLUMNS;
      const fromBase = g * GROUP_COLUMNS;
      for (let c = firstValue; c <= COL_FLOWS; c++) to.values[base + c] += from.values[fromBase + c];
      this.prune();
    }
  }

  /**
   * Keeps the heaviest `maxRows` address rows and services, folding the rest into `other`, once a table
   * holds twice that (so the sort is paid once per maxRows new rows).
   */
  private prune(): void {
    // At (not past) twice maxRows: a table then fits 2 x maxRows rounded up to a power of two.
    if (this.addresses.count >= 2 * this.maxRows) {
      const dropped = keepHeaviest(this.addresses, this.maxRows, true);
      this.otherPackets += dropped.packets;
      this.otherBytes += dropped.bytes;
    }
    if (this.services.count >= 2 * this.maxRows) keepHeaviest(this.services, this.maxRows, false);
  }
}

/** Working arrays of keepHeaviest, reused (it runs synchronously, one table at a time). */
let scratchWeights = new Float64Array(0);
let scratchSorted = new Float64Array(0);
let scratchKeep = new Uint8Array(0);

/**
 * Keeps only the `maxRows` heaviest rows of `table` by bytes (both sides for addresses), in place;
 * returns the traffic of the dropped rows (for address rows: source side plus destination side, self
 * traffic once; nothing is summed for service rows).
 */
function keepHeaviest(
  table: GroupAggregator,
  maxRows: number,
  addressRows: boolean,
): { packets: number; bytes: number } {
  const count = table.count;
  if (scratchWeights.length < count) {
    scratchWeights = new Float64Array(count * 2);
    scratchSorted = new Float64Array(count * 2);
    scratchKeep = new Uint8Array(count * 2);
  }
  const weights = scratchWeights;
  const keep = scratchKeep;
  const v = table.values;
  for (let g = 0; g < count; g++) {
    const base = g * GROUP_COLUMNS;
    weights[g] = addressRows
      ? v[base + ADDRESS_SRC_BYTES] + v[base + ADDRESS_DST_BYTES]
      : v[base + COL_BYTES];
  }
  // The maxRows-th heaviest weight, from a typed-array sort (no comparator calls).
  const sorted = scratchSorted.subarray(0, count);
  sorted.set(weights.subarray(0, count));
  sorted.sort();
  const threshold = sorted[count - maxRows];
  let kept = 0;
  let droppedPackets = 0;
  let droppedBytes = 0;
  for (let g = 0; g < count; g++) {
    const base = g * GROUP_COLUMNS;
    // Heavier than the threshold stays; at the threshold, rows stay while there is room.
    if (weights[g] < threshold || (weights[g] === threshold && kept >= maxRows)) {
      keep[g] = 0;
      if (addressRows) {
        droppedPackets +=
          v[base + ADDRESS_SRC_PACKETS] + v[base + ADDRESS_DST_PACKETS] - v[base + ADDRESS_SELF_PACKETS];
        droppedBytes +=
          v[base + ADDRESS_SRC_BYTES] + v[base + ADDRESS_DST_BYTES] - v[base + ADDRESS_SELF_BYTES];
      }
      continue;
    }
    keep[g] = 1;
    kept++;
  }
  table.retain(keep);
  return { packets: droppedPackets, bytes: droppedBytes };
}
