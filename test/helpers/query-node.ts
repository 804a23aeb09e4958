import { credentials } from '@grpc/grpc-js';
import { InMemoryMembership, InMemoryNetwork } from '../../src/membership/in-memory-membership.js';
import { FlowStoreQueryEngine } from '../../src/node/agent/flow-store-query-engine.js';
import type { FlowStore } from '../../src/node/flows/flow-store.js';
import { ClusterQuery } from '../../src/query/cluster-query.js';
import { SniffmeshClient } from '../../src/query/generated/sniffmesh.js';
import { PeerPool } from '../../src/query/peer-pool.js';
import { DEFAULT_QUERY_CONFIG, type QueryConfig } from '../../src/query/query-config.js';
import { type RunningQueryServer, startQueryServer } from '../../src/query/query-server.js';
import { createQueryService } from '../../src/query/query-service.js';

/** One node's real query service on a loopback gRPC port over `store`, alone in an in-memory membership. */
export interface QueryNode {
  readonly store: FlowStore;
  readonly engine: FlowStoreQueryEngine;
  readonly server: RunningQueryServer;
  readonly client: SniffmeshClient;
  stop(): Promise<void>;
}

export async function startQueryNode(
  store: FlowStore,
  name = 'a',
  config: QueryConfig = DEFAULT_QUERY_CONFIG,
): Promise<QueryNode> {
  const engine = new FlowStoreQueryEngine(
    store,
    {
      captureInterface: 'test',
      captureFilter: '',
      tableTtlMs: config.windowTableTtlMs,
      tableCacheEntries: config.windowTableCacheEntries,
    },
    name,
  );
  const membership = new InMemoryMembership(new InMemoryNetwork(), `mem-${name}`, {
    name,
    grpc: '',
    version: 'test',
    captureInterface: 'test',
    captureFilter: '',
    networks: [],
  });
  const peers = new PeerPool(membership, { keepaliveMs: config.peerKeepaliveMs });
  const clusterQuery = new ClusterQuery(membership, engine, peers, config);
  const server = await startQueryServer(
    '127.0.0.1:0',
    createQueryService({
      membership,
      engine,
      clusterQuery,
      config,
      version: 'test',
      startedAtMs: Date.now(),
    }),
    config,
  );
  await membership.start([]);
  membership.updateMetadata({ grpc: server.address });
  const client = new SniffmeshClient(server.address, credentials.createInsecure());
  return {
    store,
    engine,
    server,
    client,
    async stop() {
      client.close();
      peers.close();
      await membership.stop();
      await server.close(100);
    },
  };
}
