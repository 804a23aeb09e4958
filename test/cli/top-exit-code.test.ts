import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryMembership, InMemoryNetwork } from '../../src/membership/in-memory-membership.js';
import { FlowStoreQueryEngine } from '../../src/node/agent/flow-store-query-engine.js';
import { ClusterQuery } from '../../src/query/cluster-query.js';
import { PeerPool } from '../../src/query/peer-pool.js';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { startQueryServer } from '../../src/query/query-server.js';
import { createQueryService } from '../../src/query/query-service.js';
import { requireBuiltCli } from '../helpers/repo-paths.js';
import { recentStore } from '../helpers/twin-stores.js';
import { waitUntil } from '../membership/membership-contract.js';

/**
 * `sniffmesh top`'s exit code (issue 11 item 7), through the built CLI (`npm run build` first) against a
 * real node's query service on loopback whose two peers are members (in-memory gossip) with nothing
 * listening on their gRPC ports. Before: when no node answered it printed "(no IP traffic)" and
 * "0 of 3 nodes answered" and exited 0.
 */

const CLI_TIMEOUT_MS = 20_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      probe.close(() => resolve(address.port));
    });
  });
}

/** Node a (capturing or not) with peers b and c alive in gossip whose gRPC ports are closed. */
async function startCluster(aCaptures: boolean): Promise<string> {
  const network = new InMemoryNetwork();
  const metadata = (name: string, captureInterface: string) => ({
    name,
    grpc: '',
    version: 'test',
    captureInterface,
    captureFilter: '',
    networks: [],
  });
  const store = recentStore();
  const engine = aCaptures
    ? new FlowStoreQueryEngine(
        store,
        { captureInterface: 'veth0', captureFilter: '', tableTtlMs: 30_000, tableCacheEntries: 4 },
        'a',
      )
    : null;
  const a = new InMemoryMembership(network, 'mem-a', metadata('a', aCaptures ? 'veth0' : ''));
  const peers = new PeerPool(a, { keepaliveMs: DEFAULT_QUERY_CONFIG.peerKeepaliveMs });
  const clusterQuery = new ClusterQuery(a, engine, peers, DEFAULT_QUERY_CONFIG);
  const server = await startQueryServer(
    '127.0.0.1:0',
    createQueryService({
      membership: a,
      engine,
      clusterQuery,
      config: DEFAULT_QUERY_CONFIG,
      version: 'test',
      startedAtMs: Date.now(),
    }),
  );
  await a.start([]);
  a.updateMetadata({ grpc: server.address });
  cleanups.push(async () => {
    peers.close();
    await a.stop();
    await server.close(100);
  });
  for (const name of ['b', 'c']) {
    const peer = new InMemoryMembership(network, `mem-${name}`, metadata(name, 'veth0'));
    await peer.start(['mem-a']);
    peer.updateMetadata({ grpc: `127.0.0.1:${await closedPort()}` });
    cleanups.push(() => peer.stop());
  }
  await waitUntil(
    () => a.members().filter((m) => m.state === 'alive' && m.grpc !== '').length === 3,
    5000,
    'a sees b and c alive with their gRPC addresses',
  );
  return server.address;
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [requireBuiltCli(), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sniffmesh ${args.join(' ')} did not finish within ${CLI_TIMEOUT_MS} ms`));
    }, CLI_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('sniffmesh top exit codes against a real node', () => {
  it('exits 1 with one line naming every member and why when no node answered', async () => {
    const address = await startCluster(false);
    const result = await runCli(['top', '--node', address]);
    expect(result.stdout).toBe('');
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^sniffmesh: no node answered via ${address} \\(0 of 3\\): ` +
          'a skipped \\(captures nothing \\(agent --no-capture\\)\\); ' +
          'b failed \\(UNAVAILABLE: [^;]+\\); c failed \\(UNAVAILABLE: [^;]+\\)$',
      ),
    );
  });

  it('with --json still prints the answer (every node and why) on stdout, and exits 1', async () => {
    const address = await startCluster(false);
    const result = await runCli(['top', '--node', address, '--json']);
    expect(result.code).toBe(1);
    const answer = JSON.parse(result.stdout) as {
      nodes: { name: string; status: string }[];
      rows: unknown[];
    };
    expect(answer.rows).toEqual([]);
    expect(answer.nodes.map((n) => [n.name, n.status])).toEqual([
      ['a', 'skipped'],
      ['b', 'failed'],
      ['c', 'failed'],
    ]);
    expect(result.stderr).toMatch(/^sniffmesh: no node answered via .* \(0 of 3\): /);
  });

  it('exits 0 on a partial answer and names the missing nodes, as before', async () => {
    const address = await startCluster(true);
    const result = await runCli(['top', '--node', address, '--limit', '3']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.filter((line) => /^[123]\s+198\.18\.0\.\d+\s/.test(line))).toHaveLength(3);
    expect(lines.some((line) => /^node b \(127\.0\.0\.1:\d+\): failed — UNAVAILABLE/.test(line))).toBe(true);
    expect(lines.some((line) => /^node c \(127\.0\.0\.1:\d+\): failed — UNAVAILABLE/.test(line))).toBe(true);
    expect(result.stdout).toContain('1 of 3 nodes answered');
    expect(lines.some((line) => line.startsWith('exact: no (data missing from b, c'))).toBe(true);
  });
});
