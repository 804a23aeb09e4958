import { describe, expect, it } from 'vitest';
import { FlowStoreQueryEngine } from '../../../src/node/agent/flow-store-query-engine.js';
import {
  PHASE_LOCAL_TOP,
  type PhaseRequest,
  type QueryWindow,
} from '../../../src/node/agent/local-query-engine.js';
import { FlowStore } from '../../../src/node/flows/flow-store.js';
import type { Grouping } from '../../../src/node/flows/key-vocabulary.js';
import { LocalNetworks } from '../../../src/node/flows/local-networks.js';
import {
  computeWindowTable,
  type WindowTable,
  WindowTableBuilder,
} from '../../../src/node/flows/window-table.js';
import { FactsBuffer, ipv4, makeFlow, type RefFlow } from '../../helpers/naive-traffic-reference.js';
import { EPOCH_SECOND } from '../../helpers/random-traffic.js';
import { SeededRandom } from '../../helpers/seeded-random.js';

/**
 * Window tables built in steps between frames (WindowTableBuilder) and ahead of queries
 * (FlowStoreQueryEngine.prewarm): a capturing node must not make queries wait for a table build, and a
 * table built in steps while packets keep arriving must equal the one built at once.
 */

const GROUPINGS: Grouping[] = ['host', 'src', 'dst', 'pair', 'flow', 'port', 'proto'];
const LOCAL = '198.18.0.0/24';

function localNetworks(): LocalNetworks {
  const networks = new LocalNetworks();
  networks.add(LOCAL);
  return networks;
}

/** A random flow between a local address and an outside one (either direction), or between outsiders. */
function randomFlow(random: SeededRandom): RefFlow {
  const local = ipv4(198, 18, 0, random.range(1, 20));
  const outside = ipv4(198, 19, random.int(40), random.range(1, 254));
  const other = ipv4(198, 19, 100 + random.int(4), random.range(1, 254));
  const protocol = random.chance(0.7) ? 6 : 17;
  const ports: [number, number] = [random.range(1024, 65535), [443, 53, 22, 8080][random.int(4)] as number];
  const kind = random.int(5);
  if (kind === 0) return makeFlow(protocol, outside, other, ...ports);
  return kind % 2 === 0
    ? makeFlow(protocol, local, outside, ...ports)
    : makeFlow(protocol, outside, local, ...ports);
}

/** `flows` random flows over `seconds` seconds from EPOCH_SECOND, then those seconds closed. */
function filledStore(flows: number, seconds: number, maxFlows = 100_000): FlowStore {
  const store = new FlowStore({ maxFlows, localNetworks: localNetworks() });
  const random = new SeededRandom(7);
  const facts = new FactsBuffer();
  for (let i = 0; i < flows; i++) {
    const flow = randomFlow(random);
    const second = EPOCH_SECOND + Math.floor((i * seconds) / flows);
    for (let p = random.range(1, 4); p > 0; p--) {
      store.addPacket(facts.load(flow, 0x18), random.range(60, 1500), second, p);
    }
  }
  store.advanceTo(EPOCH_SECOND + seconds);
  return store;
}

function rowsOf(table: WindowTable): string[] {
  const rows: string[] = [];
  for (let g = 0; g < table.count; g++) {
    rows.push(
      `${table.keyOf(g)} ${table.packets[g]} ${table.bytes[g]} ${table.flows[g]} ${table.forwardPackets[g]} ${table.forwardBytes[g]}`,
    );
  }
  return rows.sort();
}

function summaryOf(table: WindowTable): unknown {
  return {
    rows: rowsOf(table),
    transit: table.transit.map((t) => JSON.stringify(t)).sort(),
    totals: table.totals,
    evicted: table.evicted,
    complete: table.complete,
  };
}

describe('WindowTableBuilder', () => {
  it('builds in steps, while packets keep arriving in the open second, the table built at once', () => {
    const store = filledStore(12_000, 10);
    const members = new LocalNetworks();
    members.add('198.19.100.0/24');
    const random = new SeededRandom(99);
    const facts = new FactsBuffer();
    for (const group of GROUPINGS) {
      const spec = {
        group,
        fromSecond: EPOCH_SECOND + 2,
        toSecond: EPOCH_SECOND + 9,
        filter: null,
        memberNetworks: members,
      };
      const builder = new WindowTableBuilder(store, spec);
      let steps = 0;
      // A deadline already passed: every advance() groups one batch of flows and returns.
      while (!builder.advance(0)) {
        steps++;
        // New flows and more packets of old ones, all in the open second: not part of the range.
        for (let i = 0; i < 500; i++) {
          store.addPacket(facts.load(randomFlow(random), 0x10), 100, EPOCH_SECOND + 10, i);
        }
      }
      expect(steps, group).toBeGreaterThanOrEqual(3);
      expect(builder.stale, group).toBe(false);
      expect(summaryOf(builder.finish()), group).toEqual(summaryOf(computeWindowTable(store, spec)));
    }
  });

  it('reads a range in steps as selectRange reads it at once; a second stepped read makes the first stale', () => {
    const store = filledStore(8_000, 10);
    const first = store.beginRangeRead(EPOCH_SECOND + 1, EPOCH_SECOND + 8);
    let steps = 0;
    while (!first.advance(0)) steps++;
    // One slice per step when the deadline has passed: 8 one-second slices.
    expect(steps).toBe(7);
    expect(first.stale).toBe(false);
    const once = store.selectRange(EPOCH_SECOND + 1, EPOCH_SECOND + 8);
    const stepped = first.result();
    const bySlot = (r: typeof once) =>
      [...r.flows.slots!].map((slot, i) => `${slot}:${r.flows.packets[i]}:${r.flows.bytes[i]}`).sort();
    expect(bySlot(stepped)).toEqual(bySlot(once));
    expect(stepped.totals.packets).toBe(once.totals.packets);
    expect(stepped.coverage).toEqual(once.coverage);

    const older = store.beginRangeRead(EPOCH_SECOND, EPOCH_SECOND + 9);
    older.advance(0);
    store.beginRangeRead(EPOCH_SECOND, EPOCH_SECOND + 9);
    expect(older.stale).toBe(true);
  });

  it('says it is stale when the store evicted flows meanwhile (their slots may name other flows)', () => {
    const store = filledStore(3_000, 5, 4_096);
    const builder = new WindowTableBuilder(store, {
      group: 'host',
      fromSecond: EPOCH_SECOND,
      toSecond: EPOCH_SECOND + 4,
      filter: null,
      memberNetworks: null,
    });
    builder.advance(0);
    expect(builder.stale).toBe(false);
    const random = new SeededRandom(5);
    const facts = new FactsBuffer();
    for (let i = 0; i < 3_000; i++) {
      store.addPacket(facts.load(randomFlow(random), 0x02), 60, EPOCH_SECOND + 5, i);
    }
    expect(store.evictedFlows).toBeGreaterThan(0);
    expect(builder.stale).toBe(true);
  });
});

describe('FlowStoreQueryEngine.prewarm', () => {
  function engineOf(store: FlowStore, nowMs: () => number): FlowStoreQueryEngine {
    return new FlowStoreQueryEngine(
      store,
      { captureInterface: 'test', captureFilter: '', tableTtlMs: 30_000, tableCacheEntries: 4, nowMs },
      'node',
    );
  }

  /** Seconds 0..9 of the filled store, by bytes, no filters or members unless overridden. */
  function windowOf(overrides: Partial<QueryWindow>): QueryWindow {
    return {
      group: 'host',
      by: 'bytes',
      fromSecond: EPOCH_SECOND,
      toSecond: EPOCH_SECOND + 9,
      filters: { cidrs: [], ports: [], protocols: [] },
      memberNetworks: [],
      ...overrides,
    };
  }

  function phaseOne(window: QueryWindow): PhaseRequest {
    return {
      queryId: 'q',
      phase: PHASE_LOCAL_TOP,
      window,
      k: 10,
      threshold: 0,
      keys: [],
    };
  }

  it('builds the next second tables of recent questions in small steps, so the query after finds them ready', () => {
    const store = filledStore(20_000, 10);
    let now = (EPOCH_SECOND + 10) * 1000;
    const engine = engineOf(store, () => now);
    const window = windowOf({ memberNetworks: ['198.19.100.0/24'] });
    engine.mergeNow(phaseOne(window));
    expect(engine.tablesBuiltOnDemand).toBe(1);

    // Traffic in the next second, which then closes: the question's table for it is out of date.
    const random = new SeededRandom(3);
    const facts = new FactsBuffer();
    for (let i = 0; i < 5_000; i++) {
      store.addPacket(facts.load(randomFlow(random), 0x18), 700, EPOCH_SECOND + 10, i);
    }
    store.advanceTo(EPOCH_SECOND + 11);
    now += 1000;
    expect(engine.prewarm()).toBe(true);
    let steps = 0;
    while (engine.prewarmStep(0.2)) steps++;
    expect(steps).toBeGreaterThan(1);
    expect(engine.tablesPrewarmed).toBe(1);
    // Nothing more to build for the same second.
    expect(engine.prewarm()).toBe(false);

    const shifted: QueryWindow = { ...window, fromSecond: EPOCH_SECOND + 1, toSecond: EPOCH_SECOND + 10 };
    const answer = engine.mergeNow(phaseOne(shifted));
    expect(engine.tablesBuiltOnDemand).toBe(1);
    // The same answer a node that never prewarmed gives.
    const fresh = engineOf(store, () => now).mergeNow(phaseOne(shifted));
    expect(answer).toEqual(fresh);
    expect(answer.rows.length).toBe(10);
  });

  it('prewarms at most half the cache in questions, so the tables queries still read stay cached', () => {
    const store = filledStore(6_000, 10);
    const now = (EPOCH_SECOND + 10) * 1000;
    const engine = engineOf(store, () => now);
    const asked: Grouping[] = ['port', 'src', 'dst'];
    for (const group of asked) engine.mergeNow(phaseOne(windowOf({ group })));
    const facts = new FactsBuffer();
    store.addPacket(facts.load(randomFlow(new SeededRandom(8)), 0x18), 700, EPOCH_SECOND + 10, 0);
    store.advanceTo(EPOCH_SECOND + 11);
    engine.prewarm();
    while (engine.prewarmStep(1000)) {}
    // The two most recent questions (a cache of 4 holds their old and new tables).
    expect(engine.tablesPrewarmed).toBe(2);
    const built = engine.tablesBuiltOnDemand;
    for (const group of asked.slice(1)) engine.mergeNow(phaseOne(windowOf({ group })));
    expect(engine.tablesBuiltOnDemand).toBe(built);
  });

  it('forgets questions not asked within the table TTL, and a query finishes a table still being built', () => {
    const store = filledStore(20_000, 10);
    let now = (EPOCH_SECOND + 10) * 1000;
    const engine = engineOf(store, () => now);
    const window = windowOf({
      group: 'pair',
      by: 'packets',
      fromSecond: EPOCH_SECOND + 5,
    });
    engine.mergeNow(phaseOne(window));
    const facts = new FactsBuffer();
    const random = new SeededRandom(4);
    store.addPacket(facts.load(randomFlow(random), 0x18), 700, EPOCH_SECOND + 10, 0);
    store.advanceTo(EPOCH_SECOND + 11);
    expect(engine.prewarm()).toBe(true);
    // One small step, then the query arrives before the table is done: it finishes that build.
    engine.prewarmStep(0);
    const shifted: QueryWindow = { ...window, fromSecond: EPOCH_SECOND + 6, toSecond: EPOCH_SECOND + 10 };
    const answer = engine.mergeNow(phaseOne(shifted));
    expect(answer).toEqual(engineOf(store, () => now).mergeNow(phaseOne(shifted)));
    expect(engine.prewarmStep(1000)).toBe(false);

    // A minute later nobody has asked again: nothing is prewarmed.
    now += 60_000;
    store.addPacket(facts.load(randomFlow(random), 0x18), 700, EPOCH_SECOND + 70, 0);
    store.advanceTo(EPOCH_SECOND + 71);
    expect(engine.prewarm()).toBe(false);
  });
});
