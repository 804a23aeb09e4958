import { FlowStore } from '../../src/node/flows/flow-store.js';
import { GROUPINGS, METRICS } from '../../src/node/flows/key-vocabulary.js';
import { LocalNetworks } from '../../src/node/flows/local-networks.js';
import { queryTop, type TopReport } from '../../src/node/flows/top-query.js';
import { computeWindowTable } from '../../src/node/flows/window-table.js';
import { FactsBuffer, ipv4, makeFlow, type RefFlow } from './naive-traffic-reference.js';
import { SeededRandom } from './seeded-random.js';

/**
 * Two stores fed exactly the same traffic, for tests that something done to one (a query) changes nothing
 * it stores: everything a later question can read is compared with the other, which never got it.
 */

const LOCAL = '198.18.0.0/24';

export function newStore(): FlowStore {
  const local = new LocalNetworks();
  local.add(LOCAL);
  return new FlowStore({ maxFlows: 50_000, localNetworks: local });
}

/** Random flows between local and outside addresses (both directions) and between outsiders. */
function randomFlow(random: SeededRandom): RefFlow {
  const local = ipv4(198, 18, 0, random.range(1, 20));
  const outside = ipv4(198, 19, random.int(20), random.range(1, 254));
  const other = ipv4(198, 19, 100 + random.int(4), random.range(1, 254));
  const protocol = random.chance(0.7) ? 6 : 17;
  const ports: [number, number] = [random.range(1024, 65535), [443, 53, 22][random.int(3)] as number];
  const kind = random.int(4);
  if (kind === 0) return makeFlow(protocol, outside, other, ...ports);
  return kind === 1
    ? makeFlow(protocol, local, outside, ...ports)
    : makeFlow(protocol, outside, local, ...ports);
}

/** `perSecond` packets in each second of [fromSecond, toSecond], the same for every store given. */
export function feed(
  stores: FlowStore[],
  fromSecond: number,
  toSecond: number,
  seed: number,
  perSecond = 150,
): void {
  const random = new SeededRandom(seed);
  const facts = new FactsBuffer();
  for (let second = fromSecond; second <= toSecond; second++) {
    for (let i = 0; i < perSecond; i++) {
      const flow = randomFlow(random);
      const size = random.range(60, 1500);
      const nanos = random.int(1_000_000_000);
      for (const store of stores) store.addPacket(facts.load(flow, 0x18), size, second, nanos);
    }
  }
}

/** Every answer a later question could get from `store`, for comparing two stores. */
export function everythingReadable(store: FlowStore, newestSecond: number, oldestSecond: number): unknown {
  const reports: TopReport[] = [];
  for (const group of GROUPINGS) {
    for (const by of METRICS) {
      for (const windowSeconds of [null, 1, 3, 10, 30]) {
        reports.push(queryTop(store, { group, by, limit: 50, windowSeconds }));
      }
    }
  }
  const tables: unknown[] = [];
  for (const group of GROUPINGS) {
    for (let to = oldestSecond; to <= newestSecond; to += 5) {
      const table = computeWindowTable(store, {
        group,
        fromSecond: oldestSecond,
        toSecond: to,
        filter: null,
        memberNetworks: null,
      });
      const rows = Array.from({ length: table.count }, (_, g) => [
        table.keyOf(g),
        table.packets[g],
        table.bytes[g],
        table.forwardBytes[g],
      ]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
      tables.push({ rows, totals: table.totals, transit: table.transit.length, to: table.toSecond });
    }
  }
  return { lastClosed: store.lastClosedSecond, reports, tables };
}

/**
 * A store with 18 seconds of random traffic ending 3 seconds ago, every one of them closed: the data of
 * the query-service tests that ask one real node about its recent past.
 */
export function recentStore(): FlowStore {
  const store = newStore();
  const now = Math.floor(Date.now() / 1000);
  feed([store], now - 20, now - 3, 5, 100);
  store.advanceTo(now - 2);
  return store;
}
