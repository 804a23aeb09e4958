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
import { denseSelection, type FlowSelection } from './flow-range-read.js';
import type { FlowStore } from './flow-store.js';
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
import { flowKeyText, groupKeyText, recordAddressText } from './key-text.js';
import {
  GROUP_KEY_WORDS,
  GROUPING_MODE,
  type Grouping,
  isAddressMode,
  isServiceMode,
  KEY_FORWARD,
  KEY_HAS_SECOND,
  type Metric,
  MODE_HOST,
  MODE_SRC,
  type ReportRow,
  rankTop,
  reportRowOf,
  rowsMissEvictions,
  writeGroupKey,
  writeHostDestinationKey,
  writeServiceKey,
} from './key-vocabulary.js';
import { protocolName, tcpFlagsText } from './protocol-names.js';

export interface TopQuery {
  group: Grouping;
  by: Metric;
  /** Rows to return; 0 = all. */
  limit: number;
  /** Last N closed seconds; null = everything counted. */
  windowSeconds: number | null;
}

export interface TopReport {
  group: Grouping;
  by: Metric;
  rows: ReportRow[];
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

function flowRows(
  store: FlowStore,
  selection: FlowSelection,
  query: TopQuery,
): { rows: ReportRow[]; groups: number } {
  const flows = denseSelection(store.table, selection);
  const t = store.table;
  const metric = query.by === 'bytes' ? flows.bytes : flows.packets;
  const slots = flows.slots;
  const rec = t.records;
  const { order, keyAt } = rankTop(
    flows.count,
    (i) => metric[i],
    (i) => flowKeyText(rec, slots[i]),
    query.limit,
  );
  const rows = Array.from(order, (i): ReportRow => {
    const slot = slots[i];
    const k = slot * REC_INTS;
    const version = rec[k + KEY_META] >>> 8;
    const protocol = rec[k + KEY_META] & 0xff;
    const ports = rec[k + KEY_PORTS];
    const row: ReportRow = {
      key: keyAt(i),
      bytes: flows.bytes[i],
      packets: flows.packets[i],
      flows: 1,
      protocol: protocolName(protocol),
      src: recordAddressText(rec, k + KEY_SRC, version),
      dst: recordAddressText(rec, k + KEY_DST, version),
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

function groupRows(
  store: FlowStore,
  flows: FlowSelection,
  residue: EvictedResidue,
  query: TopQuery,
): { rows: ReportRow[]; groups: number } {
  const t = store.table;
  // Start small and grow: most groupings have far fewer groups than flows, and fresh pages are costly.
  const agg = new GroupAggregator(GROUP_KEY_WORDS[query.group], 4096);
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
    // Counters are updated inline below: passing float64 values to a helper that is not inlined would
    // box them, one allocation per flow.
    const shape = writeGroupKey(mode, tk, k, key);
    const first = agg.group();
    let second = -1;
    if ((shape & KEY_HAS_SECOND) !== 0) {
      writeHostDestinationKey(tk, k, key);
      second = agg.group();
    }
    const firstForward = (shape & KEY_FORWARD) !== 0;
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
  const { order, keyAt } = rankTop(
    agg.count,
    (g) => v[g * GROUP_COLUMNS + col],
    (g) => groupKeyText(query.group, agg.keys, g * GROUP_KEY_STRIDE),
    query.limit,
  );
  const rows = Array.from(order, (g): ReportRow => {
    const base = g * GROUP_COLUMNS;
    return reportRowOf(query.group, {
      key: keyAt(g),
      packets: v[base + COL_PACKETS],
      bytes: v[base + COL_BYTES],
      flows: v[base + COL_FLOWS],
      forwardPackets: v[base + COL_FORWARD_PACKETS],
      forwardBytes: v[base + COL_FORWARD_BYTES],
    });
  });
  return { rows, groups: agg.count };
}

/** Adds evicted flows' traffic to the address or service groups it belongs to. */
function addResidue(agg: GroupAggregator, residue: EvictedResidue, mode: number): void {
  const key = agg.key;
  if (isAddressMode(mode)) {
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
  } else if (isServiceMode(mode)) {
    const s = residue.services;
    for (let g = 0; g < s.count; g++) {
      writeServiceKey(mode, s.keys[g * GROUP_KEY_STRIDE], s.keys[g * GROUP_KEY_STRIDE + 1], key);
      const to = agg.group() * GROUP_COLUMNS;
      const v = agg.values;
      v[to + COL_PACKETS] += s.values[g * GROUP_COLUMNS + COL_PACKETS];
      v[to + COL_BYTES] += s.values[g * GROUP_COLUMNS + COL_BYTES];
      v[to + COL_FORWARD_PACKETS] += s.values[g * GROUP_COLUMNS + COL_PACKETS];
      v[to + COL_FORWARD_BYTES] += s.values[g * GROUP_COLUMNS + COL_BYTES];
    }
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
