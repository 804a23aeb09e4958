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
 * Rows are bounded (`maxRows` addresses, `maxRows` services): past that the lightest rows are folded
 * into `otherPackets/otherBytes`, traffic then in no row (a random-source flood's sources, a few
 * packets each). Eviction-time work only: nothing here runs per packet.
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
  addresses = new GroupAggregator(ADDRESS_KEY_WORDS, INITIAL_ROWS);
  services = new GroupAggregator(SERVICE_KEY_WORDS, INITIAL_ROWS);
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
  }

  /** Adds every row of `other` (merging history slices, or summing a window). */
  addAll(other: EvictedResidue): void {
    this.packets += other.packets;
    this.bytes += other.bytes;
    this.otherPackets += other.otherPackets;
    this.otherBytes += other.otherBytes;
    copyRows(other.addresses, this.addresses, ADDRESS_SELF_BYTES);
    copyRows(other.services, this.services, COL_PACKETS);
  }

  /**
   * Keeps the heaviest `maxRows` address rows and services, folding the rest into `other`, once a table
   * holds twice that (so the sort is paid once per maxRows new rows, not on every eviction round).
   */
  prune(): void {
    if (this.addresses.count > 2 * this.maxRows) {
      const { kept, droppedPackets, droppedBytes } = keepHeaviest(this.addresses, this.maxRows, true);
      this.addresses = kept;
      this.otherPackets += droppedPackets;
      this.otherBytes += droppedBytes;
    }
    if (this.services.count > 2 * this.maxRows) {
      this.services = keepHeaviest(this.services, this.maxRows, false).kept;
    }
  }
}

/** Adds the rows of `from` into `to`, value slots [firstValue, COL_FLOWS]. */
function copyRows(from: GroupAggregator, to: GroupAggregator, firstValue: number): void {
  const width = from.keyWords;
  for (let g = 0; g < from.count; g++) {
    for (let w = 0; w < width; w++) to.key[w] = from.keys[g * GROUP_KEY_STRIDE + w];
    const base = to.group() * GROUP_COLUMNS;
    const fromBase = g * GROUP_COLUMNS;
    for (let c = firstValue; c <= COL_FLOWS; c++) to.values[base + c] += from.values[fromBase + c];
  }
}

/**
 * A copy of `table` with only its `maxRows` heaviest rows by bytes (both sides for addresses); returns the
 * traffic of the dropped rows (for address rows: source side plus destination side, self traffic once).
 */
function keepHeaviest(
  table: GroupAggregator,
  maxRows: number,
  addressRows: boolean,
): { kept: GroupAggregator; droppedPackets: number; droppedBytes: number } {
  const v = table.values;
  const weights = new Float64Array(table.count);
  for (let g = 0; g < table.count; g++) {
    const base = g * GROUP_COLUMNS;
    weights[g] = addressRows
      ? v[base + ADDRESS_SRC_BYTES] + v[base + ADDRESS_DST_BYTES]
      : v[base + COL_BYTES];
  }
  // The maxRows-th heaviest weight, from a typed-array sort (no comparator calls).
  const sorted = weights.slice().sort();
  const threshold = sorted[sorted.length - maxRows];
  const kept = new GroupAggregator(table.keyWords, maxRows);
  let droppedPackets = 0;
  let droppedBytes = 0;
  const firstValue = addressRows ? ADDRESS_SELF_BYTES : COL_PACKETS;
  for (let g = 0; g < table.count; g++) {
    const base = g * GROUP_COLUMNS;
    // Heavier than the threshold stays; at the threshold, rows stay while there is room.
    if (weights[g] < threshold || (weights[g] === threshold && kept.count >= maxRows)) {
      if (addressRows) {
        droppedPackets +=
          v[base + ADDRESS_SRC_PACKETS] + v[base + ADDRESS_DST_PACKETS] - v[base + ADDRESS_SELF_PACKETS];
        droppedBytes +=
          v[base + ADDRESS_SRC_BYTES] + v[base + ADDRESS_DST_BYTES] - v[base + ADDRESS_SELF_BYTES];
      }
      continue;
    }
    for (let w = 0; w < table.keyWords; w++) kept.key[w] = table.keys[g * GROUP_KEY_STRIDE + w];
    const to = kept.group() * GROUP_COLUMNS;
    for (let c = firstValue; c <= COL_FLOWS; c++) kept.values[to + c] = v[base + c];
  }
  return { kept, droppedPackets, droppedBytes };
}
