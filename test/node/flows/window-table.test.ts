import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowFilter } from '../../../src/node/flows/flow-filter.js';
import { FlowStore } from '../../../src/node/flows/flow-store.js';
import { GROUPINGS, type Grouping } from '../../../src/node/flows/key-vocabulary.js';
import { LocalNetworks } from '../../../src/node/flows/local-networks.js';
import { queryTop, type TopReport } from '../../../src/node/flows/top-query.js';
import { computeWindowTable, type WindowTable } from '../../../src/node/flows/window-table.js';
import { StaleWindowTableError } from '../../../src/node/flows/window-table-keys.js';
import {
  FactsBuffer,
  flowText,
  groupRows,
  ipv4,
  ipv6,
  makeFlow,
  type RefAddress,
  type RefCounters,
  type RefFlow,
} from '../../helpers/naive-traffic-reference.js';
import { EPOCH_SECOND } from '../../helpers/random-traffic.js';
import { SeededRandom } from '../../helpers/seeded-random.js';

/**
 * computeWindowTable against a brute force written from the packet list: which closed seconds a range
 * reads (the documented history tiers and retention), which packets the counting rule counts, and the
 * groups they add to (the naive reference's grouping, which top-query.test.ts holds to queryTop's keys).
 */

const ROOMY_MAX_FLOWS = 1 << 14;
const RETENTION_SECONDS = 3600;
const FAST_CHECK_SEED = 42_017;
const FAST_CHECK_RUNS = 80;
const FRAME_SIZES = [60, 64, 100, 576, 1500];
const UNDECODED_NAMES = ['unsupported-link-type', 'truncated', 'bad-header', 'not-ip'];

// ---- addresses and networks -----------------------------------------------------------------------------

/** A CIDR block as the test knows it: the text the code parses, the bits the brute force matches. */
interface RefBlock {
  text: string;
  address: RefAddress;
  prefixLength: number;
}

function block(address: RefAddress, prefixLength?: number): RefBlock {
  return {
    text: prefixLength === undefined ? address.text : `${address.text}/${prefixLength}`,
    address,
    prefixLength: prefixLength ?? (address.version === 4 ? 32 : 128),
  };
}

function bits(a: RefAddress): string {
  return a.words
    .slice(0, a.version === 4 ? 1 : 4)
    .map((w) => w.toString(2).padStart(32, '0'))
    .join('');
}

function inBlocks(a: RefAddress, blocks: readonly RefBlock[]): boolean {
  return blocks.some(
    (b) =>
      a.version === b.address.version &&
      bits(a).slice(0, b.prefixLength) === bits(b.address).slice(0, b.prefixLength),
  );
}

function networksOf(blocks: readonly RefBlock[]): LocalNetworks {
  const networks = new LocalNetworks();
  for (const b of blocks) networks.add(b.text);
  return networks;
}

// This node's addresses, another capturing member's, and hosts outside the mesh.
const L1 = ipv4(198, 18, 0, 1);
const L2 = ipv4(198, 18, 0, 2);
const L6 = ipv6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 1]);
const M1 = ipv4(198, 18, 1, 1);
const M2 = ipv4(198, 18, 1, 2);
const M6 = ipv6([0x2001, 0xdb8, 2, 0, 0, 0, 0, 1]);
const O1 = ipv4(198, 19, 0, 1);
const O2 = ipv4(198, 19, 0, 2);
const O6 = ipv6([0x2001, 0xdb8, 3, 0, 0, 0, 0, 1]);
/** IPv6 with the same first word as L1: outside every IPv4 block. */
const L1_TWIN = ipv6([0xc612, 0x0001, 0, 0, 0, 0, 0, 0]);
const ADDRESSES = [L1, L2, L6, M1, M2, M6, O1, O2, O6, L1_TWIN];

const LOCAL_BLOCKS = [block(ipv4(198, 18, 0, 0), 24), block(ipv6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0]), 48)];
const MEMBER_BLOCKS = [
  block(ipv4(198, 18, 1, 0), 24),
  block(M2),
  block(ipv6([0x2001, 0xdb8, 2, 0, 0, 0, 0, 0]), 48),
];
const FILTER_BLOCKS = [
  block(L1),
  block(ipv4(198, 18, 0, 0), 16),
  block(ipv4(198, 19, 0, 0), 24),
  block(O6),
  block(ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32),
  block(ipv6([0, 0, 0, 0, 0, 0, 0, 0]), 0),
];
const FILTER_PORTS = [22, 53, 80, 443, 50000];
const FILTER_PROTOCOLS = [1, 6, 17, 47, 58, 132];
const PORTED = new Set([6, 17, 33, 132, 136]);

// ---- the packet list --------------------------------------------------------------------------------------

/** One frame as fed to the store, with the second it is counted in (the open second when it arrived). */
interface Frame {
  flow: RefFlow | null;
  reason: number;
  bytes: number;
  counted: number;
}

/** A store fed from a frame list, and what the brute force needs to know about it. */
interface Fed {
  store: FlowStore;
  frames: Frame[];
  /** The open second at the end (every earlier second is closed). */
  open: number;
  localBlocks: RefBlock[] | null;
}

interface FlowChoice {
  src: number;
  dst: number;
  protocol: number;
  srcPort: number;
  dstPort: number;
}

interface StreamOp {
  undecoded: boolean;
  flow: number;
  bytes: number;
  step: number;
  nanos: number;
  reason: number;
}

interface Stream {
  flows: FlowChoice[];
  ops: StreamOp[];
  ending: 'closeAll' | 'advance' | 'open';
  advanceBySeconds: number;
  knowsLocal: boolean;
}

const PORTS = [22, 53, 80, 443, 1024, 5353, 50000];

/** A flow from random choices: same-version destination, ICMP with a type/code word, GRE without ports. */
function flowOf(choice: FlowChoice, everyFlowHasLocalEnd: boolean): RefFlow {
  let src = ADDRESSES[choice.src % ADDRESSES.length];
  const sameVersion = ADDRESSES.filter((a) => a.version === src.version);
  const dst = sameVersion[choice.dst % sameVersion.length];
  if (everyFlowHasLocalEnd && !inBlocks(src, LOCAL_BLOCKS) && !inBlocks(dst, LOCAL_BLOCKS)) {
    src = dst.version === 6 ? L6 : choice.src % 2 === 0 ? L1 : L2;
  }
  let protocol = choice.protocol;
  if (protocol === 1 && src.version === 6) protocol = 58;
  if (protocol === 58 && src.version === 4) protocol = 1;
  if (protocol === 1 || protocol === 58)
    return makeFlow(protocol, src, dst, 0, choice.dstPort === 80 ? 0x50 : 0x800);
  if (protocol === 47) return makeFlow(protocol, src, dst, 0, 0);
  return makeFlow(protocol, src, dst, choice.srcPort, choice.dstPort);
}

function streamArbitrary(options: { maxOps: number; maxStepSeconds: number }) {
  const step = fc.oneof(
    { weight: 10, arbitrary: fc.constant(0) },
    { weight: 5, arbitrary: fc.constant(1) },
    { weight: 3, arbitrary: fc.integer({ min: 2, max: options.maxStepSeconds }) },
    { weight: 1, arbitrary: fc.integer({ min: -4, max: -1 }) },
  );
  return fc.record({
    flows: fc.array(
      fc.record({
        src: fc.nat({ max: 99 }),
        dst: fc.nat({ max: 99 }),
        protocol: fc.constantFrom(6, 6, 17, 17, 1, 58, 47, 132),
        srcPort: fc.constantFrom(...PORTS),
        dstPort: fc.constantFrom(...PORTS),
      }),
      { minLength: 1, maxLength: 14 },
    ),
    ops: fc.array(
      fc.record({
        // About one frame in ten is undecoded.
        undecoded: fc.oneof(
          { weight: 9, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
        flow: fc.nat({ max: 999 }),
        bytes: fc.constantFrom(...FRAME_SIZES),
        step,
        nanos: fc.integer({ min: 0, max: 999_999_999 }),
        reason: fc.integer({ min: 1, max: 4 }),
      }),
      { minLength: 1, maxLength: options.maxOps, size: 'max' },
    ),
    ending: fc.constantFrom('closeAll' as const, 'advance' as const, 'advance' as const, 'open' as const),
    advanceBySeconds: fc.integer({ min: 1, max: 40 }),
    knowsLocal: fc.oneof(
      { weight: 4, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
  });
}

function feed(stream: Stream, everyFlowHasLocalEnd = false, maxFlows = ROOMY_MAX_FLOWS): Fed {
  const localBlocks = stream.knowsLocal ? LOCAL_BLOCKS : null;
  const store = new FlowStore({
    maxFlows,
    retentionSeconds: RETENTION_SECONDS,
    ...(localBlocks === null ? {} : { localNetworks: networksOf(localBlocks) }),
  });
  const flows = stream.flows.map((c) => flowOf(c, everyFlowHasLocalEnd));
  const facts = new FactsBuffer();
  const frames: Frame[] = [];
  let clock = 0;
  let open = -1;
  for (const op of stream.ops) {
    clock = Math.max(0, clock + op.step);
    const second = EPOCH_SECOND + clock;
    // The store counts a frame older than its open second in the open second.
    open = Math.max(open, second);
    if (op.undecoded) {
      store.addUndecoded(op.reason, op.bytes, second);
      frames.push({ flow: null, reason: op.reason, bytes: op.bytes, counted: open });
    } else {
      const flow = flows[op.flow % flows.length];
      store.addPacket(facts.load(flow, 0), op.bytes, second, op.nanos);
      frames.push({ flow, reason: 0, bytes: op.bytes, counted: open });
    }
  }
  if (stream.ending === 'closeAll') {
    store.closeAll();
    open += 1;
  } else if (stream.ending === 'advance') {
    open += stream.advanceBySeconds;
    store.advanceTo(open);
  }
  return { store, frames, open, localBlocks };
}

// ---- the brute force --------------------------------------------------------------------------------------

/**
 * The slice a closed second lies in at the end, from the tiers documented in flow-store.ts: 1-second
 * slices until 300 s of age, 10-second until 1800 s, then 60-second; a slice merges once its whole
 * bucket is older than its tier's limit.
 */
function sliceOf(second: number, open: number): { start: number; last: number } {
  const start60 = Math.floor(second / 60) * 60;
  if (start60 + 60 <= open - 1800) return { start: start60, last: start60 + 59 };
  const start10 = Math.floor(second / 10) * 10;
  if (start10 + 10 <= open - 300) return { start: start10, last: start10 + 9 };
  return { start: second, last: second };
}

interface Query {
  group: Grouping;
  from: number;
  to: number;
  filter: { cidrs: RefBlock[]; ports: number[]; protocols: number[] } | null;
  members: RefBlock[] | null;
}

interface ExpectedRow {
  key: string;
  packets: number;
  bytes: number;
  flows: number;
  forwardPackets: number;
  forwardBytes: number;
}

interface ExpectedTransit {
  flow: string;
  groups: string[];
  packets: number;
  bytes: number;
  forwardPackets: number[];
  forwardBytes: number[];
}

interface Expected {
  rows: ExpectedRow[];
  transit: ExpectedTransit[];
  totals: { packets: number; bytes: number; ipPackets: number; ipBytes: number };
  undecoded: Record<string, number>;
  fromSecond: number | null;
  toSecond: number | null;
  complete: boolean;
}

function passesFilter(flow: RefFlow, filter: Query['filter']): boolean {
  if (filter === null) return true;
  if (filter.protocols.length > 0 && !filter.protocols.includes(flow.protocol)) return false;
  if (filter.ports.length > 0) {
    if (!PORTED.has(flow.protocol)) return false;
    if (!filter.ports.includes(flow.srcPort) && !filter.ports.includes(flow.dstPort)) return false;
  }
  if (filter.cidrs.length > 0 && !inBlocks(flow.src, filter.cidrs) && !inBlocks(flow.dst, filter.cidrs))
    return false;
  return true;
}

/** 'count', 'skip' or 'transit': the counting rule restated from the task. */
function ruleFor(flow: RefFlow, localBlocks: RefBlock[] | null, members: RefBlock[] | null): string {
  const srcLocal = localBlocks !== null && inBlocks(flow.src, localBlocks);
  const dstLocal = localBlocks !== null && inBlocks(flow.dst, localBlocks);
  const memberSrc = members !== null && inBlocks(flow.src, members);
  const memberDst = members !== null && inBlocks(flow.dst, members);
  if (srcLocal) return 'count';
  if (dstLocal) return memberSrc ? 'skip' : 'count';
  return memberSrc || memberDst ? 'skip' : 'transit';
}

function expectedRows(counters: RefCounters[], group: Grouping): ExpectedRow[] {
  return [...groupRows(counters, group).values()].map((r) => ({
    key: r.key,
    packets: r.packets,
    bytes: r.bytes,
    flows: r.flows,
    forwardPackets: r.forwardPackets ?? r.packets,
    forwardBytes: r.forwardBytes ?? r.bytes,
  }));
}

function bruteForce(fed: Fed, q: Query): Expected {
  const from = q.from <= 0 ? Number.NEGATIVE_INFINITY : q.from;
  const closedTo = fed.open - 1;
  // Slices holding frames at the end, and which expired (all of their seconds older than the retention).
  const slices = new Map<number, { start: number; last: number }>();
  for (const f of fed.frames) if (f.counted < fed.open) slices.set(f.counted, sliceOf(f.counted, fed.open));
  const expired = (s: { last: number }) => s.last < fed.open - RETENTION_SECONDS;
  let historyStart = Number.NEGATIVE_INFINITY;
  let straddled = false;
  let toSecond = Math.min(q.to, closedTo);
  for (const s of slices.values()) {
    if (expired(s)) {
      historyStart = Math.max(historyStart, s.last + 1);
      continue;
    }
    // A slice over the range end: left out, and the answer ends before it.
    if (s.start <= q.to && s.last > q.to) {
      straddled = true;
      toSecond = s.start - 1;
    }
    if (s.start < from && s.last >= from) straddled = true;
  }
  const read = (second: number) => {
    if (second >= fed.open) return false;
    const s = slices.get(second)!;
    return !expired(s) && s.start >= from && s.last <= q.to;
  };
  const perFlow = new Map<string, RefCounters>();
  const undecodedPackets = [0, 0, 0, 0, 0];
  const undecodedBytes = [0, 0, 0, 0, 0];
  let fromSecond: number | null = null;
  for (const f of fed.frames) {
    if (!read(f.counted)) continue;
    const start = slices.get(f.counted)!.start;
    fromSecond = fromSecond === null ? start : Math.min(fromSecond, start);
    if (f.flow === null) {
      undecodedPackets[f.reason]++;
      undecodedBytes[f.reason] += f.bytes;
      continue;
    }
    const c = perFlow.get(f.flow.id);
    if (c === undefined) perFlow.set(f.flow.id, { flow: f.flow, packets: 1, bytes: f.bytes });
    else {
      c.packets++;
      c.bytes += f.bytes;
    }
  }
  const counted: RefCounters[] = [];
  const transit: ExpectedTransit[] = [];
  for (const c of perFlow.values()) {
    if (!passesFilter(c.flow, q.filter)) continue;
    const rule = ruleFor(c.flow, fed.localBlocks, q.members);
    if (rule === 'count') counted.push(c);
    else if (rule === 'transit') {
      const rows = expectedRows([c], q.group);
      transit.push({
        flow: flowText(c.flow),
        groups: rows.map((r) => r.key),
        packets: c.packets,
        bytes: c.bytes,
        forwardPackets: rows.map((r) => r.forwardPackets),
        forwardBytes: rows.map((r) => r.forwardBytes),
      });
    }
  }
  const ipPackets = counted.reduce((n, c) => n + c.packets, 0);
  const ipBytes = counted.reduce((n, c) => n + c.bytes, 0);
  const undecoded: Record<string, number> = {};
  UNDECODED_NAMES.forEach((name, r) => {
    undecoded[name] = undecodedPackets[r + 1];
  });
  return {
    rows: sortRows(expectedRows(counted, q.group)),
    transit: sortTransit(transit),
    totals: {
      packets: ipPackets + undecodedPackets.reduce((a, b) => a + b, 0),
      bytes: ipBytes + undecodedBytes.reduce((a, b) => a + b, 0),
      ipPackets,
      ipBytes,
    },
    undecoded,
    fromSecond,
    toSecond,
    complete: from >= historyStart && !straddled && q.to <= closedTo,
  };
}

function sortRows<T extends { key: string }>(rows: T[]): T[] {
  return rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function sortTransit<T extends { flow: string }>(rows: T[]): T[] {
  return rows.sort((a, b) => (a.flow < b.flow ? -1 : a.flow > b.flow ? 1 : 0));
}

function rowsOf(table: WindowTable): ExpectedRow[] {
  const rows: ExpectedRow[] = [];
  for (let g = 0; g < table.count; g++) {
    rows.push({
      key: table.keyOf(g),
      packets: table.packets[g],
      bytes: table.bytes[g],
      flows: table.flows[g],
      forwardPackets: table.forwardPackets[g],
      forwardBytes: table.forwardBytes[g],
    });
  }
  expect(new Set(rows.map((r) => r.key)).size, 'every key names one group').toBe(rows.length);
  for (const array of [table.packets, table.bytes, table.flows, table.forwardPackets, table.forwardBytes])
    expect(array.length).toBe(table.count);
  return sortRows(rows);
}

function ask(fed: Fed, q: Query): WindowTable {
  return computeWindowTable(fed.store, {
    group: q.group,
    fromSecond: q.from,
    toSecond: q.to,
    filter:
      q.filter === null
        ? null
        : FlowFilter.compile({
            cidrs: q.filter.cidrs.map((b) => b.text),
            ports: q.filter.ports,
            protocols: q.filter.protocols,
          }),
    memberNetworks: q.members === null ? null : networksOf(q.members),
  });
}

function expectLikeBruteForce(fed: Fed, q: Query): WindowTable {
  const context = JSON.stringify({
    group: q.group,
    from: q.from,
    to: q.to,
    open: fed.open,
    filter: q.filter === null ? null : { ...q.filter, cidrs: q.filter.cidrs.map((b) => b.text) },
    members: q.members?.map((b) => b.text) ?? null,
    local: fed.localBlocks !== null,
  });
  const table = ask(fed, q);
  const want = bruteForce(fed, q);
  expect(rowsOf(table), context).toEqual(want.rows);
  expect(sortTransit([...table.transit]), context).toEqual(want.transit);
  expect(table.totals, context).toEqual(want.totals);
  expect(table.undecoded, context).toEqual(want.undecoded);
  expect(table.evicted, context).toEqual({ packets: 0, bytes: 0 });
  expect({ from: table.fromSecond, to: table.toSecond, complete: table.complete }, context).toEqual({
    from: want.fromSecond,
    to: want.toSecond,
    complete: want.complete,
  });
  return table;
}

// ---- random questions -------------------------------------------------------------------------------------

const queryShape = fc.record({
  filter: fc.option(
    fc.record({
      cidrs: fc.subarray(FILTER_BLOCKS),
      ports: fc.subarray(FILTER_PORTS),
      protocols: fc.subarray(FILTER_PROTOCOLS),
    }),
    { freq: 2 },
  ),
  members: fc.option(fc.subarray(MEMBER_BLOCKS, { minLength: 1 }), { freq: 3 }),
  /** Range start relative to the first second (a negative pick means "from the beginning"), and length. */
  fromOffset: fc.integer({ min: -30, max: 1_000_000 }),
  length: fc.integer({ min: 0, max: 1_000_000 }),
});

/** Scales the raw offsets into the stream's span, so ranges cut it, cover it or lie beyond it. */
function rangeOf(shape: { fromOffset: number; length: number }, fed: Fed): { from: number; to: number } {
  const span = fed.open - EPOCH_SECOND + 20;
  if (shape.fromOffset < -20) return { from: 0, to: EPOCH_SECOND + (shape.length % span) };
  const from = EPOCH_SECOND - 5 + (shape.fromOffset % span);
  return { from, to: from + (shape.length % span) };
}

describe('computeWindowTable against a brute force over the packet list', () => {
  it('counts by the rule for every grouping, filter, member set and range', () => {
    fc.assert(
      fc.property(
        streamArbitrary({ maxOps: 120, maxStepSeconds: 6 }),
        fc.array(queryShape, { minLength: 1, maxLength: 4 }),
        (stream, shapes) => {
          const fed = feed(stream);
          for (const shape of shapes) {
            const { from, to } = rangeOf(shape, fed);
            for (const group of GROUPINGS)
              expectLikeBruteForce(fed, { group, from, to, filter: shape.filter, members: shape.members });
          }
        },
      ),
      { seed: FAST_CHECK_SEED, numRuns: FAST_CHECK_RUNS },
    );
  });

  it('reads only whole slices once history is coarse or expired, and says when a range is cut', () => {
    let cut = 0;
    let completeCoarse = 0;
    let endCut = 0;
    fc.assert(
      fc.property(
        streamArbitrary({ maxOps: 150, maxStepSeconds: 200 }),
        fc.array(queryShape, { minLength: 1, maxLength: 6 }),
        (stream, shapes) => {
          const fed = feed(stream);
          for (const shape of shapes) {
            const { from, to } = rangeOf(shape, fed);
            for (const group of ['host', 'flow'] as const) {
              const table = expectLikeBruteForce(fed, {
                group,
                from,
                to,
                filter: shape.filter,
                members: shape.members,
              });
              if (!table.complete) cut++;
              else if (from > 0 && fed.open - from > 400) completeCoarse++;
              if (table.toSecond !== null && table.toSecond < Math.min(to, fed.open - 1)) endCut++;
            }
          }
        },
      ),
      { seed: FAST_CHECK_SEED + 1, numRuns: FAST_CHECK_RUNS },
    );
    // The runs did reach the cases this test is about.
    expect(cut).toBeGreaterThan(20);
    expect(completeCoarse).toBeGreaterThan(5);
    expect(endCut).toBeGreaterThan(5);
  });
});

describe('computeWindowTable and the local answers', () => {
  it('equals queryTop rows for the same window when nothing is skipped or transit', () => {
    fc.assert(
      fc.property(
        streamArbitrary({ maxOps: 120, maxStepSeconds: 8 }),
        fc.constantFrom(1, 2, 5, 30, 299, 300, 1000),
        (stream, windowSeconds) => {
          const fed = feed({ ...stream, knowsLocal: true }, true);
          const newest = fed.store.lastClosedSecond;
          if (newest === null) return;
          for (const group of GROUPINGS) {
            const table = computeWindowTable(fed.store, {
              group,
              fromSecond: newest - windowSeconds + 1,
              toSecond: newest,
              filter: null,
              memberNetworks: null,
            });
            const report = queryTop(fed.store, { group, by: 'bytes', limit: 0, windowSeconds });
            expect(table.transit).toEqual([]);
            expect(rowsOf(table), group).toEqual(rowsOfReport(report));
            expect(table.totals).toEqual(report.totals);
            expect(table.undecoded).toEqual(report.undecoded);
            expect({ from: table.fromSecond, to: table.toSecond, complete: table.complete }).toEqual({
              from: report.window.from,
              to: report.window.to,
              complete: report.window.complete,
            });
          }
        },
      ),
      { seed: FAST_CHECK_SEED + 2, numRuns: FAST_CHECK_RUNS },
    );
  });
});

/** queryTop rows in the window table's terms (forward = sent for host, first -> second for pair). */
function rowsOfReport(report: TopReport): ExpectedRow[] {
  const group = report.group;
  return sortRows(
    report.rows.map((r) => ({
      key: r.key,
      packets: r.packets,
      bytes: r.bytes,
      flows: r.flows,
      forwardPackets: (group === 'host'
        ? r.sentPackets
        : group === 'pair'
          ? r.forwardPackets
          : r.packets) as number,
      forwardBytes: (group === 'host' ? r.sentBytes : group === 'pair' ? r.forwardBytes : r.bytes) as number,
    })),
  );
}

describe('FlowStore.selectRange', () => {
  it('answers selectWindow(n) exactly as the range of the newest n closed seconds', () => {
    fc.assert(
      fc.property(
        streamArbitrary({ maxOps: 150, maxStepSeconds: 120 }),
        fc.constantFrom(1, 2, 7, 60, 299, 300, 301, 1799, 1801, 3600, 5000),
        (stream, windowSeconds) => {
          const fed = feed(stream);
          const newest = fed.store.lastClosedSecond;
          if (newest === null) return;
          const byWindow = fed.store.select(windowSeconds);
          const byRange = fed.store.selectRange(newest - windowSeconds + 1, newest);
          expect(byRange).toEqual(byWindow);
        },
      ),
      { seed: FAST_CHECK_SEED + 3, numRuns: FAST_CHECK_RUNS },
    );
  });

  it('refuses ranges that are not whole seconds in order', () => {
    const store = new FlowStore({ maxFlows: 64 });
    expect(() => store.selectRange(EPOCH_SECOND + 5, EPOCH_SECOND)).toThrow(RangeError);
    expect(() => store.selectRange(EPOCH_SECOND + 0.5, EPOCH_SECOND + 2)).toThrow(RangeError);
    expect(() => store.selectRange(Number.NaN, EPOCH_SECOND)).toThrow(RangeError);
    expect(() => store.selectRange(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(store.selectRange(Number.NEGATIVE_INFINITY, EPOCH_SECOND).coverage).toEqual({
      requestedSeconds: null,
      fromSecond: null,
      toSecond: null,
      complete: true,
    });
  });
});

// ---- hand-made cases ----------------------------------------------------------------------------------------

/** A store with this node's networks, fed one packet of `bytes` per listed flow in one second. */
function storeWith(flows: [RefFlow, number][], local: RefBlock[] | null, maxFlows = 64): FlowStore {
  const store = new FlowStore({
    maxFlows,
    ...(local === null ? {} : { localNetworks: networksOf(local) }),
  });
  const facts = new FactsBuffer();
  for (const [flow, bytes] of flows) store.addPacket(facts.load(flow, 0), bytes, EPOCH_SECOND, 0);
  store.advanceTo(EPOCH_SECOND + 1);
  return store;
}

function hostTable(store: FlowStore, members: RefBlock[] | null): WindowTable {
  return computeWindowTable(store, {
    group: 'host',
    fromSecond: EPOCH_SECOND,
    toSecond: EPOCH_SECOND,
    filter: null,
    memberNetworks: members === null ? null : networksOf(members),
  });
}

function byKey(table: WindowTable): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (let g = 0; g < table.count; g++) out[table.keyOf(g)] = [table.bytes[g], table.forwardBytes[g]];
  return out;
}

describe('computeWindowTable counting rule', () => {
  const flows: [RefFlow, number][] = [
    [makeFlow(6, L1, M1, 40000, 443), 1000], // sent to a member: counted here
    [makeFlow(6, M1, L1, 443, 40000), 200], // received from a member: the member counts it
    [makeFlow(17, O1, L2, 53, 5353), 30], // received from outside the mesh: counted here
    [makeFlow(17, L1, L2, 5353, 53), 4], // both ends local: counted once
    [makeFlow(6, M2, O1, 50000, 22), 500], // a member's traffic seen in transit: the member counts it
    [makeFlow(6, O1, O2, 50000, 22), 7000], // transit between outsiders: listed, not counted
  ];

  it('counts sent and local flows, received ones unless a member sent them, and lists transit', () => {
    const table = hostTable(storeWith(flows, LOCAL_BLOCKS), MEMBER_BLOCKS);
    expect(byKey(table)).toEqual({
      '198.18.0.1': [1000 + 4, 1000 + 4],
      '198.18.1.1': [1000, 0],
      '198.19.0.1': [30, 30],
      '198.18.0.2': [30 + 4, 0],
    });
    expect(table.totals).toEqual({ packets: 3, bytes: 1034, ipPackets: 3, ipBytes: 1034 });
    expect(table.transit).toEqual([
      {
        flow: 'tcp 198.19.0.1:50000 > 198.19.0.2:22',
        groups: ['198.19.0.1', '198.19.0.2'],
        packets: 1,
        bytes: 7000,
        forwardPackets: [1, 0],
        forwardBytes: [7000, 0],
      },
    ]);
  });

  it('counts received traffic from members and lists their transit traffic when no member answers', () => {
    const table = hostTable(storeWith(flows, LOCAL_BLOCKS), null);
    expect(byKey(table)).toEqual({
      '198.18.0.1': [1000 + 200 + 4, 1000 + 4],
      '198.18.1.1': [1000 + 200, 200],
      '198.19.0.1': [30, 30],
      '198.18.0.2': [30 + 4, 0],
    });
    expect(table.transit.map((t) => t.flow).sort()).toEqual([
      'tcp 198.18.1.2:50000 > 198.19.0.1:22',
      'tcp 198.19.0.1:50000 > 198.19.0.2:22',
    ]);
  });

  it('treats every flow as transit when the node knows no local addresses', () => {
    const table = hostTable(storeWith(flows, null), MEMBER_BLOCKS);
    expect(table.count).toBe(0);
    expect(table.totals.ipPackets).toBe(0);
    // Flows with a member end are the member's to count; the rest are transit.
    expect(table.transit.map((t) => t.flow).sort()).toEqual([
      'tcp 198.19.0.1:50000 > 198.19.0.2:22',
      'udp 198.18.0.1:5353 > 198.18.0.2:53',
      'udp 198.19.0.1:53 > 198.18.0.2:5353',
    ]);
  });

  it('names transit groups per grouping with their forward parts', () => {
    const store = storeWith([[makeFlow(17, O2, O1, 53, 50000), 90]], LOCAL_BLOCKS);
    const transitFor = (group: Grouping) =>
      computeWindowTable(store, {
        group,
        fromSecond: EPOCH_SECOND,
        toSecond: EPOCH_SECOND,
        filter: null,
        memberNetworks: null,
      }).transit[0];
    expect(transitFor('pair')).toMatchObject({ groups: ['198.19.0.1 <-> 198.19.0.2'], forwardBytes: [0] });
    expect(transitFor('src')).toMatchObject({ groups: ['198.19.0.2'], forwardBytes: [90] });
    expect(transitFor('dst')).toMatchObject({ groups: ['198.19.0.1'], forwardBytes: [90] });
    expect(transitFor('port')).toMatchObject({ groups: ['udp/53'], forwardBytes: [90] });
    expect(transitFor('proto')).toMatchObject({ groups: ['udp'], forwardBytes: [90] });
    expect(transitFor('flow')).toMatchObject({
      flow: 'udp 198.19.0.2:53 > 198.19.0.1:50000',
      groups: ['udp 198.19.0.2:53 > 198.19.0.1:50000'],
      forwardPackets: [1],
    });
  });
});

describe('computeWindowTable ranges', () => {
  /** One 100-byte packet per second for 2400 s: the oldest history is 60 and 10-second slices by then. */
  function steadyStore(): FlowStore {
    // Roomy: 64 flows would allow only 192 history entries, and the oldest history would be dropped.
    const store = new FlowStore({ maxFlows: ROOMY_MAX_FLOWS, localNetworks: networksOf(LOCAL_BLOCKS) });
    const facts = new FactsBuffer().load(makeFlow(17, L1, O1, 5353, 53), 0);
    for (let s = 0; s < 2400; s++) store.addPacket(facts, 100, EPOCH_SECOND + s, 0);
    return store;
  }
  const ask = (store: FlowStore, from: number, to: number) =>
    computeWindowTable(store, {
      group: 'proto',
      fromSecond: from,
      toSecond: to,
      filter: null,
      memberNetworks: null,
    });
  const first60 = Math.ceil(EPOCH_SECOND / 60) * 60;

  it('reads whole coarse slices exactly and leaves out one that straddles either end', () => {
    const store = steadyStore();
    store.closeAll();
    expect(ask(store, first60, first60 + 119)).toMatchObject({
      totals: { packets: 120 },
      fromSecond: first60,
      toSecond: first60 + 119,
      complete: true,
    });
    // Starts inside a 60-second slice: that slice is left out, the answer starts at the next boundary.
    expect(ask(store, first60 + 30, first60 + 119)).toMatchObject({
      totals: { packets: 60 },
      fromSecond: first60 + 60,
      complete: false,
    });
    // Ends inside a 60-second slice: that one is left out too, and the answer says where it ends.
    expect(ask(store, first60, first60 + 89)).toMatchObject({
      totals: { packets: 60 },
      fromSecond: first60,
      toSecond: first60 + 59,
      complete: false,
    });
    // The newest 300 seconds are 1-second slices: any range there is exact.
    const newest = store.lastClosedSecond!;
    expect(ask(store, newest - 17, newest - 3)).toMatchObject({ totals: { packets: 15 }, complete: true });
  });

  it('reads nothing before or after the data, and reads all of it from the beginning', () => {
    const store = steadyStore();
    store.closeAll();
    const newest = store.lastClosedSecond!;
    // The oldest data is one 60-second slice [first60 - 60, first60 - 1]; the data starts inside it.
    expect(ask(store, first60 - 300, first60 - 61)).toMatchObject({
      count: 0,
      totals: { packets: 0 },
      fromSecond: null,
      toSecond: first60 - 61,
      complete: true,
    });
    // A range ending before the data but inside that slice cannot be told apart from the data after it.
    expect(ask(store, first60 - 300, EPOCH_SECOND - 1)).toMatchObject({
      totals: { packets: 0 },
      complete: false,
    });
    expect(ask(store, 0, newest)).toMatchObject({
      totals: { packets: 2400 },
      fromSecond: first60 - 60,
      toSecond: newest,
      complete: true,
    });
    expect(ask(store, Number.NEGATIVE_INFINITY, newest).totals.packets).toBe(2400);
    // After the data: nothing, and complete only once the seconds are closed.
    expect(ask(store, newest + 1, newest + 50)).toMatchObject({
      count: 0,
      toSecond: newest,
      complete: false,
    });
    store.advanceTo(newest + 51);
    expect(ask(store, newest + 1, newest + 50)).toMatchObject({
      count: 0,
      totals: { packets: 0 },
      fromSecond: null,
      toSecond: newest + 50,
      complete: true,
    });
  });

  it('never reads a second that is still open, and says so until the caller closes it', () => {
    const store = steadyStore();
    const open = EPOCH_SECOND + 2399;
    const before = ask(store, open - 9, open + 5);
    expect(before).toMatchObject({ totals: { packets: 9 }, toSecond: open - 1, complete: false });
    store.advanceTo(open + 6);
    expect(ask(store, open - 9, open + 5)).toMatchObject({
      totals: { packets: 10 },
      toSecond: open + 5,
      complete: true,
    });
  });

  it('says a range reaching before the retained history is incomplete', () => {
    const store = new FlowStore({
      maxFlows: 64,
      retentionSeconds: 120,
      localNetworks: networksOf(LOCAL_BLOCKS),
    });
    const facts = new FactsBuffer().load(makeFlow(17, L1, O1, 5353, 53), 0);
    for (let s = 0; s < 600; s++) store.addPacket(facts, 100, EPOCH_SECOND + s, 0);
    store.closeAll();
    const newest = store.lastClosedSecond!;
    expect(ask(store, newest - 119, newest)).toMatchObject({ totals: { packets: 120 }, complete: true });
    expect(ask(store, newest - 120, newest)).toMatchObject({ totals: { packets: 120 }, complete: false });
    expect(ask(store, 0, newest)).toMatchObject({ totals: { packets: 120 }, complete: false });
  });
});

describe('computeWindowTable under eviction', () => {
  it('reports evicted traffic, and rows plus evicted bound the truth of every group', () => {
    const maxFlows = 256;
    const store = new FlowStore({ maxFlows, localNetworks: networksOf(LOCAL_BLOCKS) });
    const facts = new FactsBuffer();
    const random = new SeededRandom(11);
    const heavy = [makeFlow(6, L1, O1, 40000, 443), makeFlow(6, O2, L2, 50000, 22)];
    const packets: { flow: RefFlow; bytes: number; second: number }[] = [];
    // Four seconds of a flood of one-packet flows to L2 (received, counted) mixed with two heavy flows.
    for (let i = 0; i < 4000; i++) {
      const second = EPOCH_SECOND + Math.floor(i / 1000);
      const flow =
        i % 10 === 0
          ? heavy[i % 20 === 0 ? 0 : 1]
          : makeFlow(17, ipv4(198, 19, random.int(256), random.int(256)), L2, random.range(1024, 65535), 53);
      const bytes = i % 10 === 0 ? 1500 : 80;
      store.addPacket(facts.load(flow, 0), bytes, second, i);
      packets.push({ flow, bytes, second });
    }
    store.closeAll();
    expect(store.evictedFlows).toBeGreaterThan(0);
    const newest = store.lastClosedSecond!;
    for (const [from, to] of [
      [newest, newest],
      [newest - 1, newest],
    ]) {
      const inRange = packets.filter((p) => p.second >= from && p.second <= to);
      const truthPackets = inRange.length;
      for (const group of GROUPINGS) {
        const table = computeWindowTable(store, {
          group,
          fromSecond: from,
          toSecond: to,
          filter: null,
          memberNetworks: null,
        });
        const context = `${group} [${from}, ${to}]`;
        expect(table.complete, context).toBe(true);
        expect(table.evicted.packets, context).toBeGreaterThan(0);
        // Every packet of the range is in a counted flow or in the evicted bound, never both.
        expect(table.totals.ipPackets + table.evicted.packets, context).toBe(truthPackets);
        const truth = new Map(
          expectedRows(
            [...aggregate(inRange).values()].filter((c) => ruleFor(c.flow, LOCAL_BLOCKS, null) === 'count'),
            group,
          ).map((r) => [r.key, r]),
        );
        for (const row of rowsOf(table)) {
          const t = truth.get(row.key);
          expect(t, `${context}: ${row.key} is a real group`).toBeDefined();
          expect(
            row.packets <= t!.packets && t!.packets <= row.packets + table.evicted.packets,
            context,
          ).toBe(true);
          expect(row.bytes <= t!.bytes && t!.bytes <= row.bytes + table.evicted.bytes, context).toBe(true);
        }
        for (const [key, t] of truth) {
          const row = rowsOf(table).find((r) => r.key === key);
          expect(t.packets <= (row?.packets ?? 0) + table.evicted.packets, `${context}: ${key}`).toBe(true);
        }
      }
      // The heavy flows began before the flood and stay exact.
      const flowTable = computeWindowTable(store, {
        group: 'flow',
        fromSecond: from,
        toSecond: to,
        filter: null,
        memberNetworks: null,
      });
      for (const h of heavy) {
        const g = flowTable.findKey(flowText(h));
        expect(g, flowText(h)).toBeGreaterThanOrEqual(0);
        expect(flowTable.packets[g]).toBe(inRange.filter((p) => p.flow === h).length);
      }
    }
  });
});

function aggregate(packets: { flow: RefFlow; bytes: number }[]): Map<string, RefCounters> {
  const out = new Map<string, RefCounters>();
  for (const p of packets) {
    const c = out.get(p.flow.id);
    if (c === undefined) out.set(p.flow.id, { flow: p.flow, packets: 1, bytes: p.bytes });
    else {
      c.packets++;
      c.bytes += p.bytes;
    }
  }
  return out;
}

// ---- key texts ---------------------------------------------------------------------------------------------

/** Protocols with ports, ICMP, port-less ones and numbers without a name. */
const KEY_TEXT_PROTOCOLS = [6, 17, 132, 136, 33, 1, 58, 47, 0, 41, 50, 99, 253, 255];

/** An address of the given version; IPv6 ones favour zero runs and the embedded-IPv4 forms. */
function randomAddress(random: SeededRandom, version: 4 | 6): RefAddress {
  if (version === 4) return ipv4(random.int(256), random.int(256), random.int(256), random.int(256));
  const shape = random.int(4);
  const tail = [random.int(0x10000), random.int(0x10000)];
  if (shape === 0) return ipv6([0, 0, 0, 0, 0, 0xffff, ...tail]);
  if (shape === 1) return ipv6([0, 0, 0, 0, 0, 0, ...tail]);
  return ipv6(Array.from({ length: 8 }, () => (random.chance(0.5) ? 0 : random.int(0x10000))));
}

/** A flow as the decoder would record it (ICMP: srcPort 0, type << 8 | code; port-less: ports 0). */
function randomFlow(random: SeededRandom, hosts: RefAddress[]): RefFlow {
  const src = hosts[random.int(hosts.length)];
  const sameVersion = hosts.filter((h) => h.version === src.version);
  const dst = sameVersion[random.int(sameVersion.length)];
  let protocol = KEY_TEXT_PROTOCOLS[random.int(KEY_TEXT_PROTOCOLS.length)];
  if (protocol === 1 && src.version === 6) protocol = 58;
  if (protocol === 58 && src.version === 4) protocol = 1;
  if (protocol === 1 || protocol === 58) return makeFlow(protocol, src, dst, 0, random.int(0x10000));
  if (![6, 17, 132, 136, 33].includes(protocol)) return makeFlow(protocol, src, dst, 0, 0);
  const port = () => (random.chance(0.3) ? [0, 22, 53, 443, 65535][random.int(5)] : random.int(0x10000));
  return makeFlow(protocol, src, dst, port(), port());
}

/** A store where every flow counts (every address is local), fed one packet per flow in one second. */
function randomKeyStore(seed: number): FlowStore {
  const random = new SeededRandom(seed);
  const hosts = Array.from({ length: 5 + random.int(40) }, () =>
    randomAddress(random, random.chance(0.5) ? 4 : 6),
  );
  const flows = Array.from({ length: 1 + random.int(300) }, () => randomFlow(random, hosts));
  const everyAddress = [block(ipv4(0, 0, 0, 0), 0), block(ipv6([0, 0, 0, 0, 0, 0, 0, 0]), 0)];
  return storeWith(
    flows.map((f): [RefFlow, number] => [f, 60 + random.int(1400)]),
    everyAddress,
    ROOMY_MAX_FLOWS,
  );
}

function tableOf(store: FlowStore, group: Grouping, countTransit = false): WindowTable {
  return computeWindowTable(store, {
    group,
    fromSecond: EPOCH_SECOND,
    toSecond: EPOCH_SECOND,
    filter: null,
    memberNetworks: null,
    countTransit,
  });
}

describe('WindowTable key texts', () => {
  it('finds every group of random tables by the text keyOf prints for it, for every grouping', () => {
    let groups = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const store = randomKeyStore(seed);
      for (const group of GROUPINGS) {
        const table = tableOf(store, group);
        expect(table.transit, `seed ${seed} ${group}`).toEqual([]);
        for (let g = 0; g < table.count; g++) {
          const text = table.keyOf(g);
          expect(table.findKey(text), `seed ${seed} ${group}: ${text}`).toBe(g);
          // Memoised: the same string, not a new one.
          expect(table.keyOf(g)).toBe(text);
        }
        groups += table.count;
      }
    }
    expect(groups).toBeGreaterThan(10_000);
  });

  it('names the same groups in the same order whether or not texts were asked for first', () => {
    const store = randomKeyStore(99);
    for (const group of GROUPINGS) {
      const asked = tableOf(store, group);
      const texts = Array.from({ length: asked.count }, (_, g) => asked.keyOf(g));
      const fresh = tableOf(store, group);
      // findKey before any keyOf: the lookup does not depend on printed texts.
      for (let g = texts.length - 1; g >= 0; g--) expect(fresh.findKey(texts[g]), texts[g]).toBe(g);
    }
  });

  it('finds no group for absent texts, other spellings, other groupings and garbage', () => {
    const store = storeWith(
      [
        [makeFlow(6, L1, O1, 40000, 443), 100],
        [makeFlow(17, L6, O6, 5353, 53), 100],
        [makeFlow(1, L1, O1, 0, 0x800), 100],
        [makeFlow(47, L1, O2, 0, 0), 100],
        [makeFlow(253, L6, O6, 0, 0), 100],
      ],
      LOCAL_BLOCKS,
    );
    const present: Record<Grouping, string[]> = {
      host: ['198.18.0.1', '2001:db8:1::1', '198.19.0.2'],
      src: ['198.18.0.1', '2001:db8:1::1'],
      dst: ['198.19.0.1', '2001:db8:3::1'],
      pair: ['198.18.0.1 <-> 198.19.0.1', '2001:db8:1::1 <-> 2001:db8:3::1'],
      flow: [
        'tcp 198.18.0.1:40000 > 198.19.0.1:443',
        'udp [2001:db8:1::1]:5353 > [2001:db8:3::1]:53',
        'icmp 198.18.0.1 > 198.19.0.1 type 8 code 0',
        'gre 198.18.0.1 > 198.19.0.2',
        'ip-proto-253 2001:db8:1::1 > 2001:db8:3::1',
      ],
      port: ['tcp/443', 'udp/53', 'icmp', 'gre', 'ip-proto-253'],
      proto: ['tcp', 'udp', 'icmp', 'gre', 'ip-proto-253'],
    };
    const garbage = ['', ' ', 'garbage', '198.18.0.1 ', '-1', 'tcp 198.18.0.1:40000 >', '\u0000'];
    const absent: Record<Grouping, string[]> = {
      host: [
        '198.19.0.9',
        '2001:DB8:1::1',
        '2001:db8:1:0:0:0:0:1',
        '198.018.0.1',
        '::ffff:198.18.0.1',
        'tcp',
      ],
      src: ['198.19.0.1', '2001:db8:3::1', '198.18.0.1 <-> 198.19.0.1'],
      dst: ['198.18.0.1', '2001:db8:1::1'],
      pair: [
        '198.19.0.1 <-> 198.18.0.1',
        '198.18.0.1 <-> 198.19.0.2 ',
        '198.18.0.1',
        '198.18.0.1 <-> 2001:db8:3::1',
      ],
      flow: [
        'tcp 198.19.0.1:443 > 198.18.0.1:40000',
        'udp [2001:db8:1::1]:5353 > [2001:db8:3::1]:54',
        'icmp 198.18.0.1 > 198.19.0.1 type 8 code 1',
        'icmp 198.18.0.1 > 198.19.0.1',
        'gre 198.18.0.1 > 198.19.0.2 type 0 code 0',
        'ip-proto-253 198.18.0.1 > 198.19.0.1',
        'tcp 198.18.0.1:40000 > 198.19.0.1:0443',
        'tcp/443',
      ],
      port: ['tcp/80', 'TCP/443', 'tcp/0443', 'udp', 'tcp', 'ip-proto-6/443', 'sctp/443', '198.18.0.1'],
      proto: ['sctp', 'TCP', 'ip-proto-6', 'ip-proto-47', 'tcp/443', 'ip-proto-254'],
    };
    for (const group of GROUPINGS) {
      const table = tableOf(store, group);
      for (const text of present[group])
        expect(table.findKey(text), `${group}: ${text}`).toBeGreaterThanOrEqual(0);
      for (const text of [...absent[group], ...garbage])
        expect(table.findKey(text), `${group}: ${text}`).toBe(-1);
    }
  });

  it('refuses to name flows once the store has evicted flows since the table was computed', () => {
    const store = new FlowStore({ maxFlows: 16, localNetworks: networksOf(LOCAL_BLOCKS) });
    const facts = new FactsBuffer();
    for (let p = 0; p < 10; p++)
      store.addPacket(facts.load(makeFlow(6, L1, O1, 40000 + p, 443), 0), 100, EPOCH_SECOND, 0);
    store.advanceTo(EPOCH_SECOND + 1);
    const table = tableOf(store, 'flow');
    const first = table.keyOf(0);
    const second = table.findKey('tcp 198.18.0.1:40001 > 198.19.0.1:443');
    expect(second).toBeGreaterThanOrEqual(0);
    // Enough new flows to evict: slots may now hold other flows.
    for (let p = 0; p < 40; p++)
      store.addPacket(facts.load(makeFlow(17, L1, O2, 50000 + p, 53), 0), 100, EPOCH_SECOND + 1, 0);
    expect(store.evictedFlows).toBeGreaterThan(0);
    expect(table.keyOf(0)).toBe(first);
    expect(() => table.keyOf(second)).toThrow(StaleWindowTableError);
    expect(() => table.findKey(first)).toThrow(StaleWindowTableError);
    // A table computed now reads the store as it is.
    const now = tableOf(store, 'flow');
    for (let g = 0; g < now.count; g++) expect(now.findKey(now.keyOf(g))).toBe(g);
  });

  it('grows past its first sizing when every address is distinct, and still finds every host', () => {
    const flows = Array.from({ length: 5000 }, (_, i): [RefFlow, number] => [
      makeFlow(17, ipv4(198, 18, i >> 8, i & 255), ipv4(198, 19, i >> 8, i & 255), 5353, 53),
      100,
    ]);
    const table = tableOf(storeWith(flows, [block(ipv4(198, 18, 0, 0), 15)], ROOMY_MAX_FLOWS), 'host');
    // Two hosts per flow: more groups than flows, the aggregator's first capacity.
    expect(table.count).toBe(10_000);
    for (let g = 0; g < table.count; g++) {
      expect(table.findKey(table.keyOf(g))).toBe(g);
      expect(table.bytes[g]).toBe(100);
    }
  });

  it('counts transit flows into their groups in local scope, as queryTop counts them', () => {
    const random = new SeededRandom(5);
    const hosts = Array.from({ length: 20 }, () => randomAddress(random, random.chance(0.5) ? 4 : 6));
    const flows = Array.from({ length: 200 }, (): [RefFlow, number] => [randomFlow(random, hosts), 100]);
    // No local addresses: every flow is transit for a cluster sum.
    const store = storeWith(flows, null, ROOMY_MAX_FLOWS);
    for (const group of GROUPINGS) {
      expect(tableOf(store, group).count, group).toBe(0);
      const table = tableOf(store, group, true);
      expect(table.transit, group).toEqual([]);
      const report = queryTop(store, { group, by: 'bytes', limit: 0, windowSeconds: 1 });
      expect(rowsOf(table), group).toEqual(rowsOfReport(report));
      expect(table.totals, group).toEqual(report.totals);
    }
  });
});
