import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../../cluster/local/agent-process.js';
import { waitUntil } from '../../cluster/local/wait-until.js';
import { buildPcap } from '../helpers/capture-writer.js';
import { ipFrame } from '../helpers/ip-frames.js';
import { type MeshCredentials, makeMeshCredentials } from '../helpers/mesh-credentials.js';
import {
  groupRows,
  ipv4,
  makeFlow,
  type RefCounters,
  type RefFlow,
  rankRows,
} from '../helpers/naive-traffic-reference.js';
import { requireBuiltCli } from '../helpers/repo-paths.js';
import { freeUdpPort } from '../membership/free-udp-port.js';

/**
 * Three agents as separate processes on loopback, each replaying its own capture (--pcap). The captures
 * share packets the way real members would: a packet from a to b is in a's capture and in b's; a transit
 * flow between two outside hosts is in b's and c's. The cluster answer must count each packet once.
 */

const A = ipv4(10, 9, 0, 1);
const B = ipv4(10, 9, 0, 2);
const C = ipv4(10, 9, 0, 3);
const OUT1 = ipv4(192, 0, 2, 50);
const OUT2 = ipv4(192, 0, 2, 60);
const T1 = ipv4(198, 51, 100, 1);
const T2 = ipv4(198, 51, 100, 2);

interface TrafficFlow {
  flow: RefFlow;
  packets: number;
  size: number;
  /** Which captures hold it. */
  seenBy: ('a' | 'b' | 'c')[];
}

const TRAFFIC: TrafficFlow[] = [
  { flow: makeFlow(6, A, B, 40000, 443), packets: 40, size: 1000, seenBy: ['a', 'b'] },
  { flow: makeFlow(6, B, A, 443, 40000), packets: 30, size: 120, seenBy: ['a', 'b'] },
  { flow: makeFlow(17, A, OUT1, 5353, 53), packets: 10, size: 200, seenBy: ['a'] },
  { flow: makeFlow(17, B, C, 6000, 514), packets: 30, size: 500, seenBy: ['b', 'c'] },
  { flow: makeFlow(6, OUT2, C, 50000, 22), packets: 25, size: 700, seenBy: ['c'] },
  { flow: makeFlow(17, T1, T2, 7000, 7001), packets: 20, size: 300, seenBy: ['b', 'c'] },
  { flow: makeFlow(6, C, OUT2, 22, 50000), packets: 12, size: 90, seenBy: ['c'] },
];

const truth: RefCounters[] = TRAFFIC.map((t) => ({
  flow: t.flow,
  packets: t.packets,
  bytes: t.packets * t.size,
}));

function captureFor(node: 'a' | 'b' | 'c'): Uint8Array {
  const records = [];
  let second = 1_600_000_000;
  for (const t of TRAFFIC) {
    if (!t.seenBy.includes(node)) continue;
    for (let p = 0; p < t.packets; p++) {
      records.push({
        seconds: second,
        fraction: p * 1000,
        data: ipFrame({
          src: t.flow.src,
          dst: t.flow.dst,
          protocol: t.flow.protocol as 6 | 17,
          srcPort: t.flow.srcPort,
          dstPort: t.flow.dstPort,
          length: t.size,
        }),
      });
    }
    second++;
  }
  return buildPcap({ records }).bytes;
}

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function runCli(
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [requireBuiltCli(), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

interface TopJson {
  rows: { key: string; bytes: number; packets: number; flows: number }[];
  totals: { packets: number; bytes: number; ipPackets: number; ipBytes: number };
  exact: boolean;
  nodes: { name: string; address: string; status: string; error: string | null; code: number }[];
  missingNodes: string[];
  transfer: { rows: number; bytes: number };
}

describe('agents as processes on loopback, replaying captures that share packets (mutual TLS, keyed gossip)', () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'sniffmesh-agents-'));
  // Agents started as root read their --pcap as nobody (README: Privileges); mkdtemp makes it 0700.
  chmodSync(directory, 0o755);
  const agents = new Map<string, AgentProcess>();
  const grpc = new Map<string, string>();
  let credentials: MeshCredentials;
  /** The CLI as a read-only client certificate holder. */
  const runClient = (args: string[]) => runCli([...args, ...credentials.clientArgs()]);

  beforeAll(async () => {
    credentials = await makeMeshCredentials(path.join(directory, 'credentials'), ['a', 'b', 'c']);
    const seedPort = await freeUdpPort();
    for (const [name, address] of [
      ['a', A],
      ['b', B],
      ['c', C],
    ] as const) {
      const file = path.join(directory, `${name}.pcap`);
      writeFileSync(file, captureFor(name));
      const gossipPort = name === 'a' ? seedPort : await freeUdpPort();
      const grpcAddress = `127.0.0.1:${await freeTcpPort()}`;
      grpc.set(name, grpcAddress);
      agents.set(
        name,
        new AgentProcess({
          name,
          gossip: `127.0.0.1:${gossipPort}`,
          seeds: name === 'a' ? [] : [`127.0.0.1:${seedPort}`],
          extraArgs: [
            '--capture',
            '--pcap',
            file,
            '--replay-speed',
            '0',
            '--local-net',
            address.text,
            '--grpc',
            grpcAddress,
            ...credentials.agentArgs(name),
          ],
        }),
      );
    }
    await waitUntil(
      () => [...agents.values()].every((agent) => agent.aliveCount() === 3),
      15_000,
      'three agents see each other alive',
    );
  }, 30_000);

  afterAll(async () => {
    for (const agent of agents.values()) agent.signal('SIGKILL');
    await Promise.all([...agents.values()].map((agent) => agent.exited));
    rmSync(directory, { recursive: true, force: true });
  });

  async function top(args: string[] = []): Promise<TopJson> {
    const result = await runClient(['top', '--node', grpc.get('b')!, '--json', '--limit', '20', ...args]);
    if (result.code !== 0) throw new Error(`top failed (${result.code}): ${result.stderr}`);
    return JSON.parse(result.stdout) as TopJson;
  }

  it('answers with the truth over the union, counting packets two members captured once', async () => {
    const expected = rankRows(groupRows(truth, 'host').values(), 'bytes', 0);
    let answer: TopJson | undefined;
    // The replays finish within a second; the window closes the second after.
    const deadline = Date.now() + 15_000;
    for (;;) {
      answer = await top();
      if (answer.totals.ipPackets === truth.reduce((s, t) => s + t.packets, 0) || Date.now() > deadline)
        break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(answer.rows.map((r) => [r.key, r.bytes, r.packets, r.flows])).toEqual(
      expected.map((r) => [r.key, r.bytes, r.packets, r.flows]),
    );
    // Summing every capture would have counted a<->b and b->c twice and the transit flow twice.
    const captured = TRAFFIC.reduce((s, t) => s + t.packets * t.seenBy.length, 0);
    expect(captured).toBeGreaterThan(answer.totals.ipPackets);
    expect(answer.exact).toBe(true);
    expect(answer.nodes.map((n) => [n.name, n.status])).toEqual([
      ['a', 'ok'],
      ['b', 'ok'],
      ['c', 'ok'],
    ]);
    expect(answer.transfer.rows).toBeGreaterThan(0);
  }, 30_000);

  it('lists the members and each node stats over the CLI', async () => {
    const members = await runClient(['members', '--node', grpc.get('a')!, '--json']);
    expect(members.code).toBe(0);
    const parsed = JSON.parse(members.stdout) as { members: { name: string; grpc: string; state: string }[] };
    expect(parsed.members.map((m) => [m.name, m.grpc, m.state]).sort()).toEqual([
      ['a', grpc.get('a'), 'alive'],
      ['b', grpc.get('b'), 'alive'],
      ['c', grpc.get('c'), 'alive'],
    ]);
    const stats = await runClient(['stats', '--node', grpc.get('c')!, '--json']);
    expect(stats.code).toBe(0);
    const cStats = JSON.parse(stats.stdout) as { name: string; packets: number };
    expect(cStats.name).toBe('c');
    expect(cStats.packets).toBe(
      TRAFFIC.filter((t) => t.seenBy.includes('c')).reduce((s, t) => s + t.packets, 0),
    );
  });

  it('names a hung node (SIGSTOP) as timed out and answers within the deadline', async () => {
    const c = agents.get('c')!;
    c.signal('SIGSTOP');
    try {
      const result = await runClient(['top', '--node', grpc.get('a')!, '--json', '--deadline', '800']);
      expect(result.code).toBe(0);
      const answer = JSON.parse(result.stdout) as TopJson;
      // Timed out when asked; or, when gossip suspected it first (the CLI's start-up on a loaded machine
      // can take longer than the suspicion), skipped as suspect. Either way named, and its data missing.
      const hung = answer.nodes.find((n) => n.name === 'c');
      expect(['timeout', 'skipped']).toContain(hung?.status);
      if (hung?.status === 'skipped') expect(hung.error).toMatch(/^suspect/);
      else expect(hung?.code).toBe(4);
      expect(answer.missingNodes).toEqual(['c']);
      expect(answer.exact).toBe(false);
      // Node start-up and the CLI's own connect take some of it; the deadline bounds the rest.
      expect(result.ms).toBeLessThan(800 + 1500);
    } finally {
      c.signal('SIGCONT');
    }
  }, 20_000);

  it('names a killed node in the answer, which still arrives', async () => {
    const c = agents.get('c')!;
    c.signal('SIGKILL');
    await c.exited;
    const answer = await top(['--deadline', '1500']);
    const dead = answer.nodes.find((n) => n.name === 'c');
    expect(['failed', 'skipped', 'timeout']).toContain(dead?.status);
    expect(dead?.error).toBeTruthy();
    expect(answer.missingNodes).toEqual(['c']);
    expect(answer.nodes.filter((n) => n.status === 'ok').map((n) => n.name)).toEqual(['a', 'b']);
  }, 20_000);

  it('tells a plaintext client that the agent wants TLS, in one line (exit 1)', async () => {
    const result = await runCli(['members', '--node', grpc.get('a')!]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/does not speak plaintext gRPC: an agent with TLS\? give --tls-ca/),
    ]);
  });

  it('prints one clear line when no agent is there', async () => {
    const port = await freeTcpPort();
    const result = await runCli(['top', '--node', `127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`127.0.0.1:${port}`);
    expect(result.ms).toBeLessThan(5000);
  });
});
