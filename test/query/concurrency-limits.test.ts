import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryMembership, InMemoryNetwork } from '../../src/membership/in-memory-membership.js';
import { FlowStoreQueryEngine } from '../../src/node/agent/flow-store-query-engine.js';
import type {
  LocalQueryEngine,
  PhaseAnswer,
  PhaseRequest,
  QueryWindow,
} from '../../src/node/agent/local-query-engine.js';
import { clientIdentityOf } from '../../src/query/client-identity.js';
import { ClusterQuery } from '../../src/query/cluster-query.js';
import { ConcurrencyLimit } from '../../src/query/concurrency-limit.js';
import {
  Grouping,
  Metric,
  NodeStatus,
  Scope,
  SniffmeshClient,
  type TopTalkersRequest,
  type TopTalkersResponse,
} from '../../src/query/generated/sniffmesh.js';
import { PeerPool } from '../../src/query/peer-pool.js';
import { DEFAULT_QUERY_CONFIG, type QueryConfig } from '../../src/query/query-config.js';
import { type RunningQueryServer, startQueryServer } from '../../src/query/query-server.js';
import { createQueryService } from '../../src/query/query-service.js';
import { LimitExceededError } from '../../src/query/service-errors.js';
import { recentStore } from '../helpers/twin-stores.js';
import { waitUntil } from '../membership/membership-contract.js';
import { SourceAddressRelay } from './source-address-relay.js';

/**
 * Concurrency limits of one real node's gRPC server on loopback (issue 11 item 6): cluster queries and
 * watch streams per node and per client, refused at once with RESOURCE_EXHAUSTED naming the limit, while
 * the admitted calls answer with the real data. Clients are told apart by their IP address
 * (clientIdentityOf); a relay that connects from 127.0.0.N makes each one another client.
 */

const CALL_DEADLINE_MS = 10_000;
/** "At once": a refusal costs no work. */
const AT_ONCE_MS = 1500;

/** The node's real engine over a real store, whose answers wait while the gate is held (a slow node). */
class GatedEngine implements LocalQueryEngine {
  waiting = 0;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => {};
  constructor(private readonly inner: LocalQueryEngine) {}
  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }
  release(): void {
    this.open();
  }
  private async after<T>(work: () => Promise<T>): Promise<T> {
    this.waiting++;
    try {
      await this.gate;
    } finally {
      this.waiting--;
    }
    return work();
  }
  merge(request: PhaseRequest): Promise<PhaseAnswer> {
    return this.after(() => this.inner.merge(request));
  }
  localTop(window: QueryWindow, limit: number) {
    return this.after(() => this.inner.localTop(window, limit));
  }
  stats() {
    return this.inner.stats();
  }
}

interface LimitNode {
  engine: GatedEngine;
  server: RunningQueryServer;
  client(source?: string): Promise<SniffmeshClient>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startLimitNode(config: QueryConfig): Promise<LimitNode> {
  const store = recentStore();
  const engine = new GatedEngine(
    new FlowStoreQueryEngine(
      store,
      { captureInterface: 'test', captureFilter: '', tableTtlMs: 30_000, tableCacheEntries: 4 },
      'a',
    ),
  );
  const membership = new InMemoryMembership(new InMemoryNetwork(), 'mem-a', {
    name: 'a',
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
  cleanups.push(async () => {
    engine.release();
    peers.close();
    await membership.stop();
    await server.close(100);
  });
  const port = Number(server.address.split(':')[1]);
  return {
    engine,
    server,
    async client(source?: string) {
      let address = server.address;
      if (source !== undefined) {
        const relay = new SourceAddressRelay({ host: '127.0.0.1', port }, source);
        address = await relay.start();
        cleanups.push(() => relay.stop());
      }
      const client = new SniffmeshClient(address, credentials.createInsecure());
      cleanups.push(() => client.close());
      return client;
    },
  };
}

function top(overrides: Partial<TopTalkersRequest> = {}): TopTalkersRequest {
  return {
    group: Grouping.GROUPING_HOST,
    by: Metric.METRIC_BYTES,
    windowSeconds: 0,
    limit: 5,
    filters: undefined,
    scope: Scope.SCOPE_CLUSTER,
    deadlineMs: 8000,
    ...overrides,
  };
}

type Outcome =
  | { ok: true; response: TopTalkersResponse; ms: number }
  | { ok: false; code: number; details: string; ms: number };

function ask(client: SniffmeshClient, request: TopTalkersRequest = top()): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) =>
    client.topTalkers(
      request,
      new Metadata(),
      { deadline: Date.now() + CALL_DEADLINE_MS },
      (error, response) =>
        resolve(
          error
            ? { ok: false, code: error.code, details: error.details, ms: performance.now() - started }
            : { ok: true, response: response as TopTalkersResponse, ms: performance.now() - started },
        ),
    ),
  );
}

/** An answer with real data: the node answered, and its rows are the ones a quiet node gives. */
function expectRealAnswer(outcome: Outcome, rows: TopTalkersResponse['rows']): void {
  expect(outcome.ok).toBe(true);
  if (!outcome.ok) return;
  expect(outcome.response.nodes.map((n) => n.status)).toEqual([NodeStatus.NODE_STATUS_OK]);
  expect(outcome.response.rows).toEqual(rows);
}

describe('concurrent queries per client and per node', () => {
  it('refuses a client beyond its limit at once, names the limit, admits other clients, and frees slots', async () => {
    const config = { ...DEFAULT_QUERY_CONFIG, maxConcurrentQueries: 64, maxConcurrentQueriesPerClient: 16 };
    const node = await startLimitNode(config);
    const a = await node.client();
    const expected = await ask(a);
    if (!expected.ok) throw new Error(`a quiet node refused: ${expected.details}`);
    const rows = expected.response.rows;
    expect(rows.length).toBe(5);

    node.engine.hold();
    const held = Array.from({ length: 16 }, () => ask(a));
    await waitUntil(() => node.engine.waiting === 16, 5000, '16 queries of client a are in the engine');
    const refused = await ask(a);
    expect(refused).toMatchObject({
      ok: false,
      code: status.RESOURCE_EXHAUSTED,
      details:
        'too many concurrent queries from this client: at most 16 (maxConcurrentQueriesPerClient); try again when one has finished',
    });
    expect(refused.ms).toBeLessThan(AT_ONCE_MS);

    // Another client (another address) still gets its slots, up to the node's limit of 64.
    const others = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((ip) => node.client(ip)));
    const more = others.flatMap((client) => Array.from({ length: 16 }, () => ask(client)));
    await waitUntil(() => node.engine.waiting === 64, 5000, '64 queries are in the engine');
    const fifth = await node.client('127.0.0.5');
    const refusedByNode = await ask(fifth);
    expect(refusedByNode).toMatchObject({
      ok: false,
      code: status.RESOURCE_EXHAUSTED,
      details:
        'too many concurrent queries on this node: at most 64 (maxConcurrentQueries); try again shortly',
    });
    expect(refusedByNode.ms).toBeLessThan(AT_ONCE_MS);

    node.engine.release();
    for (const outcome of await Promise.all([...held, ...more])) expectRealAnswer(outcome, rows);
    // Every slot came back: both refused clients are admitted now.
    expectRealAnswer(await ask(a), rows);
    expectRealAnswer(await ask(fifth), rows);
  });

  it('local-scope queries take the same slots', async () => {
    const node = await startLimitNode({ ...DEFAULT_QUERY_CONFIG, maxConcurrentQueriesPerClient: 2 });
    const a = await node.client();
    node.engine.hold();
    const held = [ask(a, top({ scope: Scope.SCOPE_LOCAL })), ask(a)];
    await waitUntil(() => node.engine.waiting === 2, 5000, 'two queries are in the engine');
    const refused = await ask(a, top({ scope: Scope.SCOPE_LOCAL }));
    expect(refused).toMatchObject({ ok: false, code: status.RESOURCE_EXHAUSTED });
    node.engine.release();
    for (const outcome of await Promise.all(held)) expect(outcome.ok).toBe(true);
  });

  it('an invalid request is INVALID_ARGUMENT even when every slot is taken', async () => {
    const node = await startLimitNode({ ...DEFAULT_QUERY_CONFIG, maxConcurrentQueriesPerClient: 1 });
    const a = await node.client();
    node.engine.hold();
    const held = ask(a);
    await waitUntil(() => node.engine.waiting === 1, 5000, 'one query is in the engine');
    expect(await ask(a, top({ limit: 5000 }))).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
    node.engine.release();
    expect((await held).ok).toBe(true);
  });
});

/** Opens a watch stream; resolves with its first message or its status. */
function openWatch(client: SniffmeshClient, kind: 'top' | 'members') {
  const stream =
    kind === 'top'
      ? client.watchTop({ query: top({ limit: 3 }), intervalSeconds: 1 }, new Metadata(), {
          deadline: Date.now() + 60_000,
        })
      : client.watchMembers({}, new Metadata(), { deadline: Date.now() + 60_000 });
  const first = new Promise<{ code: number; details: string; ms: number }>((resolve) => {
    const started = performance.now();
    stream.on('data', () => resolve({ code: status.OK, details: '', ms: performance.now() - started }));
    stream.on('error', (error: ServiceError) =>
      resolve({ code: error.code, details: error.details, ms: performance.now() - started }),
    );
  });
  cleanups.push(() => stream.cancel());
  return { stream, first };
}

describe('open watch streams per client and per node', () => {
  it('counts WatchTop and WatchMembers together; refuses beyond either limit at once; a cancelled stream frees its slot', async () => {
    const config = { ...DEFAULT_QUERY_CONFIG, maxWatchStreams: 6, maxWatchStreamsPerClient: 4 };
    const node = await startLimitNode(config);
    const a = await node.client();
    const b = await node.client('127.0.0.2');
    const opened = [
      openWatch(a, 'top'),
      openWatch(a, 'members'),
      openWatch(a, 'top'),
      openWatch(a, 'members'),
    ];
    for (const watch of opened) expect((await watch.first).code).toBe(status.OK);
    const fifth = await openWatch(a, 'members').first;
    expect(fifth).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details:
        'too many open watch streams from this client: at most 4 (maxWatchStreamsPerClient); try again when one has finished',
    });
    expect(fifth.ms).toBeLessThan(AT_ONCE_MS);
    for (const kind of ['top', 'members'] as const)
      expect((await openWatch(b, kind).first).code).toBe(status.OK);
    const overNode = await openWatch(b, 'top').first;
    expect(overNode).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: 'too many open watch streams on this node: at most 6 (maxWatchStreams); try again shortly',
    });

    opened[0]?.stream.cancel();
    let again = await openWatch(a, 'top').first;
    for (let tries = 0; again.code !== status.OK && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      again = await openWatch(a, 'top').first;
    }
    expect(again.code).toBe(status.OK);
  });
});

describe('clientIdentityOf and ConcurrencyLimit', () => {
  it('reads the IP address from the peer text grpc-js gives', () => {
    const of = (peer: string) => clientIdentityOf({ getPeer: () => peer });
    expect(of('127.0.0.1:52314')).toBe('127.0.0.1');
    expect(of('ipv4:10.1.2.3:7948')).toBe('10.1.2.3');
    expect(of('[::1]:52314')).toBe('::1');
    expect(of('ipv6:[2001:db8::1]:1')).toBe('2001:db8::1');
    expect(of('unknown')).toBe('unknown');
  });

  it('gives a slot back once, however often release is called', () => {
    const limit = new ConcurrencyLimit({
      what: 'things',
      perNodeName: 'n',
      perClientName: 'c',
      perNode: 2,
      perClient: 1,
    });
    const release = limit.acquire('x');
    expect(() => limit.acquire('x')).toThrow(LimitExceededError);
    release();
    release();
    expect(limit.inUse).toBe(0);
    limit.acquire('x');
    limit.acquire('y');
    expect(() => limit.acquire('z')).toThrow(/at most 2 \(n\)/);
  });
});
