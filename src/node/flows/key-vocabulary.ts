import { KEY_DST, KEY_META, KEY_PORTS, KEY_SRC } from './flow-facts.js';
import { hasPorts, servicePort } from './protocol-names.js';

/**
 * The one vocabulary of questions and their keys, used by `analyze` (top-query.ts), the cluster-query
 * tables (window-table.ts), the merge (src/query) and the CLI:
 *  - groupings and metrics, by name and by numeric code;
 *  - the key layout of each grouping in a GroupAggregator and the writer that fills it from a flow record;
 *  - how a row's forward part is named per grouping (host: sent/received, pair: forward/reverse);
 *  - the order of rows: metric descending, ties by key text ascending, with a threshold selection so that
 *    only candidate rows get their (allocating) key text.
 * Key texts, both directions (print and parse), are in key-text.ts.
 *
 * The numeric codes ARE the wire values of proto/sniffmesh.proto's `Grouping` and `Metric` enums (0 there
 * means the default: host, bytes), so src/query maps the wire to names through this table and no other;
 * test/query/generated-code.test.ts holds the two to each other.
 */

export const GROUPINGS = ['host', 'src', 'dst', 'pair', 'flow', 'port', 'proto'] as const;
export type Grouping = (typeof GROUPINGS)[number];
export const METRICS = ['bytes', 'packets'] as const;
export type Metric = (typeof METRICS)[number];

/** Grouping codes (= proto Grouping values). Hot loops switch on these small integers, not on names. */
export const MODE_HOST = 1;
export const MODE_SRC = 2;
export const MODE_DST = 3;
export const MODE_PAIR = 4;
export const MODE_FLOW = 5;
export const MODE_PORT = 6;
export const MODE_PROTO = 7;

export const GROUPING_MODE: Readonly<Record<Grouping, number>> = Object.freeze({
  host: MODE_HOST,
  src: MODE_SRC,
  dst: MODE_DST,
  pair: MODE_PAIR,
  flow: MODE_FLOW,
  port: MODE_PORT,
  proto: MODE_PROTO,
});

/** Metric codes (= proto Metric values). */
export const METRIC_BYTES = 1;
export const METRIC_PACKETS = 2;
export const METRIC_CODE: Readonly<Record<Metric, number>> = Object.freeze({
  bytes: METRIC_BYTES,
  packets: METRIC_PACKETS,
});

/** The grouping of a code; 0 (unspecified on the wire) is host; undefined for codes that name none. */
export function groupingOfCode(code: number): Grouping | undefined {
  if (code === 0) return 'host';
  return GROUPINGS[code - 1];
}

/** The metric of a code; 0 (unspecified on the wire) is bytes; undefined for codes that name none. */
export function metricOfCode(code: number): Metric | undefined {
  if (code === 0) return 'bytes';
  return METRICS[code - 1];
}

/** "host (1), src (2), ...": the codes for error messages. */
export const GROUPING_CODES_TEXT = GROUPINGS.map((g) => `${g} (${GROUPING_MODE[g]})`).join(', ');
export const METRIC_CODES_TEXT = METRICS.map((m) => `${m} (${METRIC_CODE[m]})`).join(', ');

/**
 * Key words per grouping in the aggregator (GroupAggregator keys): version + address (5), version + two
 * addresses (9), protocol + service port + has-port flag (3), protocol (1). Narrow keys hash faster.
 * Flow rows are not aggregated (a flow is its own row, keyed by its table record): 0.
 */
export const GROUP_KEY_WORDS: Readonly<Record<Grouping, number>> = Object.freeze({
  host: 5,
  src: 5,
  dst: 5,
  pair: 9,
  flow: 0,
  port: 3,
  proto: 1,
});

/** Bits returned by writeGroupKey(). */
export const KEY_FORWARD = 1;
export const KEY_HAS_SECOND = 2;

/**
 * Writes the key of the first group the flow at records[k...] (flow-facts.ts layout) adds to into `key`;
 * returns KEY_FORWARD when that group gets the flow as its forward part (host: sent; pair: first to
 * second; port, proto, src, dst: all of it) and KEY_HAS_SECOND when a second group follows: a host
 * flow's destination, written by writeHostDestinationKey() and never forward. A frame counts once per
 * distinct address, so a flow to itself has no second group. Returns a small integer (no boxing): the
 * callers keep their float64 counter updates inline (docs/engineering-notes.md, V8 traps).
 */
export function writeGroupKey(mode: number, records: Int32Array, k: number, key: Int32Array): number {
  const meta = records[k + KEY_META];
  switch (mode) {
    case MODE_HOST: {
      key[0] = meta >>> 8;
      copyWords(records, k + KEY_SRC, key, 1);
      const same =
        records[k + KEY_SRC] === records[k + KEY_DST] &&
        records[k + KEY_SRC + 1] === records[k + KEY_DST + 1] &&
        records[k + KEY_SRC + 2] === records[k + KEY_DST + 2] &&
        records[k + KEY_SRC + 3] === records[k + KEY_DST + 3];
      return same ? KEY_FORWARD : KEY_FORWARD | KEY_HAS_SECOND;
    }
    case MODE_SRC:
    case MODE_DST:
      key[0] = meta >>> 8;
      copyWords(records, k + (mode === MODE_SRC ? KEY_SRC : KEY_DST), key, 1);
      return KEY_FORWARD;
    case MODE_PAIR: {
      key[0] = meta >>> 8;
      const forward = compareWords(records, k + KEY_SRC, k + KEY_DST) <= 0;
      copyWords(records, forward ? k + KEY_SRC : k + KEY_DST, key, 1);
      copyWords(records, forward ? k + KEY_DST : k + KEY_SRC, key, 5);
      return forward ? KEY_FORWARD : 0;
    }
    case MODE_PORT: {
      const protocol = meta & 0xff;
      key[0] = protocol;
      if (hasPorts(protocol)) {
        const ports = records[k + KEY_PORTS];
        key[1] = servicePort(ports >>> 16, ports & 0xffff);
        key[2] = 1;
      } else {
        key[1] = 0;
        key[2] = 0;
      }
      return KEY_FORWARD;
    }
    case MODE_PROTO:
      key[0] = meta & 0xff;
      return KEY_FORWARD;
    default:
      throw new RangeError(`writeGroupKey: grouping code ${mode} has no aggregated key`);
  }
}

/** The second group of a host flow (KEY_HAS_SECOND): its destination address, after writeGroupKey. */
export function writeHostDestinationKey(records: Int32Array, k: number, key: Int32Array): void {
  copyWords(records, k + KEY_DST, key, 1);
}

/**
 * Writes the key of a service row of the evicted-flow residue (evicted-residue.ts: protocol and service
 * port + 1, or 0 for none) into `key` in the layout of `mode` (port or proto).
 */
export function writeServiceKey(mode: number, protocol: number, portPlusOne: number, key: Int32Array): void {
  key[0] = protocol;
  if (mode === MODE_PORT) {
    key[1] = portPlusOne === 0 ? 0 : portPlusOne - 1;
    key[2] = portPlusOne === 0 ? 0 : 1;
  }
}

/** Whether a grouping's keys are addresses (host, src, dst): the address residue applies. */
export function isAddressMode(mode: number): boolean {
  return mode === MODE_HOST || mode === MODE_SRC || mode === MODE_DST;
}

/** Whether a grouping's keys are services (port, proto): the service residue applies. */
export function isServiceMode(mode: number): boolean {
  return mode === MODE_PORT || mode === MODE_PROTO;
}

/** Flow and pair rows cannot include evicted flows' traffic (it is kept per address and service only). */
export function rowsMissEvictions(group: Grouping): boolean {
  return group === 'flow' || group === 'pair';
}

export function copyWords(from: Int32Array, at: number, to: Int32Array, toAt: number): void {
  to[toAt] = from[at];
  to[toAt + 1] = from[at + 1];
  to[toAt + 2] = from[at + 2];
  to[toAt + 3] = from[at + 3];
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

// ---- rows ------------------------------------------------------------------------------------------

/**
 * One row of a grouped answer as nodes exchange it: the counters and the forward part (the wire's
 * TopRow has exactly these fields).
 */
export interface GroupRow {
  key: string;
  packets: number;
  bytes: number;
  flows: number;
  /** Host: the part the address sent; pair: the part first -> second; other groupings: all of it. */
  forwardPackets: number;
  forwardBytes: number;
}

/** One row as `analyze --json` and `top --json` print it. Extra fields depend on the grouping (README). */
export interface ReportRow {
  key: string;
  bytes: number;
  packets: number;
  flows: number;
  [extra: string]: string | number | boolean | null;
}

/**
 * The printed row of a grouped row: the forward part under the grouping's names (host: sentBytes/Packets
 * and receivedBytes/Packets; pair: forwardBytes/Packets and reverseBytes/Packets; others: none).
 */
export function reportRowOf(group: Grouping, row: GroupRow): ReportRow {
  const out: ReportRow = { key: row.key, bytes: row.bytes, packets: row.packets, flows: row.flows };
  if (group === 'host') {
    out.sentBytes = row.forwardBytes;
    out.sentPackets = row.forwardPackets;
    out.receivedBytes = row.bytes - row.forwardBytes;
    out.receivedPackets = row.packets - row.forwardPackets;
  } else if (group === 'pair') {
    out.forwardBytes = row.forwardBytes;
    out.forwardPackets = row.forwardPackets;
    out.reverseBytes = row.bytes - row.forwardBytes;
    out.reversePackets = row.packets - row.forwardPackets;
  }
  return out;
}

// ---- order -----------------------------------------------------------------------------------------

/** The one order of rows everywhere: score descending, then key ascending (code-unit order). */
export function compareRanked(scoreA: number, keyA: string, scoreB: number, keyB: string): number {
  if (scoreA !== scoreB) return scoreB - scoreA;
  return keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
}

/**
 * The indices of the best `limit` of `count` rows (limit <= 0: all), best first, in compareRanked order.
 * A threshold (the limit-th largest score) is selected first, so only the rows at or above it are sorted
 * and have their key text asked for (only to break ties): `keyOf` may allocate (key texts), and a full
 * keyed sort of 100k groups cost tens of milliseconds. `keyAt` gives the texts, printed once each.
 */
export function rankTop(
  count: number,
  scoreOf: (i: number) => number,
  keyOf: (i: number) => string,
  limit: number,
): { order: Int32Array; keyAt: (i: number) => string } {
  let candidates: number[];
  if (limit > 0 && limit < count) {
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) values[i] = scoreOf(i);
    values.sort();
    const threshold = values[count - limit] as number;
    candidates = [];
    for (let i = 0; i < count; i++) if (scoreOf(i) >= threshold) candidates.push(i);
  } else {
    candidates = Array.from({ length: count }, (_, i) => i);
  }
  const keys = new Map<number, string>();
  const keyAt = (i: number): string => {
    let key = keys.get(i);
    if (key === undefined) {
      key = keyOf(i);
      keys.set(i, key);
    }
    return key;
  };
  candidates.sort((a, b) => {
    const d = scoreOf(b) - scoreOf(a);
    return d !== 0 ? d : compareRanked(0, keyAt(a), 0, keyAt(b));
  });
  if (limit > 0 && candidates.length > limit) candidates.length = limit;
  // keyAt memoises: the rows returned reuse the texts printed for the sort.
  return { order: Int32Array.from(candidates), keyAt };
}

/** Scored rows sorted in place by compareRanked; returns them (for keyed rows held as objects). */
export function sortRanked<T>(rows: T[], scoreOf: (row: T) => number, keyOf: (row: T) => string): T[] {
  return rows.sort((a, b) => compareRanked(scoreOf(a), keyOf(a), scoreOf(b), keyOf(b)));
}
