import { configForPreset } from '../../src/membership/membership-config.js';
import { SwimMembership } from '../../src/membership/swim-membership.js';
import { FlowStoreQueryEngine } from '../../src/node/agent/flow-store-query-engine.js';
import { startStoreClock } from '../../src/node/agent/store-clock.js';
import { FlowStore } from '../../src/node/flows/flow-store.js';
import { LocalNetworks } from '../../src/node/flows/local-networks.js';
import { ClusterQuery } from '../../src/query/cluster-query.js';
import { PeerPool } from '../../src/query/peer-pool.js';
import { DEFAULT_QUERY_CONFIG, type QueryConfig } from '../../src/query/query-config.js';
import { type RunningQueryServer, startQueryServer } from '../../src/query/query-server.js';
import { createQueryService } from '../../src/query/query-service.js';
import { loadTlsMaterial } from '../../src/query/tls-identity.js';

/**
 * A benchmark worker process: hosts several mesh nodes (each with its own FlowStore, real gossip
 * membership on loopback, and gRPC server), because the machine cannot run 64 agents with their capture
 * processes. Each node's store is filled with `flowsPerNode` synthetic flows between the node's own
 * address and a shared population of outside hosts whose popularity is Zipf-like, so the same heavy
 * hosts show up on many nodes (what makes a cluster top-k non-trivial).
 *
 * Protocol (IPC): receives {type:'start', ...}; sends {type:'ready', nodes:[{name, grpc, gossip}]};
 * on {type:'stop'} leaves and exits.
 */

/** Merge hints on or off for the nodes of a worker (QueryConfig.mergeHints); answered by 'hintsSet'. */
export interface HostHintsMessage {
  type: 'hints';
  on: boolean;
}

export interface HostStartMessage {
  type: 'start';
  /** Global index of the first node hosted here, and how many. */
  firstNode: number;
  nodes: number;
  flowsPerNode: number;
  /** Gossip address of node 0 (empty for the worker hosting it). */
  seed: string;
  /** Gossip port of node i = gossipBasePort + i. */
  gossipBasePort: number;
  /** Seconds of history the flows spread over, ending one second ago. */
  spreadSeconds: number;
  /** Mutual TLS: a `sniffmesh certs` directory with ca.crt and NAME.crt/NAME.key per node; '' = plaintext. */
  tlsDir: string;
}

interface HostedNode {
  membership: SwimMembership;
  server: RunningQueryServer;
  peers: PeerPool;
}

/** A small deterministic generator (mulberry32): the same data on every run. */
function random32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Outside hosts: 2^20 addresses of 100.64.0.0/10; host h is chosen with a Zipf-like weight ~ 1/h. */
const OUTSIDE_HOSTS = 1 << 20;

export function memberAddressOf(node: number): number {
  return ((10 << 24) | (1 << 16) | ((node >> 8) << 8) | ((node & 255) + 1)) >>> 0;
}

function addressText(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 255}.${(word >>> 8) & 255}.${word & 255}`;
}

export function fillStore(store: FlowStore, node: number, flows: number, spreadSeconds: number): void {
  const random = random32(0x5eed + node);
  const facts = {
    ipVersion: 4,
    protocol: 6,
    srcAddr: new Uint32Array(4),
    dstAddr: new Uint32Array(4),
    srcPort: 0,
    dstPort: 0,
    tcpFlags: 0x18,
  };
  const self = memberAddressOf(node);
  const now = Math.floor(Date.now() / 1000);
  const first = now - spreadSeconds;
  // Flows in time order, so seconds close as they would live.
  const perSecond = Math.ceil(flows / spreadSeconds);
  let made = 0;
  for (let second = first; second < now && made < flows; second++) {
    for (let i = 0; i < perSecond && made < flows; i++, made++) {
      // Zipf-like: host index = floor(H^u) concentrates on small indices.
      const host = Math.min(OUTSIDE_HOSTS - 1, Math.floor(OUTSIDE_HOSTS ** random()) - 1);
      const outside = ((100 << 24) | (64 << 16) | host) >>> 0;
      const sending = random() < 0.5;
      facts.protocol = random() < 0.8 ? 6 : 17;
      facts.srcAddr[0] = sending ? self : outside;
      facts.dstAddr[0] = sending ? outside : self;
      facts.srcPort = 1024 + Math.floor(random() * 60000);
      facts.dstPort = [443, 80, 53, 22, 8080][Math.floor(random() * 5)] as number;
      // Heavy-tailed packet counts (1 .. ~1000), sizes by packet.
      const packets = Math.max(1, Math.floor(1 / (random() ** 1.5 + 0.001)) % 1000);
      const size = 64 + Math.floor(random() * 1400);
      for (let p = 0; p < Math.min(packets, 8); p++) {
        store.addPacket(facts, size * Math.ceil(packets / 8), second, p);
      }
    }
  }
  store.advanceTo(now);
}

async function startNode(index: number, message: HostStartMessage): Promise<HostedNode> {
  const name = `n${String(index).padStart(2, '0')}`;
  const address = addressText(memberAddressOf(index));
  const local = new LocalNetworks();
  local.add(address);
  const store = new FlowStore({ localNetworks: local, maxFlows: Math.ceil(message.flowsPerNode * 1.25) });
  fillStore(store, index, message.flowsPerNode, message.spreadSeconds);
  // A capturing node's clock closes its seconds (queries never do): as the capture process runs it.
  startStoreClock(store);
  const engine = new FlowStoreQueryEngine(
    store,
    {
      captureInterface: 'bench',
      captureFilter: '',
      tableTtlMs: DEFAULT_QUERY_CONFIG.windowTableTtlMs,
      tableCacheEntries: DEFAULT_QUERY_CONFIG.windowTableCacheEntries,
    },
    name,
  );
  const membership = new SwimMembership({
    bind: { host: '127.0.0.1', port: message.gossipBasePort + index },
    metadata: {
      name,
      grpc: '',
      version: 'bench',
      captureInterface: 'bench',
      captureFilter: '',
      networks: [address],
    },
    // The production default timing: its gossip load is what a real node carries while it answers.
    config: configForPreset('lan'),
  });
  const tls =
    message.tlsDir === ''
      ? null
      : loadTlsMaterial(
          {
            tlsCa: `${message.tlsDir}/ca.crt`,
            tlsCert: `${message.tlsDir}/${name}.crt`,
            tlsKey: `${message.tlsDir}/${name}.key`,
          },
          ['member'],
        );
  const peers = new PeerPool(membership, { keepaliveMs: DEFAULT_QUERY_CONFIG.peerKeepaliveMs, tls });
  const clusterQuery = new ClusterQuery(membership, engine, peers, queryConfig);
  const server = await startQueryServer(
    '127.0.0.1:0',
    createQueryService({
      membership,
      engine,
      clusterQuery,
      config: DEFAULT_QUERY_CONFIG,
      version: 'bench',
      startedAtMs: Date.now(),
    }),
    DEFAULT_QUERY_CONFIG,
    tls,
  );
  // Everyone joins through node 0 (its gossip port is the base port).
  await membership.start(index === 0 ? [] : [`127.0.0.1:${message.gossipBasePort}`]);
  membership.updateMetadata({ grpc: server.address });
  return { membership, server, peers };
}

const hosted: HostedNode[] = [];
/** Shared by the nodes hosted here; the benchmark switches merge hints off to time first-time questions. */
const queryConfig: QueryConfig = { ...DEFAULT_QUERY_CONFIG };

process.on('message', (message: HostStartMessage | HostHintsMessage | { type: 'stop' }) => {
  if (message.type === 'hints') {
    queryConfig.mergeHints = message.on;
    process.send?.({ type: 'hintsSet' });
  } else if (message.type === 'start') {
    void (async () => {
      for (let i = 0; i < message.nodes; i++) hosted.push(await startNode(message.firstNode + i, message));
      process.send?.({
        type: 'ready',
        nodes: hosted.map((node) => ({
          name: node.membership.self().name,
          grpc: node.server.address,
          gossip: node.membership.address,
        })),
        rssBytes: process.memoryUsage().rss,
      });
    })().catch((error: unknown) => {
      process.send?.({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
      process.exit(1);
    });
  } else if (message.type === 'stop') {
    void Promise.all(
      hosted.map(async (node) => {
        node.peers.close();
        await node.membership.stop();
        await node.server.close(100);
      }),
    ).finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
