import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryMembership, InMemoryNetwork } from '../../src/membership/in-memory-membership.js';
import { FlowStoreQueryEngine } from '../../src/node/agent/flow-store-query-engine.js';
import { startStoreClock } from '../../src/node/agent/store-clock.js';
import { queryTop } from '../../src/node/flows/top-query.js';
import { ClusterQuery } from '../../src/query/cluster-query.js';
import {
  Grouping,
  type MembershipUpdate,
  type MergeResponse,
  Metric,
  NodeStatus,
  Scope,
  SniffmeshClient,
  type SniffmeshServer,
  type TopTalkersRequest,
  type TopTalkersResponse,
} from '../../src/query/generated/sniffmesh.js';
import { PeerPool } from '../../src/query/peer-pool.js';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { type RunningQueryServer, startQueryServer } from '../../src/query/query-server.js';
import { createQueryService } from '../../src/query/query-service.js';
import { buildMeshTraffic, type MeshTraffic } from '../helpers/mesh-traffic.js';
import { groupRows, rankRows } from '../helpers/naive-traffic-reference.js';
import { topTalkersRequest } from '../helpers/query-requests.js';
import { waitUntil } from '../membership/membership-contract.js';

/**
 * Several nodes in one process, each with a real gRPC server on loopback, a FlowStore holding its part of
 * a generated mesh's traffic, and in-memory membership: the service, fan-out and merge end to end.
 */

interface TestNode {
  name: string;
  membership: InMemoryMembership;
  server: RunningQueryServer;
  peers: PeerPool;
  client: SniffmeshClient;
}

const running: TestNode[] = [];
/** The stores' clocks (a capturing node's capture process runs one): queries never close seconds. */
const clocks: (() => void)[] = [];

afterEach(async () => {
  for (const stop of clocks.splice(0)) stop();
  for (const node of running.splice(0)) {
    node.client.close();
    node.peers.close();
    await node.membership.stop();
    await node.server.close(100);
  }
});

const request = topTalkersRequest;

function call<Res>(invoke: (cb: (error: ServiceError | null, response?: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) =>
    invoke((error, response) => (error ? reject(error) : resolve(response as Res))),
  );
}

function topTalkers(node: TestNode, req: TopTalkersRequest): Promise<TopTalkersResponse> {
  return call((cb) => node.client.topTalkers(req, new Metadata(), { deadline: Date.now() + 10_000 }, cb));
}

/** Starts one node per store; `wrap` may change a node's handlers (a hung or broken node). */
async function startMesh(
  mesh: MeshTraffic,
  wrap: (index: number, handlers: SniffmeshServer) => SniffmeshServer = (_, h) => h,
): Promise<TestNode[]> {
  const network = new InMemoryNetwork({ suspectAfterMs: 150, failAfterMs: 300 });
  const nodes: TestNode[] = [];
  for (let i = 0; i < mesh.stores.length; i++) {
    const name = `node${i}`;
    clocks.push(startStoreClock(mesh.stores[i]!));
    const engine = new FlowStoreQueryEngine(
      mesh.stores[i]!,
      { captureInterface: `veth${i}`, captureFilter: '', tableTtlMs: 30_000, tableCacheEntries: 4 },
      name,
    );
    const membership = new InMemoryMembership(network, `mem-${i}`, {
      name,
      grpc: '',
      version: 'test',
      captureInterface: `veth${i}`,
      captureFilter: '',
      networks: mesh.networks[i]!,
    });
    const peers = new PeerPool(membership, { keepaliveMs: 10_000 });
    const clusterQuery = new ClusterQuery(membership, engine, peers, DEFAULT_QUERY_CONFIG);
    const handlers = createQueryService({
      membership,
      engine,
      clusterQuery,
      config: DEFAULT_QUERY_CONFIG,
      version: 'test',
      startedAtMs: Date.now(),
    });
    const server = await startQueryServer('127.0.0.1:0', wrap(i, handlers));
    await membership.start(i === 0 ? [] : ['mem-0']);
    membership.updateMetadata({ grpc: server.address });
    const client = new SniffmeshClient(server.address, credentials.createInsecure());
    const node = { name, membership, server, peers, client };
    nodes.push(node);
    running.push(node);
  }
  await waitUntil(
    () =>
      nodes.every(
        (n) =>
          n.membership.members().filter((m) => m.state === 'alive' && m.grpc !== '').length === nodes.length,
      ),
    5000,
    'every node sees every other with its gRPC address',
  );
  return nodes;
}

function recentMesh(nodes: number, seed: number, flows: number): MeshTraffic {
  // Stamped a few seconds ago, so the seconds are closed when a query pins its window.
  return buildMeshTraffic({ nodes, seed, flows, startSecond: Math.floor(Date.now() / 1000) - 8, seconds: 5 });
}

describe('the query service, several nodes over gRPC on loopback', () => {
  it('answers a cluster top from any node: equal to brute force over the union, every node ok', async () => {
    const mesh = recentMesh(5, 31, 500);
    const nodes = await startMesh(mesh);
    const truth = rankRows(groupRows(mesh.truth, 'host').values(), 'bytes', 10);
    for (const asked of [nodes[0]!, nodes[3]!]) {
      const answer = await topTalkers(asked, request({ windowSeconds: 60 }));
      expect(answer.rows.map((r) => [r.key, r.bytes, r.packets, r.flows])).toEqual(
        truth.map((r) => [r.key, r.bytes, r.packets, r.flows]),
      );
      expect(answer.nodes.map((n) => [n.name, n.status])).toEqual(
        nodes.map((n) => [n.name, NodeStatus.NODE_STATUS_OK]),
      );
      expect(answer.exact).toBe(true);
      expect(answer.missingNodes).toEqual([]);
      expect(answer.rowsTransferred).toBeGreaterThan(0);
      expect(answer.bytesTransferred).toBeGreaterThan(0);
      expect(answer.windowToSecond - answer.windowFromSecond).toBe(59);
      expect(answer.totals?.ipPackets).toBe(mesh.truth.reduce((s, c) => s + c.packets, 0));
    }
  });

  it('answers local scope from the node asked alone, as analyze would count its capture', async () => {
    const mesh = recentMesh(3, 7, 200);
    const nodes = await startMesh(mesh);
    const answer = await topTalkers(nodes[1]!, request({ scope: Scope.SCOPE_LOCAL, limit: 5 }));
    const own = queryTop(mesh.stores[1]!, { group: 'host', by: 'bytes', limit: 5, windowSeconds: null });
    expect(answer.rows.map((r) => [r.key, r.bytes, r.packets])).toEqual(
      own.rows.map((r) => [r.key, r.bytes, r.packets]),
    );
    expect(answer.nodes.map((n) => n.name)).toEqual(['node1']);
  });

  it('names a hung node as timed out and still answers within the deadline', async () => {
    const mesh = recentMesh(4, 3, 200);
    const nodes = await startMesh(mesh, (i, handlers) =>
      i === 2
        ? {
            ...handlers,
            // Never answers, on either merge path.
            merge: () => {},
            mergeStream: (call) => {
              call.on('data', () => {});
            },
          }
        : handlers,
    );
    const started = performance.now();
    const answer = await topTalkers(nodes[0]!, request({ deadlineMs: 400 }));
    expect(performance.now() - started).toBeLessThan(1000);
    const hung = answer.nodes.find((n) => n.name === 'node2');
    expect(hung?.status).toBe(NodeStatus.NODE_STATUS_TIMEOUT);
    expect(answer.missingNodes).toEqual(['node2']);
    expect(answer.exact).toBe(false);
    expect(answer.nodes.filter((n) => n.status === NodeStatus.NODE_STATUS_OK)).toHaveLength(3);
  });

  it('names a node whose server died (membership not yet aware) as failed, with the reason', async () => {
    const mesh = recentMesh(3, 4, 100);
    const nodes = await startMesh(mesh);
    await nodes[1]!.server.close(0);
    const answer = await topTalkers(nodes[0]!, request({ deadlineMs: 3000 }));
    const dead = answer.nodes.find((n) => n.name === 'node1');
    expect(dead?.status).toBe(NodeStatus.NODE_STATUS_FAILED);
    expect(dead?.error).toMatch(/UNAVAILABLE/);
    expect(answer.missingNodes).toEqual(['node1']);
  });

  it('skips a crashed member once gossip suspects it, and says so', async () => {
    const mesh = recentMesh(3, 5, 100);
    const nodes = await startMesh(mesh);
    await nodes[2]!.membership.stop();
    await waitUntil(
      () => nodes[0]!.membership.members().find((m) => m.name === 'node2')?.state !== 'alive',
      3000,
      'node0 suspects node2',
    );
    const answer = await topTalkers(nodes[0]!, request());
    const crashed = answer.nodes.find((n) => n.name === 'node2');
    expect(crashed?.status).toBe(NodeStatus.NODE_STATUS_SKIPPED);
    expect(crashed?.error).toMatch(/suspect|failed/);
    expect(answer.missingNodes).toEqual(['node2']);
    expect(answer.exact).toBe(false);
  });

  it('asks only the nodes a filter names, and lists the others as skipped (not missing)', async () => {
    const mesh = recentMesh(3, 6, 200);
    const nodes = await startMesh(mesh);
    const answer = await topTalkers(
      nodes[0]!,
      request({ filters: { cidrs: [], ports: [], protocols: [], nodes: ['node1'] } }),
    );
    expect(answer.nodes.map((n) => [n.name, n.status])).toEqual([
      ['node0', NodeStatus.NODE_STATUS_SKIPPED],
      ['node1', NodeStatus.NODE_STATUS_OK],
      ['node2', NodeStatus.NODE_STATUS_SKIPPED],
    ]);
    expect(answer.missingNodes).toEqual([]);
  });

  it('rejects invalid requests with INVALID_ARGUMENT and a message that says what to change', async () => {
    const mesh = recentMesh(2, 9, 20);
    const nodes = await startMesh(mesh);
    const cases: [Partial<TopTalkersRequest>, RegExp][] = [
      [{ group: 42 as Grouping }, /group 42 is not one of host \(1\)/],
      [{ by: 9 as Metric }, /by 9 is not one of bytes/],
      [{ limit: 5000 }, /limit 5000: a cluster query returns at most 1000/],
      [{ deadlineMs: 600_000 }, /deadline_ms 600000: at most 30000/],
      [{ windowSeconds: 10_000_000 }, /window_seconds 10000000: at most 604800/],
      [{ filters: { cidrs: ['10.0.0.0/33'], ports: [], protocols: [], nodes: [] } }, /10\.0\.0\.0\/33/],
      [{ filters: { cidrs: [], ports: [70000], protocols: [], nodes: [] } }, /port 70000/],
      [{ filters: { cidrs: [], ports: [], protocols: [300], nodes: [] } }, /protocol 300/],
      [
        { filters: { cidrs: [], ports: [], protocols: [], nodes: ['nobody'] } },
        /no member named 'nobody' \(members: node0, node1\)/,
      ],
    ];
    for (const [overrides, message] of cases) {
      const error = (await topTalkers(nodes[0]!, request(overrides)).catch(
        (e: ServiceError) => e,
      )) as ServiceError;
      expect(error.code, JSON.stringify(overrides)).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(message);
    }
    // Internal merge requests are checked too.
    const bad = (await call((cb) =>
      nodes[1]!.client.merge(
        { queryId: 'x', window: undefined, phase: 1, k: 10, threshold: 0, keys: [], requestId: 0 },
        new Metadata(),
        { deadline: Date.now() + 2000 },
        cb,
      ),
    ).catch((e: ServiceError) => e)) as ServiceError;
    expect(bad.code, bad.details).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/without a window/);
  });

  it('answers a bad request on the internal MergeStream with its own error, and keeps the stream serving', async () => {
    const mesh = recentMesh(2, 10, 50);
    const nodes = await startMesh(mesh);
    const stream = nodes[1]!.client.mergeStream();
    const answers: MergeResponse[] = [];
    stream.on('data', (answer: MergeResponse) => answers.push(answer));
    const base = { queryId: 'x', phase: 1, k: 5, threshold: 0, keys: [] };
    stream.write({ ...base, requestId: 1, window: undefined });
    stream.write({
      ...base,
      requestId: 2,
      window: {
        group: Grouping.GROUPING_HOST,
        by: Metric.METRIC_BYTES,
        fromSecond: 0,
        toSecond: Math.floor(Date.now() / 1000) - 2,
        filters: undefined,
        memberNetworks: [],
      },
    });
    stream.write({
      ...base,
      requestId: 3,
      window: {
        group: 99 as Grouping,
        by: Metric.METRIC_BYTES,
        filters: undefined,
        fromSecond: 0,
        toSecond: 1,
        memberNetworks: [],
      },
    });
    await waitUntil(() => answers.length === 3, 5000, 'three answers on the stream');
    stream.end();
    const byId = new Map(answers.map((a) => [a.requestId, a]));
    expect(byId.get(1)?.errorCode).toBe(status.INVALID_ARGUMENT);
    expect(byId.get(1)?.error).toMatch(/without a window/);
    expect(byId.get(3)?.errorCode).toBe(status.INVALID_ARGUMENT);
    expect(byId.get(2)?.errorCode).toBe(0);
    expect(byId.get(2)?.rows.length).toBe(5);
  });

  it('serves Members, Stats, and WatchMembers as a snapshot then events', async () => {
    const mesh = recentMesh(3, 12, 100);
    const nodes = await startMesh(mesh);
    const members = await call<{ members: { name: string; grpc: string; local: boolean }[] }>((cb) =>
      nodes[0]!.client.members({}, cb),
    );
    expect(members.members.map((m) => m.name).sort()).toEqual(['node0', 'node1', 'node2']);
    expect(members.members.find((m) => m.local)?.name).toBe('node0');
    const stats = await call<{ name: string; packets: number; flows: number }>((cb) =>
      nodes[1]!.client.stats({}, cb),
    );
    expect(stats.name).toBe('node1');
    expect(stats.packets).toBe(mesh.stores[1]!.select(null).totals.packets);
    expect(stats.flows).toBe(mesh.stores[1]!.table.count);

    const updates: MembershipUpdate[] = [];
    const stream = nodes[0]!.client.watchMembers({});
    stream.on('data', (update: MembershipUpdate) => updates.push(update));
    stream.on('error', () => {});
    await waitUntil(() => updates.length >= 1, 2000, 'snapshot');
    expect(updates[0]?.snapshot?.members).toHaveLength(3);
    await nodes[2]!.membership.leave();
    await waitUntil(
      () => updates.some((u) => u.event?.member?.name === 'node2' && u.event.type === 5),
      3000,
      'a left event for node2',
    );
    stream.cancel();
  });

  it('reuses one connection per peer and closes it when the peer leaves', async () => {
    const mesh = recentMesh(3, 13, 50);
    const nodes = await startMesh(mesh);
    await topTalkers(nodes[0]!, request());
    await topTalkers(nodes[0]!, request());
    expect(nodes[0]!.peers.size).toBe(2);
    await nodes[1]!.membership.leave();
    await waitUntil(() => nodes[0]!.peers.size === 1, 2000, 'the leaving peer connection closed');
  });
});
