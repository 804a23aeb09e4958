import { formatAddress } from '../../util/ip-address.js';
import { UNDECODED_REASON_COUNT, UNDECODED_REASON_NAMES } from '../decode/decode-outcome.js';
import {
  ADDRESS_DST_BYTES,
  ADDRESS_DST_PACKETS,
  ADDRESS_SELF_BYTES,
  ADDRESS_SELF_PACKETS,
  ADDRESS_SRC_BYTES,
  ADDRESS_SRC_PACKETS,
  type EvictedResidue,
} from './evicted-residue.js';
import { KEY_DST, KEY_META, KEY_PORTS, KEY_SRC } from './flow-facts.js';
import { denseSelection, type FlowSelection, type FlowStore } from './flow-store.js';
import {
  REC_INTS,
  STAT_BYTES,
  STAT_DOUBLES,
  STAT_FIRST_SEEN,
  STAT_LAST_SEEN,
  STAT_PACKETS,
} from './flow-table.js';
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
import { hasPorts, isIcmp, protocolName, servicePort, tcpFlagsText } from './protocol-names.js';

export const GROUPINGS = ['host', 'src', 'dst', 'pair', 'flow', 'port', 'proto'] as const;
export type Grouping = (typeof GROUPINGS)[number];
export const METRICS = ['bytes', 'packets'] as const;

/**
 * Key words per grouping in the aggregator: version + address (5), version + two addresses (9),
 * protocol + service port + has-port flag (3), protocol (1). Narrow keys hash faster.
 */
const MODE_HOST = 0;
const MODE_SRC = 1;
const MODE_DST = 2;
const MODE_PAIR = 3;
const MODE_PORT = 4;
const MODE_PROTO = 5;
const GROUPING_MODE: Record<Grouping, number> = {
  host: MODE_HOST,
  src: MODE_SRC,
  dst: MODE_DST,
  pair: MODE_PAIR,
  flow: -1,
  port: MODE_PORT,
  proto: MODE_PROTO,
};

export const GROUP_KEY_WORDS_BY_GROUPING: Record<Grouping, number> = {
  host: 5,
  src: 5,
  dst: 5,
  pair: 9,
  flow: 0,
  port: 3,
  proto: 1,
};
export type Metric = (typeof METRICS)[number];

export interface TopQuery {
  group: Grouping;
  by: Metric;
  /** Rows to return; 0 = all. */
  limit: number;
  /** Last N closed seconds; null = everything counted. */
  windowSeconds: number | null;
}

/** One row of an answer. Extra fields depend on the grouping (see README "Groupings"). */
export interface TopRow {
  key: string;
  bytes: number;
  packets: number;
  flows: number;
  [extra: string]: string | number | boolean | null;
}

export interface TopReport {
  group: Grouping;
  by: Metric;
  rows: TopRow[];
  /** Distinct groups before the limit was applied. */
  groups: number;
  totals: { packets: number; bytes: number; ipPackets: number; ipBytes: number };
  undecoded: Record<string, number>;
  window: { seconds: number | null; from: number | null; to: number | null; complete: boolean };
  /**
   * Traffic of flows evicted for memory. Host, src, dst, port and proto rows still include it (per
   * address and service, see evicted-residue.ts) except `inNoRowPackets`; flow and pair rows do not.
   */
  evicted: { flows: number; packets: number; bytes: number; inNoRowPackets: number };
  exact: boolean;
}

/** Answers "top N by metric per grouping in a window" from a FlowStore. Allocates per question only. */
export function queryTop(store: FlowStore, query: TopQuery): TopReport {
  const { flows, totals, coverage } = store.select(query.windowSeconds);
  const rows =
    query.group === 'flow' ? flowRows(store, flows, query) : groupRows(store, flows, totals.residue, query);
  const undecoded: Record<string, number> = {};
  let undecodedPackets = 0;
  let undecodedBytes = 0;
  for (let r = 1; r < UNDECODED_REASON_COUNT; r++) {
    undecoded[UNDECODED_REASON_NAMES[r]] = totals.undecodedPackets[r];
    undecodedPackets += totals.undecodedPackets[r];
    undecodedBytes += totals.undecodedBytes[r];
  }
  return {
    group: query.group,
    by: query.by,
    rows: rows.rows,
    groups: rows.groups,
    totals: {
      packets: totals.packets,
      bytes: totals.bytes,
      ipPackets: totals.packets - undecodedPackets,
      ipBytes: totals.bytes - undecodedBytes,
    },
    undecoded,
    window: {
      seconds: coverage.requestedSeconds,
      from: coverage.fromSecond,
      to: coverage.toSecond,
      complete: coverage.complete,
    },
    evicted: {
      flows: store.evictedFlows,
      packets: totals.evictedPackets,
      bytes: totals.evictedBytes,
      inNoRowPackets: rowsMissEvictions(query.group)
        ? totals.evictedPackets
        : totals.evictedPackets - totals.residue.packets + totals.residue.otherPackets,
    },
    exact:
      coverage.complete &&
      (totals.evictedPackets === 0 ||
        (!rowsMissEvictions(query.group) &&
          totals.residue.otherPackets === 0 &&
          totals.evictedPackets === totals.residue.packets)),
  };
}

/**
 * Indices of the rows to return, best first: metric descending, ties by key ascending. Selects a
 * threshold first so only candidate rows get their (allocating) key text.
 */
function rankRows(
  count: number,
  metricOf: (i: number) => number,
  keyOf: (i: number) => string,
  limit: number,
) {
  let candidates: number[];
  if (limit > 0 && limit < count) {
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) values[i] = metricOf(i);
    values.sort();
    const threshold = values[count - limit];
    candidates = [];
    for (let i = 0; i < count; i++) if (metricOf(i) >= threshold) candidates.push(i);
  } else {
    candidates = Array.from({ length: count }, (_, i) => i);
  }
  const keys = new Map<number, string>();
  for (const i of candidates) keys.set(i, keyOf(i));
  candidates.sort((a, b) => {
    const d = metricOf(b) - metricOf(a);
    if (d !== 0) return d;
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  if (limit > 0) candidates.length = Math.min(candidates.length, limit);
  return { order: candidates, keys };
}

function flowRows(
  store: FlowStore,
  selection: FlowSelection,
  query: TopQuery,
): { rows: TopRow[]; groups: number } {
  const flows = denseSelection(store.table, selection);
  const t = store.table;
  const metric = query.by === 'bytes' ? flows.bytes : flows.packets;
  const slots = flows.slots;
  const rec = t.records;
  const { order, keys } = rankRows(
    flows.count,
    (i) => metric[i],
    (i) => flowKeyText(rec, slots[i]),
    query.limit,
  );
  const rows = order.map((i): TopRow => {
    const slot = slots[i];
    const k = slot * REC_INTS;
    const version = rec[k + KEY_META] >>> 8;
    const protocol = rec[k + KEY_META] & 0xff;
    const ports = rec[k + KEY_PORTS];
    const row: TopRow = {
      key: keys.get(i)!,
      bytes: flows.bytes[i],
      packets: flows.packets[i],
      flows: 1,
      protocol: protocolName(protocol),
      src: addressAt(rec, k + KEY_SRC, version),
      dst: addressAt(rec, k + KEY_DST, version),
      srcPort: ports >>> 16,
      dstPort: ports & 0xffff,
      firstSeen: t.stat(slot, STAT_FIRST_SEEN),
      lastSeen: t.stat(slot, STAT_LAST_SEEN),
      direction: store.knowsLocalAddresses ? directionText(t.direction(slot)) : 'unknown',
    };
    if (protocol === 6) row.tcpFlags = tcpFlagsText(t.tcpFlags(slot));
    if (t.errorBytes(slot) > 0) {
      row.errorBytes = t.errorBytes(slot);
      row.errorPackets = t.errorPackets(slot);
    }
    return row;
  });
  return { rows, groups: flows.count };
}

/** Flow and pair rows cannot include evicted flows' traffic (it is kept per address and service only). */
function rowsMissEvictions(group: Grouping): boolean {
  return group === 'flow' || group === 'pair';
}

function groupRows(
  store: FlowStore,
  flows: FlowSelection,
  residue: EvictedResidue,
  query: TopQuery,
): { rows: TopRow[]; groups: number } {
  const t = store.table;
  // Start small and grow: most groupings have far fewer groups than flows, and fresh pages are costly.
  const agg = new GroupAggregator(GROUP_KEY_WORDS_BY_GROUPING[query.group], 4096);
  const key = agg.key;
  const tk = t.records;
  // The grouping is decided once: the loop below runs per flow and switches on a small integer.
  const mode = GROUPING_MODE[query.group];
  const listed = flows.slots;
  const st = t.stats;
  const end = listed === null ? t.slotLimit : flows.count;
  for (let i = 0; i < end; i++) {
    let slot: number;
    let packets: number;
    let bytes: number;
    if (listed === null) {
      if (!t.isOccupied(i)) continue;
      slot = i;
      packets = st[slot * STAT_DOUBLES + STAT_PACKETS];
      bytes = st[slot * STAT_DOUBLES + STAT_BYTES];
    } else {
      slot = listed[i];
      packets = flows.packets[i];
      bytes = flows.bytes[i];
    }
    const k = slot * REC_INTS;
    const meta = tk[k + KEY_META];
    // Groups this flow adds to (two for a host pair); counters are updated inline below: passing
    // float64 values to a helper that is not inlined would box them, one allocation per flow.
    let first = -1;
    let second = -1;
    let firstForward = true;
    switch (mode) {
      case MODE_HOST: {
        key[0] = meta >>> 8;
        copyWords(tk, k + KEY_SRC, key, 1);
        first = agg.group();
        const same =
          tk[k + KEY_SRC] === tk[k + KEY_DST] &&
          tk[k + KEY_SRC + 1] === tk[k + KEY_DST + 1] &&
          tk[k + KEY_SRC + 2] === tk[k + KEY_DST + 2] &&
          tk[k + KEY_SRC + 3] === tk[k + KEY_DST + 3];
        // A frame counts once per distinct address: a flow to itself adds no second share.
        if (!same) {
          copyWords(tk, k + KEY_DST, key, 1);
          second = agg.group();
        }
        break;
      }
      case MODE_SRC:
      case MODE_DST:
        key[0] = meta >>> 8;
        copyWords(tk, k + (mode === MODE_SRC ? KEY_SRC : KEY_DST), key, 1);
        first = agg.group();
        break;
      case MODE_PAIR: {
        key[0] = meta >>> 8;
        const forward = compareWords(tk, k + KEY_SRC, k + KEY_DST) <= 0;
        copyWords(tk, forward ? k + KEY_SRC : k + KEY_DST, key, 1);
        copyWords(tk, forward ? k + KEY_DST : k + KEY_SRC, key, 5);
        first = agg.group();
        firstForward = forward;
        break;
      }
      case MODE_PORT: {
        const protocol = meta & 0xff;
        key[0] = protocol;
        if (hasPorts(protocol)) {
          const ports = tk[k + KEY_PORTS];
          key[1] = servicePort(ports >>> 16, ports & 0xffff);
          key[2] = 1;
        } else {
          key[1] = 0;
          key[2] = 0;
        }
        first = agg.group();
        break;
      }
      default:
        key[0] = meta & 0xff;
        first = agg.group();
        break;
    }
    const v = agg.values;
    let base = first * GROUP_COLUMNS;
    v[base + COL_PACKETS] += packets;
    v[base + COL_BYTES] += bytes;
    v[base + COL_FLOWS] += 1;
    if (firstForward) {
      v[base + COL_FORWARD_PACKETS] += packets;
      v[base + COL_FORWARD_BYTES] += bytes;
    }
    if (second >= 0) {
      // The destination side of a host flow: received, so nothing forward.
      base = second * GROUP_COLUMNS;
      v[base + COL_PACKETS] += packets;
      v[base + COL_BYTES] += bytes;
      v[base + COL_FLOWS] += 1;
    }
  }
  addResidue(agg, residue, mode);
  const v = agg.values;
  const col = query.by === 'bytes' ? COL_BYTES : COL_PACKETS;
  const { order, keys } = rankRows(
    agg.count,
    (g) => v[g * GROUP_COLUMNS + col],
    (g) => groupKeyText(query.group, agg.keys, g * GROUP_KEY_STRIDE),
    query.limit,
  );
  const rows = order.map((g): TopRow => {
    const base = g * GROUP_COLUMNS;
    const row: TopRow = {
      key: keys.get(g)!,
      bytes: v[base + COL_BYTES],
      packets: v[base + COL_PACKETS],
      flows: v[base + COL_FLOWS],
    };
    if (query.group === 'host') {
      row.sentBytes = v[base + COL_FORWARD_BYTES];
      row.sentPackets = v[base + COL_FORWARD_PACKETS];
      row.receivedBytes = v[base + COL_BYTES] - v[base + COL_FORWARD_BYTES];
      row.receivedPackets = v[base + COL_PACKETS] - v[base + COL_FORWARD_PACKETS];
    } else if (query.group === 'pair') {
      row.forwardBytes = v[base + COL_FORWARD_BYTES];
      row.forwardPackets = v[base + COL_FORWARD_PACKETS];
      row.reverseBytes = v[base + COL_BYTES] - v[base + COL_FORWARD_BYTES];
      row.reversePackets = v[base + COL_PACKETS] - v[base + COL_FORWARD_PACKETS];
    }
    return row;
  });
  return { rows, groups: agg.count };
}

export function copyWords(from: Int32Array, at: number, to: Int32Array, toAt: number): void {
  to[toAt] = from[at];
  to[toAt + 1] = from[at + 1];
  to[toAt + 2] = from[at + 2];
  to[toAt + 3] = from[at + 3];
}

/** Adds evicted flows' traffic to the address or service groups it belongs to. */
function addResidue(agg: GroupAggregator, residue: EvictedResidue, mode: number): void {
  const key = agg.key;
  if (mode === MODE_HOST || mode === MODE_SRC || mode === MODE_DST) {
    const a = residue.addresses;
    const r = a.values;
    for (let g = 0; g < a.count; g++) {
      const base = g * GROUP_COLUMNS;
      let packets: number;
      let bytes: number;
      let sentPackets = 0;
      let sentBytes = 0;
      if (mode === MODE_HOST) {
        packets =
          r[base + ADDRESS_SRC_PACKETS] + r[base + ADDRESS_DST_PACKETS] - r[base + ADDRESS_SELF_PACKETS];
        bytes = r[base + ADDRESS_SRC_BYTES] + r[base + ADDRESS_DST_BYTES] - r[base + ADDRESS_SELF_BYTES];
        sentPackets = r[base + ADDRESS_SRC_PACKETS];
        sentBytes = r[base + ADDRESS_SRC_BYTES];
      } else if (mode === MODE_SRC) {
        packets = sentPackets = r[base + ADDRESS_SRC_PACKETS];
        bytes = sentBytes = r[base + ADDRESS_SRC_BYTES];
      } else {
        packets = r[base + ADDRESS_DST_PACKETS];
        bytes = r[base + ADDRESS_DST_BYTES];
      }
      if (packets === 0) continue;
      for (let w = 0; w < 5; w++) key[w] = a.keys[g * GROUP_KEY_STRIDE + w];
      const to = agg.group() * GROUP_COLUMNS;
      const v = agg.values;
      v[to + COL_PACKETS] += packets;
      v[to + COL_BYTES] += bytes;
      v[to + COL_FORWARD_PACKETS] += sentPackets;
      v[to + COL_FORWARD_BYTES] += sentBytes;
    }
  } else if (mode === MODE_PORT || mode === MODE_PROTO) {
    const s = residue.services;
    for (let g = 0; g < s.count; g++) {
      key[0] = s.keys[g * GROUP_KEY_STRIDE];
      if (mode === MODE_PORT) {
        const portPlusOne = s.keys[g * GROUP_KEY_STRIDE + 1];
        key[1] = portPlusOne === 0 ? 0 : portPlusOne - 1;
        key[2] = portPlusOne === 0 ? 0 : 1;
      }
      const to = agg.group() * GROUP_COLUMNS;
      const v = agg.values;
      v[to + COL_PACKETS] += s.values[g * GROUP_COLUMNS + COL_PACKETS];
      v[to + COL_BYTES] += s.values[g * GROUP_COLUMNS + COL_BYTES];
      v[to + COL_FORWARD_PACKETS] += s.values[g * GROUP_COLUMNS + COL_PACKETS];
      v[to + COL_FORWARD_BYTES] += s.values[g * GROUP_COLUMNS + COL_BYTES];
    }
  }
}

/** Compares two addresses stored as int32 words, as unsigned numbers (network order). */
export function compareWords(a: Int32Array, i: number, j: number): number {
  for (let w = 0; w < 4; w++) {
    const x = a[i + w] >>> 0;
    const y = a[j + w] >>> 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function addressAt(words: Int32Array | Uint32Array, at: number, version: number): string {
  return formatAddress(
    version,
    words[at] >>> 0,
    words[at + 1] >>> 0,
    words[at + 2] >>> 0,
    words[at + 3] >>> 0,
  );
}

function endpointText(words: Int32Array, at: number, version: number, port: number): string {
  const address = addressAt(words, at, version);
  return version === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** "tcp 198.18.0.1:40000 > 198.18.0.2:443", "icmp 198.18.0.1 > 198.18.0.2 type 8 code 0". */
export function flowKeyText(keys: Int32Array, slot: number): string {
  const k = slot * REC_INTS;
  const version = keys[k + KEY_META] >>> 8;
  const protocol = keys[k + KEY_META] & 0xff;
  const ports = keys[k + KEY_PORTS];
  const name = protocolName(protocol);
  if (hasPorts(protocol)) {
    return `${name} ${endpointText(keys, k + KEY_SRC, version, ports >>> 16)} > ${endpointText(keys, k + KEY_DST, version, ports & 0xffff)}`;
  }
  const pair = `${name} ${addressAt(keys, k + KEY_SRC, version)} > ${addressAt(keys, k + KEY_DST, version)}`;
  if (isIcmp(protocol)) return `${pair} type ${(ports >>> 8) & 0xff} code ${ports & 0xff}`;
  return pair;
}

export function groupKeyText(group: Grouping, keys: Int32Array, at: number): string {
  switch (group) {
    case 'host':
    case 'src':
    case 'dst':
      return addressAt(keys, at + 1, keys[at]);
    case 'pair':
      return `${addressAt(keys, at + 1, keys[at])} <-> ${addressAt(keys, at + 5, keys[at])}`;
    case 'port':
      return keys[at + 2] === 1 ? `${protocolName(keys[at])}/${keys[at + 1]}` : protocolName(keys[at]);
    case 'proto':
      return protocolName(keys[at]);
    default:
      throw new Error(`unreachable grouping ${group}`);
  }
}

function directionText(direction: number): string {
  switch (direction) {
    case 1:
      return 'sent';
    case 2:
      return 'received';
    case 3:
      return 'local';
    default:
      return 'transit';
  }
}
