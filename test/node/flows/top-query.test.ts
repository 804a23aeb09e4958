import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowStore } from '../../../src/node/flows/flow-store.js';
import { GROUPINGS, METRICS, type ReportRow as TopRow } from '../../../src/node/flows/key-vocabulary.js';
import { LocalNetworks } from '../../../src/node/flows/local-networks.js';
import { queryTop, type TopQuery } from '../../../src/node/flows/top-query.js';
import {
  FactsBuffer,
  flowText,
  groupRows,
  ipv4,
  ipv6,
  makeFlow,
  NaiveTrafficReference,
  protocolText,
  type RefCounters,
  type RefFlow,
  type RefGrouping,
  type RefRow,
  rankRows,
} from '../../helpers/naive-traffic-reference.js';
import { EPOCH_SECOND, replay, trafficStreamArbitrary } from '../../helpers/random-traffic.js';
import { SeededRandom } from '../../helpers/seeded-random.js';

const ROOMY_MAX_FLOWS = 1 << 14;
const FAST_CHECK_SEED = 5_344;
const FAST_CHECK_RUNS = 60;
const LIMITS = [0, 1, 3, 7];
const WINDOWS: (number | null)[] = [null, 1, 10, 300];
const TCP_FLAG_LETTERS = 'FSRPAUEC';

/** The row fields the reference can predict, per grouping. */
function comparable(group: RefGrouping, row: TopRow): RefRow {
  const out: RefRow = { key: row.key, packets: row.packets, bytes: row.bytes, flows: row.flows };
  if (group === 'host') {
    out.forwardPackets = row.sentPackets as number;
    out.forwardBytes = row.sentBytes as number;
    expect(row.receivedPackets).toBe(row.packets - (row.sentPackets as number));
    expect(row.receivedBytes).toBe(row.bytes - (row.sentBytes as number));
  } else if (group === 'pair') {
    out.forwardPackets = row.forwardPackets as number;
    out.forwardBytes = row.forwardBytes as number;
    expect(row.reversePackets).toBe(row.packets - (row.forwardPackets as number));
    expect(row.reverseBytes).toBe(row.bytes - (row.forwardBytes as number));
  }
  return out;
}

function flagsText(flags: number): string {
  let text = '';
  for (let bit = 0; bit < 8; bit++) if (flags & (1 << bit)) text += TCP_FLAG_LETTERS[bit];
  return text;
}

function referenceFlows(reference: NaiveTrafficReference, windowSeconds: number | null): RefCounters[] {
  const selected = windowSeconds === null ? reference.everything() : reference.window(windowSeconds);
  return [...selected.flows.values()];
}

function expectAnswer(store: FlowStore, reference: NaiveTrafficReference, query: TopQuery): void {
  const context = JSON.stringify(query);
  const report = queryTop(store, query);
  const flows = referenceFlows(reference, query.windowSeconds);
  const groups = groupRows(flows, query.group);
  const want = rankRows(groups.values(), query.by, query.limit);
  expect(
    report.rows.map((r) => comparable(query.group, r)),
    context,
  ).toEqual(want);
  expect(report.groups, context).toBe(groups.size);
  const selected =
    query.windowSeconds === null ? reference.everything() : reference.window(query.windowSeconds);
  const undecodedPackets = selected.undecodedPackets.reduce((a, b) => a + b, 0);
  const undecodedBytes = selected.undecodedBytes.reduce((a, b) => a + b, 0);
  expect(report.totals, context).toEqual({
    packets: selected.packets,
    bytes: selected.bytes,
    ipPackets: selected.packets - undecodedPackets,
    ipBytes: selected.bytes - undecodedBytes,
  });
  expect(report.undecoded, context).toEqual({
    'unsupported-link-type': selected.undecodedPackets[1],
    truncated: selected.undecodedPackets[2],
    'bad-header': selected.undecodedPackets[3],
    'not-ip': selected.undecodedPackets[4],
  });
  expect(report.evicted, context).toEqual({ flows: 0, packets: 0, bytes: 0, inNoRowPackets: 0 });
  if (query.windowSeconds !== null) {
    expect(report.window, context).toEqual({
      seconds: query.windowSeconds,
      from: selected.from,
      to: selected.to,
      complete: selected.complete,
    });
    expect(report.exact, context).toBe(selected.complete);
  } else {
    expect(report.window.seconds).toBeNull();
    expect(report.window.to).toBe(reference.newest < 0 ? null : reference.newest);
    expect(report.exact, context).toBe(true);
  }
  if (query.group === 'flow') {
    const byText = new Map(flows.map((c) => [flowText(c.flow), c.flow]));
    for (const row of report.rows) {
      const f = byText.get(row.key)!;
      const all = reference.allTime.get(f.id)!;
      const extra: Record<string, unknown> = {
        protocol: protocolText(f.protocol),
        src: f.src.text,
        dst: f.dst.text,
        srcPort: f.srcPort,
        dstPort: f.dstPort,
        firstSeen: all.firstSeen,
        lastSeen: all.lastSeen,
        direction: 'unknown',
      };
      if (f.protocol === 6) extra.tcpFlags = flagsText(all.tcpFlags);
      const { key: _k, bytes: _b, packets: _p, flows: _f, ...rest } = row;
      expect(rest, `${context}: ${row.key}`).toEqual(extra);
    }
  }
}

describe('queryTop against a naive reference on random streams', () => {
  it('answers every grouping, metric, limit and window like the reference', () => {
    fc.assert(
      fc.property(trafficStreamArbitrary({ maxOps: 250, maxStepSeconds: 30 }), (stream) => {
        const store = new FlowStore({ maxFlows: ROOMY_MAX_FLOWS });
        const reference = new NaiveTrafficReference();
        replay(stream, store, reference);
        for (const group of GROUPINGS)
          for (const by of METRICS)
            for (const limit of LIMITS)
              for (const windowSeconds of WINDOWS)
                expectAnswer(store, reference, { group, by, limit, windowSeconds });
      }),
      { seed: FAST_CHECK_SEED, numRuns: FAST_CHECK_RUNS },
    );
  });
});

describe('queryTop ranking', () => {
  const facts = new FactsBuffer();
  const server = ipv4(198, 18, 0, 1);

  function storeWith(traffic: [RefFlow, number, number][]): FlowStore {
    const store = new FlowStore({ maxFlows: 64 });
    for (const [flow, packets, bytes] of traffic)
      for (let i = 0; i < packets; i++) store.addPacket(facts.load(flow, 0), bytes, EPOCH_SECOND, i);
    store.closeAll();
    return store;
  }

  it('breaks ties by key ascending as text, also where the limit cuts through a tie', () => {
    const clients = [2, 10, 3, 100, 25].map((d) => ipv4(198, 18, 1, d));
    const store = storeWith([
      ...clients.map((c): [RefFlow, number, number] => [makeFlow(17, c, server, 5000, 53), 1, 100]),
      [makeFlow(17, ipv4(198, 18, 9, 9), server, 5000, 53), 2, 100],
    ]);
    const top = queryTop(store, { group: 'src', by: 'bytes', limit: 4, windowSeconds: null });
    // "198.18.1.10" < "198.18.1.100" < "198.18.1.2" as strings.
    expect(top.rows.map((r) => r.key)).toEqual(['198.18.9.9', '198.18.1.10', '198.18.1.100', '198.18.1.2']);
    expect(top.groups).toBe(6);
    const byPackets = queryTop(store, { group: 'src', by: 'packets', limit: 0, windowSeconds: 60 });
    expect(byPackets.rows.map((r) => r.key)).toEqual([
      '198.18.9.9',
      '198.18.1.10',
      '198.18.1.100',
      '198.18.1.2',
      '198.18.1.25',
      '198.18.1.3',
    ]);
  });

  it('ranks by the chosen metric: bytes and packets can disagree', () => {
    const mice = makeFlow(17, ipv4(198, 18, 0, 2), server, 1000, 53);
    const elephant = makeFlow(6, ipv4(198, 18, 0, 3), server, 40000, 443);
    const store = storeWith([
      [mice, 10, 60],
      [elephant, 2, 1500],
    ]);
    expect(queryTop(store, { group: 'flow', by: 'bytes', limit: 1, windowSeconds: null }).rows[0].key).toBe(
      flowText(elephant),
    );
    expect(queryTop(store, { group: 'flow', by: 'packets', limit: 1, windowSeconds: null }).rows[0].key).toBe(
      flowText(mice),
    );
  });

  it('keeps an IPv4 host and an IPv6 host with the same address words apart', () => {
    const v4 = ipv4(198, 18, 0, 9);
    const v6 = ipv6([0xc612, 0x0009, 0, 0, 0, 0, 0, 0]);
    const peer6 = ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    const store = storeWith([
      [makeFlow(17, v4, server, 1, 2), 1, 100],
      [makeFlow(17, v6, peer6, 1, 2), 1, 100],
    ]);
    const hosts = queryTop(store, { group: 'host', by: 'bytes', limit: 0, windowSeconds: null });
    expect(hosts.rows.map((r) => r.key).sort()).toEqual([
      '198.18.0.1',
      '198.18.0.9',
      '2001:db8::1',
      'c612:9::',
    ]);
  });

  it('names flows, ports and protocols as the README shows', () => {
    const a6 = ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]);
    const b6 = ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20]);
    const store = storeWith([
      [makeFlow(6, ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 2), 40000, 443), 1, 100],
      [makeFlow(1, ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 2), 0, (8 << 8) | 0), 1, 100],
      [makeFlow(17, a6, b6, 50000, 53), 1, 100],
      [makeFlow(47, ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 2), 0, 0), 1, 100],
    ]);
    const flowKeys = queryTop(store, { group: 'flow', by: 'bytes', limit: 0, windowSeconds: null }).rows.map(
      (r) => r.key,
    );
    expect(flowKeys.sort()).toEqual([
      'gre 198.18.0.1 > 198.18.0.2',
      'icmp 198.18.0.1 > 198.18.0.2 type 8 code 0',
      'tcp 198.18.0.1:40000 > 198.18.0.2:443',
      'udp [2001:db8::10]:50000 > [2001:db8::20]:53',
    ]);
    const portKeys = queryTop(store, { group: 'port', by: 'bytes', limit: 0, windowSeconds: null }).rows.map(
      (r) => r.key,
    );
    expect(portKeys.sort()).toEqual(['gre', 'icmp', 'tcp/443', 'udp/53']);
  });
});

describe('queryTop directions', () => {
  it('marks flows sent, received, local or transit from the local networks', () => {
    const local = new LocalNetworks();
    local.add('198.18.0.0/24');
    local.add('2001:db8:1::/48');
    const store = new FlowStore({ maxFlows: 64, localNetworks: local });
    const facts = new FactsBuffer();
    const inside = ipv4(198, 18, 0, 5);
    const inside2 = ipv4(198, 18, 0, 6);
    const outside = ipv4(198, 19, 0, 5);
    const outside2 = ipv4(198, 19, 0, 6);
    const inside6 = ipv6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 1]);
    const outside6 = ipv6([0x2001, 0xdb8, 2, 0, 0, 0, 0, 1]);
    const cases: [RefFlow, string][] = [
      [makeFlow(17, inside, outside, 1, 2), 'sent'],
      [makeFlow(17, outside, inside, 2, 1), 'received'],
      [makeFlow(17, inside, inside2, 3, 4), 'local'],
      [makeFlow(17, outside, outside2, 5, 6), 'transit'],
      [makeFlow(17, inside6, outside6, 7, 8), 'sent'],
      [makeFlow(17, outside6, inside6, 8, 7), 'received'],
    ];
    for (const [flow] of cases) store.addPacket(facts.load(flow, 0), 100, EPOCH_SECOND, 0);
    const rows = queryTop(store, { group: 'flow', by: 'bytes', limit: 0, windowSeconds: null }).rows;
    const directions = new Map(rows.map((r) => [r.key, r.direction]));
    for (const [flow, direction] of cases)
      expect(directions.get(flowText(flow)), flowText(flow)).toBe(direction);
  });
});

describe('queryTop under eviction', () => {
  it('keeps evicted traffic in address and service rows, and says flow and pair rows are not exact', () => {
    const maxFlows = 64;
    const store = new FlowStore({ maxFlows });
    const reference = new NaiveTrafficReference();
    const facts = new FactsBuffer();
    const random = new SeededRandom(3);
    const heavy = makeFlow(6, ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 2), 40000, 443);
    for (let i = 0; i < 50; i++) {
      store.addPacket(facts.load(heavy, 0), 1500, EPOCH_SECOND, i);
      reference.packet(heavy, 1500, EPOCH_SECOND, i, 0);
    }
    for (let i = 0; i < 5000; i++) {
      const second = EPOCH_SECOND + 1 + Math.floor(i / 500);
      const flow =
        i % 20 === 0
          ? heavy
          : makeFlow(
              17,
              ipv4(198, 19, random.int(256), random.int(256)),
              ipv4(198, 18, 0, 2),
              random.range(1024, 65535),
              53,
            );
      const bytes = flow === heavy ? 1500 : 80;
      store.addPacket(facts.load(flow, 0), bytes, second, i);
      reference.packet(flow, bytes, second, i, 0);
    }
    store.closeAll();
    reference.closeAll();
    for (const group of GROUPINGS) {
      const report = queryTop(store, { group, by: 'bytes', limit: 0, windowSeconds: null });
      expect(report.evicted.flows).toBe(store.evictedFlows);
      expect(report.evicted.flows).toBeGreaterThan(0);
      const rowsKeepEvictions = group !== 'flow' && group !== 'pair';
      expect(report.exact, group).toBe(rowsKeepEvictions);
      expect(report.evicted.inNoRowPackets, group).toBe(rowsKeepEvictions ? 0 : report.evicted.packets);
      expect(report.totals).toEqual({
        packets: reference.packets,
        bytes: reference.bytes,
        ipPackets: reference.packets,
        ipBytes: reference.bytes,
      });
      if (group !== 'host') {
        // Each flow lands in exactly one row: evicted flows' traffic is in the rows for src, dst, port
        // and proto (kept per address and service), and outside them for flow and pair.
        const rowBytes = report.rows.reduce((n, r) => n + r.bytes, 0);
        expect(rowBytes + (rowsKeepEvictions ? 0 : report.evicted.bytes), group).toBe(reference.bytes);
      }
      if (group === 'dst') {
        // The flood's victim is the heavy hitter, and its row is exact although most of its flows were evicted.
        expect(report.rows[0]).toMatchObject({
          key: '198.18.0.2',
          bytes: reference.bytes,
          packets: reference.packets,
        });
      }
    }
    // Windows too: evicted flows' history moved into per-slice residue, so the victim stays exact.
    let completeWindows = 0;
    for (const windowSeconds of [1, 2, 3, 7, 11]) {
      const want = reference.window(windowSeconds);
      const report = queryTop(store, { group: 'dst', by: 'bytes', limit: 1, windowSeconds });
      // With 64 flows the history budget (3 entries per flow) holds only the newest seconds.
      if (!report.window.complete) {
        expect(report.exact).toBe(false);
        expect(report.rows[0].bytes).toBeLessThan(want.bytes);
        continue;
      }
      expect(report.rows[0], `window ${windowSeconds}`).toMatchObject({
        key: '198.18.0.2',
        bytes: want.bytes,
        packets: want.packets,
      });
      // Per-slice residue keeps the heaviest addresses; the flood's one-packet sources may be folded
      // (then in no row, and the answer says it is not exact), the victim never.
      expect(report.exact, `window ${windowSeconds}`).toBe(report.evicted.inNoRowPackets === 0);
      completeWindows++;
    }
    expect(completeWindows).toBeGreaterThan(0);
    const top = queryTop(store, { group: 'flow', by: 'bytes', limit: 1, windowSeconds: null });
    expect(top.rows[0].key).toBe(flowText(heavy));
    expect(top.rows[0].bytes).toBe(reference.allTime.get(heavy.id)!.bytes);
    expect(top.rows[0].errorBytes).toBeUndefined();
  });
});
