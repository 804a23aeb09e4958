import { describe, expect, it } from 'vitest';
import {
  ADDRESS_DST_BYTES,
  ADDRESS_SELF_BYTES,
  ADDRESS_SRC_BYTES,
  EvictedResidue,
} from '../../../src/node/flows/evicted-residue.js';
import type { FlowSelection } from '../../../src/node/flows/flow-range-read.js';
import { FlowStore } from '../../../src/node/flows/flow-store.js';
import { FlowTable, REC_INTS } from '../../../src/node/flows/flow-table.js';
import { GROUP_COLUMNS } from '../../../src/node/flows/group-aggregator.js';
import { HistoryEntryArena } from '../../../src/node/flows/history-entry-arena.js';
import { HistorySlice } from '../../../src/node/flows/history-slice.js';
import {
  FactsBuffer,
  ipv4,
  makeFlow,
  NaiveTrafficReference,
  type RefFlow,
  type RefWindow,
} from '../../helpers/naive-traffic-reference.js';
import { EPOCH_SECOND } from '../../helpers/random-traffic.js';
import { SeededRandom } from '../../helpers/seeded-random.js';

/**
 * History entries live in one arena that compacts in place (history-entry-arena.ts), and evicted traffic
 * is pruned in place (evicted-residue.ts), so a flood does not churn memory. Compaction moves every
 * live slice: these tests check, against ground truth, that nothing is lost or mixed up when it does.
 */

/** Writes `entries` (slot, packets, bytes) as a new slice at the arena's tail. */
function appendSlice(
  arena: HistoryEntryArena,
  live: HistorySlice[],
  start: number,
  entries: [number, number, number][],
): HistorySlice {
  const slice = new HistorySlice(start, 1);
  const at = arena.reserve(entries.length, live);
  entries.forEach(([slot, packets, bytes], i) => {
    arena.slots[at + i] = slot;
    arena.packets[at + i] = packets;
    arena.bytes[at + i] = bytes;
  });
  arena.commit(slice, at, entries.length);
  live.push(slice);
  return slice;
}

function entriesOf(arena: HistoryEntryArena, slice: HistorySlice): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let e = slice.offset; e < slice.offset + slice.length; e++) {
    out.push([arena.slots[e], arena.packets[e], arena.bytes[e]]);
  }
  return out;
}

describe('HistoryEntryArena', () => {
  it('compacts live slices to the front, keeping every entry, and reuses the space of dropped ones', () => {
    const arena = new HistoryEntryArena(100);
    const live: HistorySlice[] = [];
    const want = new Map<HistorySlice, [number, number, number][]>();
    const random = new SeededRandom(3);
    let compactionsSeen = 0;
    for (let second = 0; second < 400; second++) {
      const n = random.int(12);
      const entries = Array.from({ length: n }, (): [number, number, number] => [
        random.int(1000),
        random.range(1, 9),
        random.range(60, 1500),
      ]);
      const before = arena.compactions;
      const slice = appendSlice(arena, live, second, entries);
      if (arena.compactions > before) compactionsSeen++;
      want.set(slice, entries);
      // Drop random old slices (expiry, budget), and shrink some in place (eviction).
      while (live.length > 6 || (live.length > 1 && random.chance(0.2))) {
        const dropped = live.splice(random.int(live.length - 1), 1)[0] as HistorySlice;
        dropped.released = true;
        want.delete(dropped);
      }
      const shrunk = live[random.int(live.length)] as HistorySlice;
      if (shrunk.length > 0 && random.chance(0.3)) {
        shrunk.length--;
        want.get(shrunk)!.pop();
      }
      for (const s of live) expect(entriesOf(arena, s)).toEqual(want.get(s));
      expect(arena.used).toBeLessThanOrEqual(arena.capacity);
    }
    expect(compactionsSeen).toBeGreaterThan(20);
    expect(arena.capacity).toBe(100);
  });

  it('grows rather than lose entries when more are live than its capacity', () => {
    const arena = new HistoryEntryArena(10);
    const live: HistorySlice[] = [];
    const a = appendSlice(arena, live, 0, [
      [1, 1, 10],
      [2, 2, 20],
      [3, 3, 30],
      [4, 4, 40],
      [5, 5, 50],
      [6, 6, 60],
    ]);
    const b = appendSlice(
      arena,
      live,
      1,
      Array.from({ length: 8 }, (_, i): [number, number, number] => [10 + i, 1, 1]),
    );
    expect(arena.capacity).toBeGreaterThanOrEqual(14);
    expect(entriesOf(arena, a).map((e) => e[0])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(entriesOf(arena, b).map((e) => e[0])).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new HistoryEntryArena(0)).toThrow(/positive integer/);
    expect(() => new HistoryEntryArena(2.5)).toThrow(/positive integer/);
  });
});

/** A range read's flows by slot: [packets, bytes]. */
function bySlot(flows: FlowSelection): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  for (let i = 0; i < flows.count; i++) out.set(flows.slots![i], [flows.packets[i], flows.bytes[i]]);
  return out;
}

function expectExact(
  store: FlowStore,
  facts: FactsBuffer,
  got: ReturnType<FlowStore['selectRange']>,
  want: RefWindow,
  context: string,
): void {
  const sums = bySlot(got.flows);
  expect(got.flows.count, `${context}: flows`).toBe(want.flows.size);
  for (const c of want.flows.values()) {
    const f = facts.load(c.flow, 0);
    const slot = store.table.find(f, FlowTable.hashFacts(f));
    expect(slot, `${context}: flow ${c.flow.id} in the table`).toBeGreaterThanOrEqual(0);
    expect(sums.get(slot), `${context}: flow ${c.flow.id}`).toEqual([c.packets, c.bytes]);
  }
  expect({ packets: got.totals.packets, bytes: got.totals.bytes }, context).toEqual({
    packets: want.packets,
    bytes: want.bytes,
  });
}

describe('FlowStore history through arena compactions', () => {
  const FLOWS = 150;

  function flows(): RefFlow[] {
    return Array.from({ length: FLOWS }, (_, i) =>
      makeFlow(i % 3 === 0 ? 17 : 6, ipv4(198, 18, 0, 1 + (i % 40)), ipv4(198, 18, 1, 1 + i), 30000 + i, 443),
    );
  }

  it('answers every window exactly over the seconds it covers, across compactions, merges and budget drops', () => {
    // 200 flows of budget: 600 history entries and an arena of 1,000, so it compacts every few seconds
    // of busy traffic; quiet stretches let history reach past 300 s, where 1-second slices merge.
    const store = new FlowStore({ maxFlows: 200 });
    const reference = new NaiveTrafficReference();
    const random = new SeededRandom(21);
    const facts = new FactsBuffer();
    const all = flows();
    let checked = 0;
    let coarse = 0;
    for (let s = 0; s < 2_400; s++) {
      const second = EPOCH_SECOND + s;
      // Busy for 40 s in every 400, else one or two flows a second.
      const active = s % 400 < 40 ? random.range(20, 120) : random.range(1, 2);
      for (let i = 0; i < active; i++) {
        const flow = all[random.int(FLOWS)] as RefFlow;
        const bytes = random.range(60, 1500);
        store.addPacket(facts.load(flow, 0), bytes, second, i);
        reference.packet(flow, bytes, second, i, 0);
      }
      if (s % 7 !== 6) continue;
      store.advanceTo(second + 1);
      reference.advanceTo(second + 1);
      for (const window of [1, 3, 10, 60, 301, 900]) {
        const got = store.selectRange(second - window + 1, second);
        const from = got.coverage.fromSecond;
        const to = got.coverage.toSecond;
        if (from === null || to === null) continue;
        if (to - from + 1 > 300 && from < second - 300) coarse++;
        expectExact(store, facts, got, reference.exact(from, to), `second ${s}, window ${window}`);
        checked++;
      }
    }
    expect(store.evictedFlows).toBe(0);
    expect(store.historyCompactions).toBeGreaterThan(30);
    expect(coarse).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(1_500);
  });

  it('keeps a stepped read usable when compaction only moves its slices, and stale when it overwrote them', () => {
    const store = new FlowStore({ maxFlows: 200 });
    const random = new SeededRandom(22);
    const facts = new FactsBuffer();
    const all = flows();
    let second = EPOCH_SECOND;
    const fill = (seconds: number, perSecond: number) => {
      for (let s = 0; s < seconds; s++, second++) {
        for (let i = 0; i < perSecond; i++) {
          store.addPacket(
            facts.load(all[random.int(FLOWS)] as RefFlow, 0),
            random.range(60, 1500),
            second,
            i,
          );
        }
      }
      store.advanceTo(second);
    };
    fill(20, 40);

    // The newest 3 seconds: compactions move them, the budget drops only older slices.
    const recent = store.beginRangeRead(second - 3, second - 1);
    const before = store.selectRange(second - 3, second - 1);
    recent.advance(0);
    const compactions = store.historyCompactions;
    // Busy seconds until the arena compacts (every few: the budget holds about six of them).
    for (let s = 0; s < 5 && store.historyCompactions === compactions; s++) fill(1, 150);
    expect(store.historyCompactions).toBeGreaterThan(compactions);
    expect(recent.stale).toBe(false);
    const stepped = recent.result();
    const key = (r: typeof before) =>
      [...r.flows.slots!].map((slot, i) => `${slot}:${r.flows.packets[i]}:${r.flows.bytes[i]}`).sort();
    expect(key(stepped)).toEqual(key(before));

    // The oldest seconds, read newest first: the budget drops the unread ones, a compaction overwrites them.
    const oldest = store.beginRangeRead(0, second - 1);
    oldest.advance(0);
    const drops = store.historyCompactions;
    fill(6, 100);
    expect(store.historyCompactions).toBeGreaterThan(drops);
    expect(oldest.stale).toBe(true);
    expect(oldest.advance(Number.POSITIVE_INFINITY)).toBe(true);
  });
});

describe('EvictedResidue pruning in place', () => {
  it('keeps at most 2 x maxRows rows, the heavy address exact, and every byte in a row or in other', () => {
    const residue = new EvictedResidue(4);
    const table = new FlowTable(16);
    const facts = new FactsBuffer();
    const random = new SeededRandom(5);
    const heavy = ipv4(198, 18, 9, 9);
    let packets = 0;
    let bytes = 0;
    let heavyBytes = 0;
    for (let i = 0; i < 5_000; i++) {
      const toHeavy = i % 5 === 0;
      const flow = makeFlow(
        17,
        ipv4(198, 19, random.int(256), random.int(256)),
        toHeavy ? heavy : ipv4(198, 20, random.int(256), random.int(256)),
        random.range(1024, 65535),
        53,
      );
      const flowBytes = toHeavy ? 1_000 : 60;
      const f = facts.load(flow, 0);
      const slot = table.insert(f, FlowTable.hashFacts(f), 0);
      residue.addFlow(table.records, slot * REC_INTS, 1, flowBytes);
      table.remove(slot);
      packets++;
      bytes += flowBytes;
      if (toHeavy) heavyBytes += flowBytes;
      expect(residue.addresses.count).toBeLessThan(8);
      expect(residue.services.count).toBeLessThan(8);
    }
    expect({ packets: residue.packets, bytes: residue.bytes }).toEqual({ packets, bytes });
    // The heavy destination is never folded: its row holds all of its traffic.
    const a = residue.addresses;
    a.key[0] = 4;
    for (let w = 0; w < 4; w++) a.key[1 + w] = heavy.words[w] | 0;
    const g = a.find();
    expect(g).toBeGreaterThanOrEqual(0);
    // Address rows: source side + destination side - self; folded traffic is in `other`.
    const v = a.values;
    let rowBytes = 0;
    for (let r = 0; r < a.count; r++) {
      const base = r * GROUP_COLUMNS;
      rowBytes += v[base + ADDRESS_SRC_BYTES] + v[base + ADDRESS_DST_BYTES] - v[base + ADDRESS_SELF_BYTES];
    }
    expect(v[g * GROUP_COLUMNS + ADDRESS_DST_BYTES]).toBe(heavyBytes);
    // Each flow counts on two address rows (source and destination): row sides plus other equal 2 x bytes.
    expect(rowBytes + residue.otherBytes).toBe(2 * bytes);
  });
});
