import type { FlowFacts } from '../../src/node/flows/flow-facts.js';
import type { SeededRandom } from './seeded-random.js';

/**
 * A deliberately naive model of what FlowStore and queryTop should answer, for differential tests:
 * plain objects, Maps keyed by strings, arrays re-summed on every question. It restates the documented
 * rules (the open second, 1/10/60-second history tiers by age, retention, windows that end at the newest
 * closed second and never reach before their start) and shares no code with src/ beyond the FlowFacts
 * type.
 */

export interface RefAddress {
  version: 4 | 6;
  words: [number, number, number, number];
  /** Canonical text made without src/util/ip-address.ts (dotted quad; Node's URL serialiser for IPv6). */
  text: string;
}

export interface RefFlow {
  /** Identity of the directional 5-tuple. */
  id: string;
  version: 4 | 6;
  protocol: number;
  src: RefAddress;
  dst: RefAddress;
  srcPort: number;
  dstPort: number;
}

export interface RefCounters {
  flow: RefFlow;
  packets: number;
  bytes: number;
}

export const UNDECODED_REASONS = 5;

/** History tiers as documented in flow-store.ts: resolution by age of the slice. */
const TIERS = [
  { spanSeconds: 1, untilAgeSeconds: 300 },
  { spanSeconds: 10, untilAgeSeconds: 1800 },
  { spanSeconds: 60, untilAgeSeconds: Number.POSITIVE_INFINITY },
];

interface RefSlice {
  start: number;
  span: number;
  flows: Map<string, RefCounters>;
  packets: number;
  bytes: number;
  undecodedPackets: number[];
  undecodedBytes: number[];
}

function newSlice(start: number, span: number): RefSlice {
  return {
    start,
    span,
    flows: new Map(),
    packets: 0,
    bytes: 0,
    undecodedPackets: new Array(UNDECODED_REASONS).fill(0),
    undecodedBytes: new Array(UNDECODED_REASONS).fill(0),
  };
}

function addInto(target: Map<string, RefCounters>, flow: RefFlow, packets: number, bytes: number): void {
  const c = target.get(flow.id);
  if (c === undefined) target.set(flow.id, { flow, packets, bytes });
  else {
    c.packets += packets;
    c.bytes += bytes;
  }
}

export interface RefWindow {
  flows: Map<string, RefCounters>;
  packets: number;
  bytes: number;
  undecodedPackets: number[];
  undecodedBytes: number[];
  from: number | null;
  to: number | null;
  complete: boolean;
}

export interface RefAllTime extends RefCounters {
  firstSeen: number;
  lastSeen: number;
  tcpFlags: number;
}

export class NaiveTrafficReference {
  /** The second being counted; -1 before the first frame. */
  open = -1;
  /** Newest second any frame carried (what an all-time answer's coverage ends at). */
  newest = -1;
  private openSlice: RefSlice = newSlice(0, 1);
  private slices: RefSlice[] = [];
  private historyStart = Number.NEGATIVE_INFINITY;
  /** Ground truth per counted second (the open second a frame landed in), never merged or expired. */
  readonly perSecond = new Map<number, RefSlice>();
  readonly allTime = new Map<string, RefAllTime>();
  packets = 0;
  bytes = 0;
  readonly undecodedPackets: number[] = new Array(UNDECODED_REASONS).fill(0);
  readonly undecodedBytes: number[] = new Array(UNDECODED_REASONS).fill(0);

  constructor(readonly retentionSeconds = 3600) {}

  packet(flow: RefFlow, bytes: number, tsSeconds: number, tsNanos: number, tcpFlags: number): void {
    if (tsSeconds > this.open) this.roll(tsSeconds);
    this.newest = Math.max(this.newest, tsSeconds);
    const time = tsSeconds + tsNanos * 1e-9;
    this.count(this.openSlice, bytes);
    this.count(this.secondTruth(), bytes);
    addInto(this.openSlice.flows, flow, 1, bytes);
    addInto(this.secondTruth().flows, flow, 1, bytes);
    const all = this.allTime.get(flow.id);
    if (all === undefined) {
      this.allTime.set(flow.id, { flow, packets: 1, bytes, firstSeen: time, lastSeen: time, tcpFlags });
    } else {
      all.packets++;
      all.bytes += bytes;
      all.firstSeen = Math.min(all.firstSeen, time);
      all.lastSeen = Math.max(all.lastSeen, time);
      all.tcpFlags |= tcpFlags;
    }
  }

  undecoded(reason: number, bytes: number, tsSeconds: number): void {
    if (tsSeconds > this.open) this.roll(tsSeconds);
    this.newest = Math.max(this.newest, tsSeconds);
    for (const slice of [this.openSlice, this.secondTruth()]) {
      this.count(slice, bytes);
      slice.undecodedPackets[reason]++;
      slice.undecodedBytes[reason] += bytes;
    }
    this.undecodedPackets[reason]++;
    this.undecodedBytes[reason] += bytes;
  }

  advanceTo(second: number): void {
    if (second > this.open) this.roll(second);
  }

  closeAll(): void {
    if (this.open >= 0) this.roll(this.open + 1);
  }

  /** Newest closed second, as the store defines it (null while no closed second holds history). */
  get newestClosed(): number | null {
    return this.slices.length === 0 ? null : this.open - 1;
  }

  /** What the store should answer for the last `seconds` closed seconds. */
  window(seconds: number): RefWindow {
    const out: RefWindow = {
      flows: new Map(),
      packets: 0,
      bytes: 0,
      undecodedPackets: new Array(UNDECODED_REASONS).fill(0),
      undecodedBytes: new Array(UNDECODED_REASONS).fill(0),
      from: null,
      to: this.newestClosed,
      complete: true,
    };
    const newest = this.newestClosed;
    if (newest === null) return out;
    const start = newest - seconds + 1;
    let straddled = false;
    for (const slice of this.slices) {
      if (slice.start < start) {
        if (slice.start + slice.span - 1 >= start) straddled = true;
        continue;
      }
      out.from = out.from === null ? slice.start : Math.min(out.from, slice.start);
      this.sumInto(out, slice);
    }
    out.complete = start >= this.historyStart && !straddled;
    return out;
  }

  /** Exact traffic of the counted seconds [from, to], regardless of tiers and retention. */
  exact(from: number, to: number): RefWindow {
    const out: RefWindow = {
      flows: new Map(),
      packets: 0,
      bytes: 0,
      undecodedPackets: new Array(UNDECODED_REASONS).fill(0),
      undecodedBytes: new Array(UNDECODED_REASONS).fill(0),
      from,
      to,
      complete: true,
    };
    for (const [second, slice] of this.perSecond) {
      if (second >= from && second <= to && second < this.open) this.sumInto(out, slice);
    }
    return out;
  }

  /** All-time per-flow counters as a window-shaped answer. */
  everything(): RefWindow {
    const flows = new Map<string, RefCounters>();
    for (const [id, c] of this.allTime) flows.set(id, { flow: c.flow, packets: c.packets, bytes: c.bytes });
    return {
      flows,
      packets: this.packets,
      bytes: this.bytes,
      undecodedPackets: [...this.undecodedPackets],
      undecodedBytes: [...this.undecodedBytes],
      from: null,
      to: null,
      complete: true,
    };
  }

  private sumInto(out: RefWindow, slice: RefSlice): void {
    out.packets += slice.packets;
    out.bytes += slice.bytes;
    for (let r = 0; r < UNDECODED_REASONS; r++) {
      out.undecodedPackets[r] += slice.undecodedPackets[r];
      out.undecodedBytes[r] += slice.undecodedBytes[r];
    }
    for (const c of slice.flows.values()) addInto(out.flows, c.flow, c.packets, c.bytes);
  }

  private count(slice: RefSlice, bytes: number): void {
    slice.packets++;
    slice.bytes += bytes;
    if (slice === this.openSlice) {
      this.packets++;
      this.bytes += bytes;
    }
  }

  private secondTruth(): RefSlice {
    let slice = this.perSecond.get(this.open);
    if (slice === undefined) {
      slice = newSlice(this.open, 1);
      this.perSecond.set(this.open, slice);
    }
    return slice;
  }

  private roll(second: number): void {
    if (this.open >= 0 && this.openSlice.packets > 0) this.slices.push(this.openSlice);
    this.open = second;
    this.openSlice = newSlice(second, 1);
    // Retention: drop slices that end before it.
    const oldestKept = second - this.retentionSeconds;
    while (this.slices.length > 0) {
      const first = this.slices[0];
      const last = first.start + first.span - 1;
      if (last >= oldestKept) break;
      this.historyStart = Math.max(this.historyStart, last + 1);
      this.slices.shift();
    }
    // Tiers: a slice whose whole next-tier bucket is older than the tier's age limit joins that bucket.
    for (let tier = 0; tier < TIERS.length - 1; tier++) {
      const span = TIERS[tier].spanSeconds;
      const nextSpan = TIERS[tier + 1].spanSeconds;
      const cutoff = second - TIERS[tier].untilAgeSeconds;
      const merged: RefSlice[] = [];
      for (const slice of this.slices) {
        const bucket = Math.floor(slice.start / nextSpan) * nextSpan;
        if (slice.span !== span || bucket + nextSpan > cutoff) {
          merged.push(slice);
          continue;
        }
        let target = merged[merged.length - 1];
        if (target === undefined || target.span !== nextSpan || target.start !== bucket) {
          target = newSlice(bucket, nextSpan);
          merged.push(target);
        }
        this.sumIntoSlice(target, slice);
      }
      this.slices = merged;
    }
  }

  private sumIntoSlice(target: RefSlice, slice: RefSlice): void {
    target.packets += slice.packets;
    target.bytes += slice.bytes;
    for (let r = 0; r < UNDECODED_REASONS; r++) {
      target.undecodedPackets[r] += slice.undecodedPackets[r];
      target.undecodedBytes[r] += slice.undecodedBytes[r];
    }
    for (const c of slice.flows.values()) addInto(target.flows, c.flow, c.packets, c.bytes);
  }
}

// ---- flows and addresses ------------------------------------------------------------------------------

export function flowId(
  version: number,
  protocol: number,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  srcPort: number,
  dstPort: number,
): string {
  const hex = (w: ArrayLike<number>) => Array.from(w, (x) => (x >>> 0).toString(16)).join('.');
  return `${version}/${protocol}/${hex(src)}/${hex(dst)}/${srcPort}/${dstPort}`;
}

export function makeFlow(
  protocol: number,
  src: RefAddress,
  dst: RefAddress,
  srcPort: number,
  dstPort: number,
): RefFlow {
  if (src.version !== dst.version) throw new Error('test setup: mixed address versions');
  return {
    id: flowId(src.version, protocol, src.words, dst.words, srcPort, dstPort),
    version: src.version,
    protocol,
    src,
    dst,
    srcPort,
    dstPort,
  };
}

export function ipv4(a: number, b: number, c: number, d: number): RefAddress {
  return {
    version: 4,
    words: [((a << 24) | (b << 16) | (c << 8) | d) >>> 0, 0, 0, 0],
    text: `${a}.${b}.${c}.${d}`,
  };
}

/** An IPv6 address from 8 groups; its text is Node's WHATWG URL serialisation (RFC 5952). */
export function ipv6(groups: number[]): RefAddress {
  const words = [0, 1, 2, 3].map(
    (w) => ((groups[2 * w] << 16) | groups[2 * w + 1]) >>> 0,
  ) as RefAddress['words'];
  const full = groups.map((g) => g.toString(16)).join(':');
  return { version: 6, words, text: new URL(`http://[${full}]/`).hostname.slice(1, -1) };
}

/**
 * Addresses for random streams: IPv4 in 198.18.0.0/15 and IPv6 in 2001:db8::/32 (documentation ranges,
 * never an embedded-IPv4 form), plus an IPv6 address whose words equal an IPv4 address's, which must
 * still be a different host.
 */
export function addressPool(random: SeededRandom, v4Count: number, v6Count: number): RefAddress[] {
  const pool: RefAddress[] = [];
  const seen = new Set<string>();
  while (pool.length < v4Count) {
    const a = ipv4(198, 18 + random.int(2), random.int(256), random.range(1, 254));
    if (!seen.has(a.text)) pool.push(a);
    seen.add(a.text);
  }
  while (pool.length < v4Count + v6Count) {
    const groups = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0].map((g, i) =>
      i < 2 ? g : random.chance(0.5) ? 0 : random.range(1, 0xffff),
    );
    const a = ipv6(groups);
    if (!seen.has(a.text)) pool.push(a);
    seen.add(a.text);
  }
  if (v4Count > 0 && v6Count > 0) {
    const w = pool[0].words[0];
    pool.push(ipv6([w >>> 16, w & 0xffff, 0, 0, 0, 0, 0, 0]));
  }
  return pool;
}

/** A reusable FlowFacts for feeding a FlowStore from RefFlows. */
export class FactsBuffer implements FlowFacts {
  ipVersion = 0;
  protocol = 0;
  readonly srcAddr = new Uint32Array(4);
  readonly dstAddr = new Uint32Array(4);
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;

  load(flow: RefFlow, tcpFlags: number): this {
    this.ipVersion = flow.version;
    this.protocol = flow.protocol;
    this.srcAddr.set(flow.src.words);
    this.dstAddr.set(flow.dst.words);
    this.srcPort = flow.srcPort;
    this.dstPort = flow.dstPort;
    this.tcpFlags = tcpFlags;
    return this;
  }
}

// ---- questions: groupings and ranking ----------------------------------------------------------------

const PROTOCOL_NAMES: Record<number, string> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  47: 'gre',
  58: 'icmpv6',
  132: 'sctp',
};

export function protocolText(protocol: number): string {
  return PROTOCOL_NAMES[protocol] ?? `ip-proto-${protocol}`;
}

function hasPorts(protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 132 || protocol === 136 || protocol === 33;
}

/** The README's service-port rule: well-known beats other; registered beats ephemeral; else the lower. */
export function servicePortOf(a: number, b: number): number {
  if (a < 1024 !== b < 1024) return a < 1024 ? a : b;
  if (a >= 49152 !== b >= 49152) return a >= 49152 ? b : a;
  return Math.min(a, b);
}

function endpoint(a: RefAddress, port: number): string {
  return a.version === 6 ? `[${a.text}]:${port}` : `${a.text}:${port}`;
}

export function flowText(f: RefFlow): string {
  const name = protocolText(f.protocol);
  if (hasPorts(f.protocol)) return `${name} ${endpoint(f.src, f.srcPort)} > ${endpoint(f.dst, f.dstPort)}`;
  const pair = `${name} ${f.src.text} > ${f.dst.text}`;
  if (f.protocol === 1 || f.protocol === 58) return `${pair} type ${f.dstPort >> 8} code ${f.dstPort & 255}`;
  return pair;
}

function compareAddresses(a: RefAddress, b: RefAddress): number {
  for (let w = 0; w < 4; w++) if (a.words[w] !== b.words[w]) return a.words[w] < b.words[w] ? -1 : 1;
  return 0;
}

export type RefGrouping = 'host' | 'src' | 'dst' | 'pair' | 'flow' | 'port' | 'proto';

export interface RefRow {
  key: string;
  packets: number;
  bytes: number;
  flows: number;
  /** host: sent/received; pair: forward/reverse. */
  forwardPackets?: number;
  forwardBytes?: number;
}

/** Every group of the selected flows, unranked. */
export function groupRows(flows: Iterable<RefCounters>, group: RefGrouping): Map<string, RefRow> {
  const rows = new Map<string, RefRow>();
  const add = (key: string, c: RefCounters, forward: boolean | null) => {
    let row = rows.get(key);
    if (row === undefined) {
      row = { key, packets: 0, bytes: 0, flows: 0 };
      if (forward !== null) {
        row.forwardPackets = 0;
        row.forwardBytes = 0;
      }
      rows.set(key, row);
    }
    row.packets += c.packets;
    row.bytes += c.bytes;
    row.flows += 1;
    if (forward === true) {
      row.forwardPackets! += c.packets;
      row.forwardBytes! += c.bytes;
    }
  };
  // Group keys include the version: an IPv4 and an IPv6 host are never the same group.
  const hostKey = (a: RefAddress) => `${a.version}|${a.text}`;
  for (const c of flows) {
    const f = c.flow;
    switch (group) {
      case 'host':
        add(hostKey(f.src), c, true);
        if (f.src.text !== f.dst.text) add(hostKey(f.dst), c, false);
        break;
      case 'src':
        add(hostKey(f.src), c, null);
        break;
      case 'dst':
        add(hostKey(f.dst), c, null);
        break;
      case 'pair': {
        const forward = compareAddresses(f.src, f.dst) <= 0;
        const [lo, hi] = forward ? [f.src, f.dst] : [f.dst, f.src];
        add(`${lo.version}|${lo.text} <-> ${hi.text}`, c, forward);
        break;
      }
      case 'flow':
        add(`${f.version}|${flowText(f)}`, c, null);
        break;
      case 'port':
        add(
          hasPorts(f.protocol)
            ? `|${protocolText(f.protocol)}/${servicePortOf(f.srcPort, f.dstPort)}`
            : `|${protocolText(f.protocol)}`,
          c,
          null,
        );
        break;
      case 'proto':
        add(`|${protocolText(f.protocol)}`, c, null);
        break;
    }
  }
  // The version prefix only kept groups apart; rows show the text alone.
  for (const row of rows.values()) row.key = row.key.slice(row.key.indexOf('|') + 1);
  return rows;
}

/** Rows best first: metric descending, ties by key ascending (code-unit order); limit 0 = all. */
export function rankRows(rows: Iterable<RefRow>, by: 'bytes' | 'packets', limit: number): RefRow[] {
  const sorted = [...rows].sort((a, b) => b[by] - a[by] || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return limit > 0 ? sorted.slice(0, limit) : sorted;
}
