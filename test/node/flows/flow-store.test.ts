import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_DST, KEY_META, KEY_PORTS, KEY_SRC } from '../../../src/node/flows/flow-facts.js';
import { denseSelection } from '../../../src/node/flows/flow-range-read.js';
import { FlowStore } from '../../../src/node/flows/flow-store.js';
import { REC_INTS, STAT_FIRST_SEEN, STAT_LAST_SEEN } from '../../../src/node/flows/flow-table.js';
import {
  FactsBuffer,
  flowId,
  ipv4,
  makeFlow,
  NaiveTrafficReference,
  type RefFlow,
  type RefWindow,
} from '../../helpers/naive-traffic-reference.js';
import { EPOCH_SECOND, replay, trafficStreamArbitrary } from '../../helpers/random-traffic.js';
import { SeededRandom } from '../../helpers/seeded-random.js';

/** Large enough that random streams never evict or hit the history budget. */
const ROOMY_MAX_FLOWS = 1 << 14;
const FAST_CHECK_SEED = 20_240_611;
const FAST_CHECK_RUNS = 150;
/** Windows around the tier boundaries (1-second slices up to 300 s of age, 10-second up to 1800 s). */
const WINDOWS_SECONDS = [1, 2, 5, 30, 299, 300, 301, 305, 310, 600, 1000, 1799, 1800, 1801, 1830, 3600, 5000];

interface StoreAnswer {
  flows: Map<string, { packets: number; bytes: number }>;
  packets: number;
  bytes: number;
  undecodedPackets: number[];
  undecodedBytes: number[];
  evictedPackets: number;
  evictedBytes: number;
  from: number | null;
  to: number | null;
  complete: boolean;
}

/** The store's answer with flows named by the reference's flow ids (read from the table's key words). */
function ask(store: FlowStore, seconds: number | null): StoreAnswer {
  const { flows: selection, totals, coverage } = store.select(seconds);
  const flows = denseSelection(store.table, selection);
  const keys = store.table.records;
  const byId = new Map<string, { packets: number; bytes: number }>();
  for (let i = 0; i < flows.count; i++) {
    const slot = flows.slots[i];
    const k = slot * REC_INTS;
    const meta = keys[k + KEY_META];
    const ports = keys[k + KEY_PORTS];
    const id = flowId(
      meta >>> 8,
      meta & 0xff,
      keys.subarray(k + KEY_SRC, k + KEY_SRC + 4),
      keys.subarray(k + KEY_DST, k + KEY_DST + 4),
      ports >>> 16,
      ports & 0xffff,
    );
    expect(byId.has(id), `flow ${id} selected twice`).toBe(false);
    byId.set(id, { packets: flows.packets[i], bytes: flows.bytes[i] });
  }
  return {
    flows: byId,
    packets: totals.packets,
    bytes: totals.bytes,
    undecodedPackets: Array.from(totals.undecodedPackets),
    undecodedBytes: Array.from(totals.undecodedBytes),
    evictedPackets: totals.evictedPackets,
    evictedBytes: totals.evictedBytes,
    from: coverage.fromSecond,
    to: coverage.toSecond,
    complete: coverage.complete,
  };
}

function sortedFlows(flows: Map<string, { packets: number; bytes: number }>): [string, number, number][] {
  return [...flows].map(([id, c]): [string, number, number] => [id, c.packets, c.bytes]).sort();
}

/** Compares traffic (not coverage) of a store answer with a reference window. */
function expectSameTraffic(got: StoreAnswer, want: RefWindow, context: string): void {
  expect(sortedFlows(got.flows), context).toEqual(sortedFlows(want.flows));
  expect(
    {
      packets: got.packets,
      bytes: got.bytes,
      undecoded: got.undecodedPackets,
      undecodedBytes: got.undecodedBytes,
    },
    context,
  ).toEqual({
    packets: want.packets,
    bytes: want.bytes,
    undecoded: want.undecodedPackets,
    undecodedBytes: want.undecodedBytes,
  });
  expect({ evictedPackets: got.evictedPackets, evictedBytes: got.evictedBytes }, context).toEqual({
    evictedPackets: 0,
    evictedBytes: 0,
  });
}

function expectSameWindow(store: FlowStore, reference: NaiveTrafficReference, seconds: number): void {
  const got = ask(store, seconds);
  const want = reference.window(seconds);
  const context = `window ${seconds} s`;
  expectSameTraffic(got, want, context);
  expect({ from: got.from, to: got.to, complete: got.complete }, context).toEqual({
    from: want.from,
    to: want.to,
    complete: want.complete,
  });
  const newest = reference.newestClosed;
  if (newest === null) return;
  const start = newest - seconds + 1;
  const exact = reference.exact(start, newest);
  // Spec, independent of the tier model: never more than asked, and complete means exact.
  for (const [id, c] of got.flows) {
    const e = exact.flows.get(id);
    expect(
      e !== undefined && c.packets <= e.packets && c.bytes <= e.bytes,
      `${context}: ${id} over-counted`,
    ).toBe(true);
  }
  if (got.complete) expectSameTraffic(got, exact, `${context} (complete, so exact)`);
  if (seconds <= 300 && start >= reference.open - reference.retentionSeconds) {
    expect(got.complete, `${context} lies in the 1-second tier`).toBe(true);
  }
}

describe('FlowStore against a naive reference on random streams', () => {
  it('agrees on all-time and windowed counters, totals and coverage for every window', () => {
    fc.assert(
      fc.property(trafficStreamArbitrary({ maxOps: 300, maxStepSeconds: 60 }), (stream) => {
        const store = new FlowStore({ maxFlows: ROOMY_MAX_FLOWS });
        const reference = new NaiveTrafficReference();
        replay(stream, store, reference);
        const all = ask(store, null);
        expectSameTraffic(all, reference.everything(), 'all time');
        expect(all.to).toBe(reference.newest < 0 ? null : reference.newest);
        expect(all.complete).toBe(true);
        expect(store.evictedFlows).toBe(0);
        for (const seconds of WINDOWS_SECONDS) expectSameWindow(store, reference, seconds);
        // Repeated questions agree (windows read closed seconds only).
        expect(sortedFlows(ask(store, 30).flows)).toEqual(sortedFlows(ask(store, 30).flows));
      }),
      { seed: FAST_CHECK_SEED, numRuns: FAST_CHECK_RUNS },
    );
  });

  it('keeps first/last seen and OR-ed TCP flags per flow', () => {
    fc.assert(
      fc.property(trafficStreamArbitrary({ maxOps: 200, maxStepSeconds: 5 }), (stream) => {
        const store = new FlowStore({ maxFlows: ROOMY_MAX_FLOWS });
        const reference = new NaiveTrafficReference();
        replay(stream, store, reference);
        const t = store.table;
        const got = new Map<string, [number, number, number]>();
        for (let slot = 0; slot < t.slotLimit; slot++) {
          if (!t.isOccupied(slot)) continue;
          const k = slot * REC_INTS;
          const id = flowId(
            t.records[k + KEY_META] >>> 8,
            t.records[k + KEY_META] & 0xff,
            t.records.subarray(k + KEY_SRC, k + KEY_SRC + 4),
            t.records.subarray(k + KEY_DST, k + KEY_DST + 4),
            t.records[k + KEY_PORTS] >>> 16,
            t.records[k + KEY_PORTS] & 0xffff,
          );
          got.set(id, [t.stat(slot, STAT_FIRST_SEEN), t.stat(slot, STAT_LAST_SEEN), t.tcpFlags(slot)]);
        }
        const want = new Map<string, [number, number, number]>();
        for (const [id, c] of reference.allTime) want.set(id, [c.firstSeen, c.lastSeen, c.tcpFlags]);
        expect([...got].sort()).toEqual([...want].sort());
      }),
      { seed: FAST_CHECK_SEED + 1, numRuns: 100 },
    );
  });
});

describe('FlowStore time', () => {
  const a = ipv4(198, 18, 0, 1);
  const b = ipv4(198, 18, 0, 2);
  const flow = makeFlow(17, a, b, 5000, 53);
  const other = makeFlow(6, b, a, 443, 50000);
  const facts = new FactsBuffer();

  it('counts a packet older than the open second in the open second', () => {
    const store = new FlowStore({ maxFlows: 64 });
    const reference = new NaiveTrafficReference();
    for (const [second, f] of [
      [EPOCH_SECOND + 10, flow],
      [EPOCH_SECOND + 12, other],
      [EPOCH_SECOND + 3, flow], // out of order: lands in second +12
      [EPOCH_SECOND + 11, other],
    ] as [number, RefFlow][]) {
      store.addPacket(facts.load(f, 0), 100, second, 0);
      reference.packet(f, 100, second, 0, 0);
    }
    store.closeAll();
    reference.closeAll();
    const lastSecond = ask(store, 1);
    expect(lastSecond.to).toBe(EPOCH_SECOND + 12);
    expect(sortedFlows(lastSecond.flows)).toEqual([
      [flow.id, 1, 100],
      [other.id, 2, 200],
    ]);
    expectSameWindow(store, reference, 1);
    expectSameWindow(store, reference, 3);
  });

  it('leaves the open second out of windows until it closes', () => {
    const store = new FlowStore({ maxFlows: 64 });
    store.addPacket(facts.load(flow, 0), 100, EPOCH_SECOND, 0);
    store.addPacket(facts.load(flow, 0), 100, EPOCH_SECOND + 1, 0);
    expect(ask(store, 10).packets).toBe(1);
    expect(ask(store, 10).to).toBe(EPOCH_SECOND);
    expect(ask(store, null).packets).toBe(2);
    store.closeAll();
    expect(ask(store, 10).packets).toBe(2);
    expect(ask(store, 1).packets).toBe(1);
  });

  it('moves windows on with advanceTo when no traffic arrives', () => {
    const store = new FlowStore({ maxFlows: 64 });
    store.addPacket(facts.load(flow, 0), 100, EPOCH_SECOND, 0);
    store.advanceTo(EPOCH_SECOND + 100);
    const recent = ask(store, 10);
    expect({ to: recent.to, packets: recent.packets, complete: recent.complete }).toEqual({
      to: EPOCH_SECOND + 99,
      packets: 0,
      complete: true,
    });
    expect(ask(store, 100).packets).toBe(1);
  });

  it('merges history into 10 and 60-second slices with age, and never reports more than asked', () => {
    const random = new SeededRandom(77);
    const store = new FlowStore({ maxFlows: ROOMY_MAX_FLOWS });
    const reference = new NaiveTrafficReference();
    const flows = [flow, other, makeFlow(17, b, b, 1, 2)];
    let second = EPOCH_SECOND;
    for (let i = 0; i < 4000; i++) {
      second += random.pick([0, 1, 1, 2, 3]);
      const f = random.pick(flows);
      const bytes = random.range(60, 1500);
      store.addPacket(facts.load(f, 0), bytes, second, random.int(1e9));
      reference.packet(f, bytes, second, 0, 0);
      // Ask mid-stream too: merges happen as time moves, not only at the end.
      if (i % 500 === 499) for (const w of WINDOWS_SECONDS) expectSameWindow(store, reference, w);
    }
    store.closeAll();
    reference.closeAll();
    const newest = reference.newestClosed!;
    let straddled = 0;
    for (const w of [...WINDOWS_SECONDS, 301, 302, 309, 311, 1801, 1802, 1859, 1861, 3599, 3601]) {
      expectSameWindow(store, reference, w);
      const got = ask(store, w);
      const start = newest - w + 1;
      if (w <= 300) {
        expect(got.complete).toBe(true);
        continue;
      }
      // Windows reaching past the retention lose whole slices at the far end; the reference covers them.
      if (start < reference.open - reference.retentionSeconds) continue;
      // A coarse slice that straddles the window start is left out whole: the answer is the exact
      // traffic from the next 10 or 60-second boundary on.
      const cuts = [start, Math.ceil(start / 10) * 10, Math.ceil(start / 60) * 60];
      const matches = cuts.filter((cut) => reference.exact(cut, newest).packets === got.packets);
      expect(matches.length, `window ${w}: ${got.packets} packets match no slice boundary`).toBeGreaterThan(
        0,
      );
      if (got.complete) expect(got.packets).toBe(reference.exact(start, newest).packets);
      else straddled++;
    }
    expect(straddled, 'some windows start inside a coarse slice').toBeGreaterThan(3);
    // The history really is coarse by now: 4000 packets over about 6000 s, one entry per flow per slice.
    expect(store.historyEntryCount).toBeLessThan(3 * (300 + 150 + 100));
  });

  it('expires history older than the retention and says windows reaching before it are incomplete', () => {
    const retentionSeconds = 120;
    const store = new FlowStore({ maxFlows: 64, retentionSeconds });
    const reference = new NaiveTrafficReference(retentionSeconds);
    for (let s = 0; s < 600; s++) {
      store.addPacket(facts.load(flow, 0), 100, EPOCH_SECOND + s, 0);
      reference.packet(flow, 100, EPOCH_SECOND + s, 0, 0);
    }
    store.closeAll();
    reference.closeAll();
    for (const w of [1, 60, 119, 120, 121, 200, 300, 600, 1000]) expectSameWindow(store, reference, w);
    expect(ask(store, 120)).toMatchObject({ packets: 120, complete: true });
    expect(ask(store, 121)).toMatchObject({ packets: 120, complete: false });
    expect(ask(store, 600)).toMatchObject({ packets: 120, complete: false });
    // All-time counters are not history: they keep everything.
    expect(ask(store, null).packets).toBe(600);
  });
});

describe('FlowStore eviction', () => {
  const MAX_FLOWS = 256;
  const HEAVY_FLOWS = 5;
  const HEAVY_BYTES = 1000;
  const FLOOD_BYTES = 60;
  const FLOOD_SECONDS = 40;
  const FLOOD_PACKETS_PER_SECOND = 1000;

  function floodFlow(random: SeededRandom): RefFlow {
    return makeFlow(
      17,
      ipv4(198, 19, random.int(256), random.int(256)),
      ipv4(198, 18, 100 + random.int(100), random.int(256)),
      random.range(1024, 65535),
      random.range(1, 65535),
    );
  }

  /** Heavy flows send every 10th packet; the flood is one-packet flows. Returns the heavy flows. */
  function runFlood(store: FlowStore, reference: NaiveTrafficReference, heavyHeadStart: boolean): RefFlow[] {
    const random = new SeededRandom(heavyHeadStart ? 11 : 12);
    const facts = new FactsBuffer();
    const heavy = Array.from({ length: HEAVY_FLOWS }, (_, i) =>
      makeFlow(6, ipv4(198, 18, 1, i + 1), ipv4(198, 18, 2, 1), 40000 + i, 443),
    );
    const add = (f: RefFlow, bytes: number, second: number, nanos: number) => {
      store.addPacket(facts.load(f, 0), bytes, second, nanos);
      reference.packet(f, bytes, second, nanos, 0);
      expect(store.table.count).toBeLessThanOrEqual(MAX_FLOWS);
    };
    let second = EPOCH_SECOND;
    if (heavyHeadStart) {
      for (let i = 0; i < 20 * HEAVY_FLOWS; i++) add(heavy[i % HEAVY_FLOWS], HEAVY_BYTES, second, i);
      second++;
    }
    let h = 0;
    for (let s = 0; s < FLOOD_SECONDS; s++, second++) {
      for (let i = 0; i < FLOOD_PACKETS_PER_SECOND; i++) {
        if (i % 10 === 0) add(heavy[h++ % HEAVY_FLOWS], HEAVY_BYTES, second, i);
        else add(floodFlow(random), FLOOD_BYTES, second, i);
      }
    }
    store.closeAll();
    reference.closeAll();
    return heavy;
  }

  function expectExactHeavyFlowsAndTotals(
    store: FlowStore,
    reference: NaiveTrafficReference,
    heavy: RefFlow[],
  ) {
    expect(store.table.count).toBeLessThanOrEqual(MAX_FLOWS);
    expect(store.evictedFlows).toBeGreaterThan(0);
    const all = ask(store, null);
    for (const f of heavy) {
      const want = reference.allTime.get(f.id)!;
      expect(all.flows.get(f.id), `heavy flow ${f.id}`).toEqual({ packets: want.packets, bytes: want.bytes });
    }
    // Totals stay exact: every frame is counted, and rows plus evicted traffic add up to all IP traffic.
    expect({ packets: all.packets, bytes: all.bytes }).toEqual({
      packets: reference.packets,
      bytes: reference.bytes,
    });
    let rowPackets = 0;
    let rowBytes = 0;
    for (const c of all.flows.values()) {
      rowPackets += c.packets;
      rowBytes += c.bytes;
    }
    expect(all.evictedPackets).toBeGreaterThan(0);
    expect(rowPackets + all.evictedPackets).toBe(reference.packets);
    expect(rowBytes + all.evictedBytes).toBe(reference.bytes);
    // Windows: rows plus evicted traffic equal the exact traffic of the seconds the answer covers.
    for (const w of [1, 2, 3, 10, 30]) {
      const got = ask(store, w);
      const newest = reference.newestClosed!;
      const exact = reference.exact(got.from ?? newest + 1, newest);
      let packets = 0;
      for (const c of got.flows.values()) packets += c.packets;
      expect(packets + got.evictedPackets, `window ${w}`).toBe(exact.packets);
      expect(got.packets, `window ${w}`).toBe(exact.packets);
      if (got.complete) expect(got.from).toBe(newest - w + 1);
      for (const f of heavy) {
        expect(got.flows.get(f.id), `window ${w}, heavy flow ${f.id}`).toEqual({
          packets: exact.flows.get(f.id)!.packets,
          bytes: exact.flows.get(f.id)!.bytes,
        });
      }
    }
  }

  it('keeps heavy flows that began before a flood of one-packet flows exact, and totals exact', () => {
    const store = new FlowStore({ maxFlows: MAX_FLOWS });
    const reference = new NaiveTrafficReference();
    const heavy = runFlood(store, reference, true);
    expectExactHeavyFlowsAndTotals(store, reference, heavy);
  });

  it('keeps heavy flows that begin in the same second as the flood exact', () => {
    const store = new FlowStore({ maxFlows: MAX_FLOWS });
    const reference = new NaiveTrafficReference();
    const heavy = runFlood(store, reference, false);
    expectExactHeavyFlowsAndTotals(store, reference, heavy);
  });
});
