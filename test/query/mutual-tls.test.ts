import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ChannelCredentials,
  credentials,
  Metadata,
  Server,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initCertificateAuthority, issueCertificate } from '../../src/cli/certificate-authority.js';
import { InMemoryMembership, InMemoryNetwork } from '../../src/membership/in-memory-membership.js';
import { FlowStoreQueryEngine } from '../../src/node/agent/flow-store-query-engine.js';
import type { FlowStore } from '../../src/node/flows/flow-store.js';
import { clientIdentityOf } from '../../src/query/client-identity.js';
import { ClusterQuery } from '../../src/query/cluster-query.js';
import {
  Grouping,
  type MembersResponse,
  type MergeResponse,
  Metric,
  NodeStatus,
  Scope,
  SniffmeshClient,
  SniffmeshService,
  type TopTalkersRequest,
  type TopTalkersResponse,
} from '../../src/query/generated/sniffmesh.js';
import { PeerPool } from '../../src/query/peer-pool.js';
import { QueryClient } from '../../src/query/query-client.js';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { type RunningQueryServer, startQueryServer } from '../../src/query/query-server.js';
import { createQueryService } from '../../src/query/query-service.js';
import { clientCredentials, serverCredentials, tlsChannelOptions } from '../../src/query/tls-credentials.js';
import { loadTlsMaterial, type TlsMaterial } from '../../src/query/tls-identity.js';
import { mergeRequest } from '../helpers/query-requests.js';
import { feed, newStore } from '../helpers/twin-stores.js';

/**
 * Mutual TLS on the query plane, against real grpc-js servers on loopback with certificates made by
 * `sniffmesh certs` (certificate-authority.ts) and checked by Debian's openssl as an independent oracle:
 * a client without a certificate from the CA is refused at the handshake, a read-only client certificate
 * cannot call the internal Merge (unary and stream alike), and a membership record pointing a member's
 * gRPC address at another member's server cannot feed the merge (the answer names the member instead of
 * counting the other one twice, which is what a plaintext mesh does).
 */

let dir = '';
const material = new Map<string, TlsMaterial>();

function filesOf(ca: string, base: string) {
  return {
    tlsCa: join(dir, ca, 'ca.crt'),
    tlsCert: join(dir, ca, `${base}.crt`),
    tlsKey: join(dir, ca, `${base}.key`),
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sniffmesh-tls-'));
  for (const ca of ['ca', 'stranger']) await initCertificateAuthority(join(dir, ca));
  for (const name of ['a', 'b', 'c']) await issueCertificate(join(dir, 'ca'), name, 'member');
  await issueCertificate(join(dir, 'ca'), 'ops', 'client');
  // A stranger's CA issues a member certificate with the same name as a real member.
  await issueCertificate(join(dir, 'stranger'), 'a', 'member');
  await issueCertificate(join(dir, 'stranger'), 'x', 'client');
  for (const name of ['a', 'b', 'c']) material.set(name, loadTlsMaterial(filesOf('ca', name), ['member']));
  material.set('ops', loadTlsMaterial(filesOf('ca', 'ops.client'), ['client']));
  material.set('stranger-a', loadTlsMaterial(filesOf('stranger', 'a'), ['member']));
  material.set('stranger-x', loadTlsMaterial(filesOf('stranger', 'x.client'), ['client']));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface MeshNode {
  readonly name: string;
  readonly store: FlowStore;
  readonly membership: InMemoryMembership;
  readonly server: RunningQueryServer;
  readonly peers: PeerPool;
}

const running: MeshNode[] = [];
const clients: { close(): void }[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const node of running.splice(0)) {
    node.peers.close();
    await node.membership.stop();
    await node.server.close(100);
  }
});

const NOW_SECOND = () => Math.floor(Date.now() / 1000);

/** Nodes on one in-memory membership, each serving gRPC on loopback: with TLS or plaintext. */
async function startMesh(names: string[], tls: boolean): Promise<MeshNode[]> {
  const network = new InMemoryNetwork();
  const now = NOW_SECOND();
  const nodes: MeshNode[] = [];
  for (const [index, name] of names.entries()) {
    const store = newStore();
    feed([store], now - 20, now - 3, 100 + index, 80);
    // Every second a query of this test can read is closed (queries never close seconds themselves).
    store.advanceTo(now + 60);
    const engine = new FlowStoreQueryEngine(
      store,
      {
        captureInterface: 'test',
        captureFilter: '',
        tableTtlMs: DEFAULT_QUERY_CONFIG.windowTableTtlMs,
        tableCacheEntries: DEFAULT_QUERY_CONFIG.windowTableCacheEntries,
      },
      name,
    );
    const membership = new InMemoryMembership(network, `mem-${name}`, {
      name,
      grpc: '',
      version: 'test',
      captureInterface: 'test',
      captureFilter: '',
      networks: [],
    });
    const own = tls ? (material.get(name) as TlsMaterial) : null;
    const peers = new PeerPool(membership, { keepaliveMs: 10_000, tls: own });
    const clusterQuery = new ClusterQuery(membership, engine, peers, DEFAULT_QUERY_CONFIG);
    const server = await startQueryServer(
      '127.0.0.1:0',
      createQueryService({
        membership,
        engine,
        clusterQuery,
        config: DEFAULT_QUERY_CONFIG,
        version: 'test',
        startedAtMs: Date.now(),
      }),
      DEFAULT_QUERY_CONFIG,
      own,
    );
    await membership.start(nodes.map((node) => node.membership.address));
    membership.updateMetadata({ grpc: server.address });
    const node = { name, store, membership, server, peers };
    running.push(node);
    nodes.push(node);
  }
  await waitFor(() => nodes.every((node) => node.membership.members().length === names.length));
  return nodes;
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function rawClient(node: MeshNode, channel: ChannelCredentials, options = {}): SniffmeshClient {
  const client = new SniffmeshClient(node.server.address, channel, options);
  clients.push(client);
  return client;
}

function tlsClient(node: MeshNode, who: string): SniffmeshClient {
  return rawClient(node, clientCredentials(material.get(who) as TlsMaterial, {}), tlsChannelOptions({}));
}

function members(client: SniffmeshClient): Promise<number> {
  return new Promise((resolve, reject) =>
    client.members(
      {},
      new Metadata({ waitForReady: false }),
      { deadline: Date.now() + 3000 },
      (error, answer) => (error ? reject(error) : resolve(answer.members.length)),
    ),
  );
}

function top(client: SniffmeshClient, request: Partial<TopTalkersRequest> = {}): Promise<TopTalkersResponse> {
  return new Promise((resolve, reject) =>
    client.topTalkers(
      {
        group: Grouping.GROUPING_PROTO,
        by: Metric.METRIC_BYTES,
        windowSeconds: 0,
        limit: 10,
        filters: undefined,
        scope: Scope.SCOPE_CLUSTER,
        deadlineMs: 3000,
        ...request,
      },
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (error, answer) => (error ? reject(error) : resolve(answer)),
    ),
  );
}

function merge(client: SniffmeshClient): Promise<MergeResponse> {
  return new Promise((resolve, reject) =>
    client.merge(mergeRequest(), new Metadata(), { deadline: Date.now() + 3000 }, (error, answer) =>
      error ? reject(error) : resolve(answer),
    ),
  );
}

function mergeStreamStatus(
  client: SniffmeshClient,
): Promise<{ code: number; details: string; answers: number }> {
  return new Promise((resolve) => {
    const call = client.mergeStream(new Metadata(), { deadline: Date.now() + 3000 });
    let answers = 0;
    call.on('data', () => {
      answers++;
      call.end();
    });
    call.on('error', (error: ServiceError) => resolve({ code: error.code, details: error.details, answers }));
    call.on('end', () => resolve({ code: status.OK, details: '', answers }));
    call.write(mergeRequest({ requestId: 7 }));
  });
}

async function failureOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the call succeeded');
}

describe('certificates made by sniffmesh certs, checked by openssl', () => {
  it('verifies every issued certificate against its CA, with the identity in the SANs', () => {
    for (const base of ['a', 'b', 'ops.client']) {
      const out = execFileSync(
        'openssl',
        ['verify', '-CAfile', join(dir, 'ca', 'ca.crt'), join(dir, 'ca', `${base}.crt`)],
        {
          encoding: 'utf8',
        },
      );
      expect(out).toContain(': OK');
    }
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'ca', 'a.crt'), '-noout', '-text'], {
      encoding: 'utf8',
    });
    expect(text).toMatch(/DNS:a, URI:sniffmesh:\/\/member\/a/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/ASN1 OID: prime256v1/);
    const client = execFileSync(
      'openssl',
      ['x509', '-in', join(dir, 'ca', 'ops.client.crt'), '-noout', '-text'],
      {
        encoding: 'utf8',
      },
    );
    expect(client).toMatch(/URI:sniffmesh:\/\/client\/ops/);
    expect(client).not.toMatch(/TLS Web Server Authentication/);
    // A certificate from the stranger's CA does not verify against ours.
    expect(() =>
      execFileSync(
        'openssl',
        ['verify', '-CAfile', join(dir, 'ca', 'ca.crt'), join(dir, 'stranger', 'a.crt')],
        {
          stdio: 'pipe',
        },
      ),
    ).toThrow();
  });

  it('refuses material that does not fit: wrong key, untrusted, wrong role', () => {
    expect(() =>
      loadTlsMaterial({ ...filesOf('ca', 'a'), tlsKey: join(dir, 'ca', 'b.key') }, ['member']),
    ).toThrow(/is not the key of/);
    expect(() =>
      loadTlsMaterial({ ...filesOf('stranger', 'a'), tlsCa: join(dir, 'ca', 'ca.crt') }, ['member']),
    ).toThrow(/not signed by a CA in --tls-ca/);
    expect(() => loadTlsMaterial(filesOf('ca', 'ops.client'), ['member'])).toThrow(
      /client certificate; this needs a member/,
    );
    expect(() => loadTlsMaterial({ tlsCa: join(dir, 'ca', 'ca.crt') }, ['member'])).toThrow(/all three/);
    expect(() =>
      loadTlsMaterial({ ...filesOf('ca', 'a'), tlsCert: join(dir, 'nope.crt') }, ['member']),
    ).toThrow(/cannot read \(ENOENT\)/);
  });
});

describe('mutual TLS on the query service', () => {
  it('refuses at the handshake every client without a certificate from the CA', async () => {
    const [node] = (await startMesh(['a'], true)) as [MeshNode];
    // The control: a client certificate from the CA is served.
    expect(await members(tlsClient(node, 'ops'))).toBe(1);
    const ca = (material.get('a') as TlsMaterial).ca;
    const refused = [
      ['plaintext', rawClient(node, credentials.createInsecure())],
      ['TLS without a client certificate', rawClient(node, credentials.createSsl(ca), tlsChannelOptions({}))],
      ['a client certificate from another CA', tlsClientFromStranger(node)],
    ] as const;
    for (const [what, client] of refused) {
      const error = await failureOf(members(client));
      expect(error.code, what).toBe(status.UNAVAILABLE);
    }
  });

  it('lets a client certificate read, but not call the internal Merge (unary and stream alike)', async () => {
    const [node] = (await startMesh(['a'], true)) as [MeshNode];
    const ops = tlsClient(node, 'ops');
    const answer = await top(ops);
    expect(answer.rows.length).toBeGreaterThan(0);
    expect(answer.exact).toBe(true);
    const unary = await failureOf(merge(ops));
    expect(unary.code).toBe(status.PERMISSION_DENIED);
    expect(unary.details).toMatch(/only member certificates/);
    const stream = await mergeStreamStatus(ops);
    expect(stream).toEqual({ code: unary.code, details: unary.details, answers: 0 });
    // A member certificate may (b asks a, as a coordinating member does).
    const member = tlsClient(node, 'b');
    expect((await merge(member)).error).toBe('');
    expect((await mergeStreamStatus(member)).answers).toBe(1);
  });

  it('answers a cluster query over TLS exactly as over plaintext, with every node asked', async () => {
    const secure = await startMesh(['a', 'b', 'c'], true);
    const secureAnswer = await top(tlsClient(secure[2] as MeshNode, 'ops'));
    expect(secureAnswer.nodes.map((node) => [node.name, node.status])).toEqual([
      ['a', NodeStatus.NODE_STATUS_OK],
      ['b', NodeStatus.NODE_STATUS_OK],
      ['c', NodeStatus.NODE_STATUS_OK],
    ]);
    const plain = await startMesh(['a', 'b', 'c'], false);
    const plainAnswer = await top(rawClient(plain[2] as MeshNode, credentials.createInsecure()));
    expect(secureAnswer.rows).toEqual(plainAnswer.rows);
    expect(secureAnswer.exact).toBe(true);
  });

  it("does not let a record pointing b's gRPC at a's server feed the merge (plaintext counts a's traffic again)", async () => {
    for (const tls of [false, true]) {
      const nodes = await startMesh(['a', 'b', 'c'], tls);
      const [a, b, c] = nodes as [MeshNode, MeshNode, MeshNode];
      const client = tls ? tlsClient(c, 'ops') : rawClient(c, credentials.createInsecure());
      const local = async (node: MeshNode) => {
        const reader = tls ? tlsClient(node, 'ops') : rawClient(node, credentials.createInsecure());
        return bytesByKey(await top(reader, { scope: Scope.SCOPE_LOCAL }));
      };
      const [aBytes, cBytes] = [await local(a), await local(c)];
      // The forged record: member b now claims to serve at a's address.
      b.membership.updateMetadata({ grpc: a.server.address });
      await waitFor(
        () => c.membership.members().find((member) => member.name === 'b')?.grpc === a.server.address,
      );
      const answer = await top(client);
      const outcome = answer.nodes.find((node) => node.name === 'b');
      const got = bytesByKey(answer);
      if (!tls) {
        // Today's plaintext mesh: a's server answers for "b" too, its traffic is counted again (all but
        // the transit flows, which the counting rule takes once), and the answer says exact.
        expect(outcome?.status).toBe(NodeStatus.NODE_STATUS_OK);
        expect(answer.exact).toBe(true);
        for (const key of Object.keys(aBytes)) {
          expect(got[key] as number).toBeGreaterThan((aBytes[key] as number) + (cBytes[key] ?? 0));
        }
      } else {
        expect(outcome?.status).toBe(NodeStatus.NODE_STATUS_FAILED);
        expect(outcome?.error).toMatch(/names member "a", not "b"/);
        expect(answer.exact).toBe(false);
        expect(got).toEqual(sum(aBytes, cBytes));
      }
      for (const node of running.splice(0)) {
        node.peers.close();
        await node.membership.stop();
        await node.server.close(100);
      }
    }
  });

  it('tells clients apart by certificate for the per-client limits (clientIdentityOf)', async () => {
    const seen: string[] = [];
    const server = new Server();
    const refuse = (_call: unknown, callback: (error: { code: number }) => void) =>
      callback({ code: status.UNIMPLEMENTED });
    server.addService(SniffmeshService, {
      topTalkers: refuse,
      watchTop: (call: { emit(event: string, error: unknown): void }) =>
        call.emit('error', { code: status.UNIMPLEMENTED }),
      members: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<MembersResponse>) => {
        seen.push(clientIdentityOf(call));
        callback(null, { members: [] });
      },
      watchMembers: (call: { emit(event: string, error: unknown): void }) =>
        call.emit('error', { code: status.UNIMPLEMENTED }),
      stats: refuse,
      merge: refuse,
      mergeStream: (call: { emit(event: string, error: unknown): void }) =>
        call.emit('error', { code: status.UNIMPLEMENTED }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', serverCredentials(material.get('a') as TlsMaterial), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    try {
      const node = { server: { address: `127.0.0.1:${port}` } } as MeshNode;
      await members(tlsClient(node, 'ops'));
      await members(tlsClient(node, 'b'));
      expect(seen).toEqual(['client:ops', 'member:b']);
    } finally {
      server.forceShutdown();
    }
  });

  it('refuses a server whose certificate names no member, through the CLI client', async () => {
    const [node] = (await startMesh(['a'], true)) as [MeshNode];
    const client = new QueryClient(node.server.address, '--node', material.get('stranger-x') as TlsMaterial);
    clients.push(client);
    await expect(client.members()).rejects.toThrow(/TLS with 127\.0\.0\.1:\d+ failed/);
    const plaintext = new QueryClient(node.server.address, '--node', null);
    clients.push(plaintext);
    await expect(plaintext.members()).rejects.toThrow(/does not speak plaintext gRPC: an agent with TLS\?/);
  });
});

function tlsClientFromStranger(node: MeshNode): SniffmeshClient {
  const stranger = material.get('stranger-x') as TlsMaterial;
  const ours = material.get('a') as TlsMaterial;
  // Trusts our CA for the server, presents the stranger's client certificate.
  return rawClient(
    node,
    credentials.createSsl(ours.ca, stranger.key, stranger.cert, { checkServerIdentity: () => undefined }),
    tlsChannelOptions({}),
  );
}

function bytesByKey(answer: TopTalkersResponse): Record<string, number> {
  return Object.fromEntries(answer.rows.map((row) => [row.key, row.bytes]));
}

function sum(...parts: Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const part of parts)
    for (const [key, value] of Object.entries(part)) total[key] = (total[key] ?? 0) + value;
  return total;
}
