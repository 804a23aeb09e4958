import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowStoreQueryEngine } from '../../src/node/agent/flow-store-query-engine.js';
import type { FlowStore } from '../../src/node/flows/flow-store.js';
import { GROUPING_MODE, GROUPINGS, METRIC_CODE } from '../../src/node/flows/key-vocabulary.js';
import { clusterTop, type MergeAnswer, type MergeHint, mergeTransit } from '../../src/query/cluster-top.js';
import {
  type MergeRequest,
  MergeResponse,
  type MergeWindow,
  type TopRow,
} from '../../src/query/generated/sniffmesh.js';
import { mergeResponseToWire } from '../../src/query/phase-wire.js';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { validateMergeRequest } from '../../src/query/request-validation.js';
import { PeerCallError } from '../../src/query/service-errors.js';
import { buildMeshTraffic, type MeshTraffic } from '../helpers/mesh-traffic.js';
import { groupRows, type RefGrouping, type RefRow, rankRows } from '../helpers/naive-traffic-reference.js';

function engines(mesh: MeshTraffic): FlowStoreQueryEngine[] {
  return mesh.stores.map(
    (store: FlowStore, i) =>
      new FlowStoreQueryEngine(
        store,
        { captureInterface: `node${i}`, captureFilter: '', tableTtlMs: 30_000, tableCacheEntries: 4 },
        `node${i}`,
      ),
  );
}

/** What the query service does with a peer's request (query-service.ts merge). */
async function askEngine(engine: FlowStoreQueryEngine, request: MergeRequest): Promise<MergeAnswer> {
  const response = mergeResponseToWire(
    await engine.merge(validateMergeRequest(request, DEFAULT_QUERY_CONFIG)),
  );
  return { response, bytes: MergeResponse.encode(response).finish().length };
}

function windowOf(mesh: MeshTraffic, group: RefGrouping, by: 'bytes' | 'packets'): MergeWindow {
  return {
    group: GROUPING_MODE[group],
    by: METRIC_CODE[by],
    fromSecond: mesh.firstSecond,
    toSecond: mesh.lastSecond,
    filters: undefined,
    memberNetworks: mesh.networks.flat(),
  };
}

async function runCluster(
  mesh: MeshTraffic,
  group: RefGrouping,
  by: 'bytes' | 'packets',
  k: number,
  nodes = engines(mesh),
  hint?: MergeHint,
) {
  return clusterTop({
    queryId: 'test',
    ...(hint === undefined ? {} : { hint }),
    window: windowOf(mesh, group, by),
    k,
    targets: nodes,
    deadlineAt: performance.now() + 10_000,
    concurrency: 8,
    ask: askEngine,
  });
}

function expected(mesh: MeshTraffic, group: RefGrouping, by: 'bytes' | 'packets', k: number): RefRow[] {
  return rankRows(groupRows(mesh.truth, group).values(), by, k);
}

/** The fields the reference knows, in its shape (forward parts only for host and pair). */
function comparable(rows: readonly TopRow[], group: RefGrouping): RefRow[] {
  return rows.map((row) => {
    const out: RefRow = { key: row.key, packets: row.packets, bytes: row.bytes, flows: row.flows };
    if (group === 'host' || group === 'pair') {
      out.forwardPackets = row.forwardPackets;
      out.forwardBytes = row.forwardBytes;
    }
    return out;
  });
}

describe('clusterTop over in-process nodes (TPUT, counting rule, transit by max)', () => {
  it('equals brute force over the union of every node data, for every grouping and metric', async () => {
    const mesh = buildMeshTraffic({ nodes: 5, seed: 11, flows: 600 });
    for (const group of GROUPINGS) {
      for (const by of ['bytes', 'packets'] as const) {
        const result = await runCluster(mesh, group, by, 10);
        expect(comparable(result.rows, group), `${group} by ${by}`).toEqual(expected(mesh, group, by, 10));
        expect(result.nodes.every((n) => n.status === 'ok')).toBe(true);
      }
    }
  });

  it('counts every packet once: cluster totals equal the distinct packets, though members share many', async () => {
    const mesh = buildMeshTraffic({ nodes: 4, seed: 5, flows: 400 });
    const truthPackets = mesh.truth.reduce((sum, c) => sum + c.packets, 0);
    const truthBytes = mesh.truth.reduce((sum, c) => sum + c.bytes, 0);
    const capturedPackets = mesh.stores.reduce((sum, s) => sum + s.select(null).totals.packets, 0);
    // The setup really does capture shared packets more than once...
    expect(capturedPackets).toBeGreaterThan(truthPackets * 1.2);
    const result = await runCluster(mesh, 'host', 'bytes', 10);
    // ...and the answer counts each once.
    expect(result.totals.ipPackets).toBe(truthPackets);
    expect(result.totals.ipBytes).toBe(truthBytes);
  });

  it('equals brute force for random meshes, sizes and k (property-based)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          nodes: fc.integer({ min: 1, max: 8 }),
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          flows: fc.integer({ min: 1, max: 300 }),
          k: fc.integer({ min: 1, max: 25 }),
          group: fc.constantFrom(...GROUPINGS),
          by: fc.constantFrom('bytes' as const, 'packets' as const),
          transitShare: fc.double({ min: 0, max: 0.6, noNaN: true }),
        }),
        async ({ nodes, seed, flows, k, group, by, transitShare }) => {
          const mesh = buildMeshTraffic({ nodes, seed, flows, transitShare, outsiderShare: 0.3 });
          const result = await runCluster(mesh, group, by, k);
          expect(comparable(result.rows, group)).toEqual(expected(mesh, group, by, k));
        },
      ),
      { numRuns: 60, seed: 4242 },
    );
  });

  it('stays exact with any hint, and a repeated question takes one round trip with the last hint', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          k: fc.integer({ min: 1, max: 15 }),
          group: fc.constantFrom('host' as const, 'src' as const, 'port' as const, 'flow' as const),
          threshold: fc.double({ min: 0, max: 5000, noNaN: true }),
          keyCount: fc.integer({ min: 0, max: 30 }),
        }),
        async ({ seed, k, group, threshold, keyCount }) => {
          const mesh = buildMeshTraffic({ nodes: 5, seed, flows: 250 });
          const keys = [...groupRows(mesh.truth, group).keys()].slice(0, keyCount);
          const hinted = await runCluster(mesh, group, 'bytes', k, engines(mesh), { threshold, keys });
          expect(comparable(hinted.rows, group)).toEqual(expected(mesh, group, 'bytes', k));
        },
      ),
      { numRuns: 40, seed: 77 },
    );
    const mesh = buildMeshTraffic({ nodes: 6, seed: 9, flows: 500 });
    const nodes = engines(mesh);
    const first = await runCluster(mesh, 'host', 'bytes', 10, nodes);
    const again = await runCluster(mesh, 'host', 'bytes', 10, nodes, first.nextHint);
    expect(again.rows).toEqual(first.rows);
    expect(first.phases).toBeGreaterThan(1);
    expect(again.phases).toBe(1);
  });

  it('finds the key that is 11th on every node but 1st cluster-wide, shipping far less than every table', async () => {
    // Every node: 10 senders of its own with 1000 packets each, and one shared sender with 950 each.
    const mesh = buildMeshTraffic({ nodes: 8, seed: 3, flows: 0 });
    const { FactsBuffer, ipv4, makeFlow } = await import('../helpers/naive-traffic-reference.js');
    const facts = new FactsBuffer();
    const truth = new Map<string, { flow: ReturnType<typeof makeFlow>; packets: number; bytes: number }>();
    const shared = ipv4(192, 0, 2, 99);
    const second = mesh.lastSecond + 1;
    mesh.stores.forEach((store, node) => {
      const to = ipv4(10, 0, node, 1);
      const add = (flow: ReturnType<typeof makeFlow>, packets: number) => {
        facts.load(flow, 0);
        for (let p = 0; p < packets; p++) store.addPacket(facts, 100, second, 0);
        truth.set(flow.id, { flow, packets, bytes: packets * 100 });
      };
      for (let s = 0; s < 10; s++) add(makeFlow(17, ipv4(192, 0, 2 + node, 10 + s), to, 5000, 53), 1000);
      add(makeFlow(17, shared, to, 5000 + node, 53), 950);
      for (let s = 0; s < 200; s++) add(makeFlow(17, ipv4(203, 0, node, s), to, 6000, 53), 1 + (s % 7));
      store.advanceTo(second + 1);
    });
    const adversarial: MeshTraffic = {
      ...mesh,
      truth: [...truth.values()],
      firstSecond: second,
      lastSecond: second,
    };
    const result = await runCluster(adversarial, 'src', 'packets', 10);
    expect(result.rows[0]?.key).toBe('192.0.2.99');
    expect(comparable(result.rows, 'src')).toEqual(expected(adversarial, 'src', 'packets', 10));
    // Merging local top-10 lists would miss it entirely: it is 11th on every node.
    const shipEverything = mesh.stores.length * 211;
    expect(result.rowsTransferred).toBeLessThan(shipEverything * 0.2);
  });

  it('breaks ties by key, the same on every run', async () => {
    const mesh = buildMeshTraffic({ nodes: 3, seed: 8, flows: 200, maxPacketsPerFlow: 1 });
    const a = await runCluster(mesh, 'flow', 'packets', 20);
    const b = await runCluster(mesh, 'flow', 'packets', 20);
    expect(a.rows).toEqual(b.rows);
    expect(comparable(a.rows, 'flow')).toEqual(expected(mesh, 'flow', 'packets', 20));
  });

  it('leaves out a node that fails in a later phase, names it, and sums the others consistently', async () => {
    const mesh = buildMeshTraffic({ nodes: 4, seed: 21, flows: 300, transitShare: 0 });
    const nodes = engines(mesh);
    const result = await clusterTop({
      queryId: 'fail',
      window: windowOf(mesh, 'host', 'bytes'),
      k: 5,
      targets: nodes,
      deadlineAt: performance.now() + 5000,
      concurrency: 4,
      ask: async (engine, request) => {
        if (engine === nodes[2] && request.phase !== 1) throw new PeerCallError(14, 'connection reset');
        return askEngine(engine, request);
      },
    });
    const failed = result.nodes.filter((n) => n.status !== 'ok');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.target).toBe(nodes[2]);
    expect(failed[0]?.error).toContain('UNAVAILABLE');
    expect(failed[0]?.phase).toBe(2);
    // The status code stays data up to the answer (nodes[].code).
    expect(failed[0]?.code).toBe(14);
  });

  it('answers by the deadline when a node hangs, naming it as timed out', async () => {
    const mesh = buildMeshTraffic({ nodes: 3, seed: 2, flows: 100 });
    const nodes = engines(mesh);
    const started = performance.now();
    const result = await clusterTop({
      queryId: 'hang',
      window: windowOf(mesh, 'host', 'bytes'),
      k: 5,
      targets: nodes,
      deadlineAt: started + 300,
      concurrency: 4,
      ask: async (engine, request) => {
        if (engine === nodes[1]) return new Promise(() => {});
        return askEngine(engine, request);
      },
    });
    expect(performance.now() - started).toBeLessThan(600);
    expect(result.nodes.map((n) => n.status)).toEqual(['ok', 'timeout', 'ok']);
    expect(result.nodes.map((n) => n.code)).toEqual([0, 4, 0]);
    expect(result.rows.length).toBeGreaterThan(0);
  });
});

describe('mergeTransit', () => {
  it('merges the same flow seen by several nodes by max, and different flows by sum', () => {
    const flow = (name: string, packets: number, bytes: number) => ({
      flow: name,
      groups: ['198.51.100.1', '198.51.100.2'],
      packets,
      bytes,
      forwardPackets: [packets, 0],
      forwardBytes: [bytes, 0],
    });
    const merged = mergeTransit([flow('a', 10, 1000), flow('a', 8, 1100), flow('b', 1, 60)]);
    expect(merged.packets).toBe(11);
    expect(merged.bytes).toBe(1160);
    expect(merged.rows.get('198.51.100.1')).toEqual({
      key: '198.51.100.1',
      packets: 11,
      bytes: 1160,
      flows: 2,
      forwardPackets: 11,
      forwardBytes: 1160,
    });
  });
});
