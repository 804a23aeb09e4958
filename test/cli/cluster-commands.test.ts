/**
 * `sniffmesh top`, `members` and `stats` against a real @grpc/grpc-js server started here on loopback,
 * whose handlers return fixed answers: this tests the client (errors, deadlines, streams) and the
 * output (tables, JSON shapes) through the built CLI run as a child process (`npm run build` first).
 * End-to-end answers from real agents are tested with the agent.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import {
  status as GrpcStatus,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Grouping,
  type Member,
  MemberState,
  MembershipEventType,
  type MembershipUpdate,
  type MembersResponse,
  NodeStatus,
  Scope,
  SniffmeshService,
  type StatsResponse,
  type TopTalkersRequest,
  type TopTalkersResponse,
  type WatchTopRequest,
} from '../../src/query/generated/sniffmesh.js';
import { CaptureScratch } from '../helpers/capture-file-runner.js';
import { buildPcap } from '../helpers/capture-writer.js';
import { isRoot, runInNamespace } from '../helpers/netns.js';
import { requireBuiltCli } from '../helpers/repo-paths.js';

/** A CLI run that takes longer than this is hung: every answer here comes from memory on loopback. */
const CLI_TIMEOUT_MS = 15_000;
/** The brief's bound for "nothing listens there": one line and exit 1 within this. */
const CLOSED_PORT_BOUND_MS = 5000;
/** How long a fake watch waits after the snapshot before streaming its event. */
const EVENT_DELAY_MS = 200;
const WINDOW_FROM_SECOND = 1_700_000_000;
const STARTED_AT_MS = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------------------
// Running the CLI

interface CliResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

let cliPath = '';

function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sniffmesh ${args.join(' ')} did not finish within ${CLI_TIMEOUT_MS} ms`));
    }, CLI_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        elapsedMs: Date.now() - started,
      });
    });
  });
}

/**
 * Starts a long-running CLI command, waits until its stdout satisfies `ready`, then sends SIGINT (as
 * Ctrl-C does) and resolves with everything it printed and its exit code.
 */
function interruptCliWhen(args: string[], ready: (stdout: string) => boolean): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child: ChildProcess = spawn(process.execPath, [cliPath, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sniffmesh ${args.join(' ')} never printed what was expected; stdout: ${stdout}`));
    }, CLI_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (!interrupted && ready(stdout)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ exitCode, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

/** A loopback port nothing listens on (bound, then released). */
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

/**
 * A fresh namespace with only loopback up, whose firewall drops SYNs to `port`: connects there hang as
 * they do to a vanished host. Deleting the namespace removes the rule with it.
 */
function createBlackholeNamespace(port: number): string {
  const namespace = `smq${process.pid}`;
  execFileSync('ip', ['netns', 'add', namespace]);
  process.on('exit', () => deleteBlackholeNamespace(namespace));
  execFileSync('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
  execFileSync('ip', [
    'netns',
    'exec',
    namespace,
    'iptables',
    '-A',
    'INPUT',
    '-p',
    'tcp',
    '--dport',
    String(port),
    '-j',
    'DROP',
  ]);
  return namespace;
}

function deleteBlackholeNamespace(namespace: string): void {
  try {
    execFileSync('ip', ['netns', 'del', namespace], { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
}

const nonEmptyLines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

// ---------------------------------------------------------------------------------------------------
// The fake agent: fixed answers, and the requests it received

function member(name: string, port: number, state: MemberState, local = false): Member {
  return {
    id: `id-${name}`,
    name,
    gossip: `127.0.0.1:${port}`,
    grpc: `127.0.0.1:${port + 1}`,
    version: '0.1.0',
    captureInterface: 'lo',
    captureFilter: name === 'a' ? 'tcp port 80' : '',
    startedAtMs: STARTED_AT_MS,
    state,
    incarnation: 3,
    local,
    networks: [],
  };
}

const MEMBERS: MembersResponse = {
  members: [
    member('b', 7949, MemberState.MEMBER_STATE_SUSPECT),
    member('a', 7947, MemberState.MEMBER_STATE_ALIVE, true),
    member('c', 7951, MemberState.MEMBER_STATE_FAILED),
  ],
};

const STATS: StatsResponse = {
  name: 'a',
  version: '0.1.0',
  uptimeSeconds: 3725.5,
  captureInterface: 'lo',
  captureFilter: '',
  packets: 1234,
  bytes: 5_678_901,
  kernelDrops: undefined,
  undecoded: [
    { reason: 'not-ip', packets: 12 },
    { reason: 'truncated', packets: 0 },
  ],
  flows: 42,
  evictedFlows: 7,
};

/** The answer to any top question: two host rows; node b timed out, c was skipped. */
function topAnswer(request: TopTalkersRequest, sequence = 0): TopTalkersResponse {
  const local = request.scope === Scope.SCOPE_LOCAL;
  return {
    group: request.group,
    by: request.by,
    rows: [
      {
        key: '10.0.0.1',
        packets: 30,
        bytes: 3000 + sequence,
        flows: 2,
        forwardPackets: 20,
        forwardBytes: 2500,
      },
      { key: '10.0.0.2', packets: 10, bytes: 1000, flows: 1, forwardPackets: 0, forwardBytes: 0 },
    ],
    nodes: [
      {
        name: 'a',
        address: '127.0.0.1:7948',
        status: NodeStatus.NODE_STATUS_OK,
        error: '',
        latencyMs: 1,
        code: 0,
        windowComplete: true,
        windowToSecond: WINDOW_FROM_SECOND + 59,
      },
      {
        name: 'b',
        address: '127.0.0.1:7950',
        status: NodeStatus.NODE_STATUS_TIMEOUT,
        error: 'did not answer within 2000 ms',
        latencyMs: 0,
        code: 4,
        windowComplete: false,
        windowToSecond: 0,
      },
      {
        name: 'c',
        address: '',
        status: NodeStatus.NODE_STATUS_SKIPPED,
        error: 'not in --nodes',
        latencyMs: 0,
        code: 0,
        windowComplete: false,
        windowToSecond: 0,
      },
    ],
    exact: false,
    windowFromSecond: WINDOW_FROM_SECOND,
    windowToSecond: WINDOW_FROM_SECOND + 59,
    rowsTransferred: 12,
    bytesTransferred: 1500,
    totals: { packets: 50, bytes: 4500, ipPackets: 40, ipBytes: 4000 },
    undecoded: [{ reason: 'not-ip', packets: 10 }],
    evictedPackets: 0,
    evictedBytes: 0,
    windowSeconds: request.windowSeconds,
    windowComplete: true,
    missingNodes: ['b'],
    queryId: 'q-1234',
    groups: local ? 5 : 0,
    elapsedMs: 12.4,
  };
}

/** A --nodes name that makes the fake reject the request, as a real agent rejects an unknown member. */
const REJECTED_NODE = 'no-such-member';
/** A --deadline that makes the fake never answer, to meet the client's own deadline. */
const NEVER_ANSWER_DEADLINE_MS = 1;

class FakeAgent {
  readonly server = new Server();
  port = 0;
  lastTopRequest: TopTalkersRequest | null = null;
  lastWatchTopRequest: WatchTopRequest | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();

  async start(): Promise<void> {
    this.server.addService(SniffmeshService, {
      topTalkers: (
        call: ServerUnaryCall<TopTalkersRequest, TopTalkersResponse>,
        callback: sendUnaryData<TopTalkersResponse>,
      ) => {
        this.lastTopRequest = call.request;
        if (call.request.filters?.nodes.includes(REJECTED_NODE)) {
          callback({ code: GrpcStatus.INVALID_ARGUMENT, details: `unknown member '${REJECTED_NODE}'` });
        } else if (call.request.deadlineMs === NEVER_ANSWER_DEADLINE_MS) {
          // Never answers: the client's deadline ends the call.
        } else {
          callback(null, topAnswer(call.request));
        }
      },
      watchTop: (call: ServerWritableStream<WatchTopRequest, TopTalkersResponse>) => {
        this.lastWatchTopRequest = call.request;
        const query = call.request.query!;
        let sequence = 0;
        call.write(topAnswer(query, sequence++));
        const timer = setInterval(() => call.write(topAnswer(query, sequence++)), 300);
        this.timers.add(timer);
        call.on('cancelled', () => {
          clearInterval(timer);
          this.timers.delete(timer);
        });
      },
      members: (_call: unknown, callback: sendUnaryData<MembersResponse>) => callback(null, MEMBERS),
      watchMembers: (call: ServerWritableStream<unknown, MembershipUpdate>) => {
        call.write({ snapshot: MEMBERS });
        const timer = setTimeout(() => {
          call.write({
            event: {
              type: MembershipEventType.MEMBERSHIP_EVENT_TYPE_JOINED,
              timeMs: STARTED_AT_MS + 5000,
              member: member('d', 7953, MemberState.MEMBER_STATE_ALIVE),
            },
          });
        }, EVENT_DELAY_MS);
        this.timers.add(timer);
        call.on('cancelled', () => clearTimeout(timer));
      },
      stats: (_call: unknown, callback: sendUnaryData<StatsResponse>) => callback(null, STATS),
      merge: (_call: unknown, callback: sendUnaryData<never>) =>
        callback({ code: GrpcStatus.UNIMPLEMENTED, details: 'not in this fake' }),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) =>
        error === null ? resolve(port) : reject(error),
      ),
    );
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.forceShutdown();
  }
}

// ---------------------------------------------------------------------------------------------------

interface TopJson {
  rows: Record<string, unknown>[];
  totals: Record<string, number>;
  undecoded: Record<string, number>;
  group: string;
  by: string;
  groups: number | null;
  window: { seconds: number | null; from: number | null; to: number | null; complete: boolean };
  evicted: { packets: number; bytes: number };
  exact: boolean;
  nodes: { name: string; address: string; status: string; error: string | null }[];
  missingNodes: string[];
  transfer: { rows: number; bytes: number };
  queryId: string;
  elapsedMs: number;
}

/** One Ethernet + IPv4 + UDP frame from `src` to `dst` (last octets of 10.0.0.x), for analyze. */
function udpFrame(src: number, dst: number): Uint8Array {
  const frame = Buffer.alloc(14 + 20 + 8);
  frame.writeUInt16BE(0x0800, 12);
  frame[14] = 0x45;
  frame.writeUInt16BE(28, 16);
  frame[22] = 64;
  frame[23] = 17;
  frame.set([10, 0, 0, src], 26);
  frame.set([10, 0, 0, dst], 30);
  frame.writeUInt16BE(40000, 34);
  frame.writeUInt16BE(53, 36);
  frame.writeUInt16BE(8, 38);
  return frame;
}

describe('sniffmesh top, members and stats against a gRPC server', () => {
  const agent = new FakeAgent();
  const scratch = new CaptureScratch();

  beforeAll(async () => {
    cliPath = requireBuiltCli();
    await agent.start();
  });
  afterAll(() => {
    agent.stop();
    scratch.cleanup();
  });

  it('top prints the rows as a table, a line per member that is not ok, and the footer', async () => {
    const result = await runCli(['top', '--node', agent.address, '-w', '60']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe(`cluster via ${agent.address}: top 10 host rows by bytes (last 60s)`);
    expect(result.stdout).toMatch(/#\s+HOST\s+BYTES\s+PACKETS\s+SHARE\s+FLOWS\s+SENT\s+RECEIVED/);
    expect(result.stdout).toMatch(/1\s+10\.0\.0\.1\s+3\.00 kB\s+30\s+75\.0%\s+2\s+2\.50 kB\s+500 B/);
    expect(lines).toContain('node b (127.0.0.1:7950): timeout — did not answer within 2000 ms');
    expect(lines).toContain('node c: skipped — not in --nodes');
    expect(lines.filter((line) => line.startsWith('node a'))).toEqual([]);
    expect(lines).toContain(
      'frames 50 (4.50 kB), IP 40 (4.00 kB), undecoded not-ip 10; 1 of 3 nodes answered',
    );
    expect(lines).toContain(
      'window read: 2023-11-14 22:13:20 UTC .. 2023-11-14 22:14:19 UTC (60 s; last 60s asked)',
    );
    expect(lines).toContain('exact: no (data missing from b)');
    expect(lines).toContain('transferred 12 rows, 1.50 kB; elapsed 12 ms; query q-1234');
  });

  it('top --json prints exactly one object with the analyze fields plus nodes, transfer and query id', async () => {
    const result = await runCli(['top', '--node', agent.address, '--json']);
    expect(result.exitCode).toBe(0);
    expect(nonEmptyLines(result.stdout)).toHaveLength(1);
    const answer = JSON.parse(result.stdout) as TopJson;
    expect(answer).toEqual({
      rows: [
        {
          key: '10.0.0.1',
          bytes: 3000,
          packets: 30,
          flows: 2,
          sentBytes: 2500,
          sentPackets: 20,
          receivedBytes: 500,
          receivedPackets: 10,
        },
        {
          key: '10.0.0.2',
          bytes: 1000,
          packets: 10,
          flows: 1,
          sentBytes: 0,
          sentPackets: 0,
          receivedBytes: 1000,
          receivedPackets: 10,
        },
      ],
      totals: { packets: 50, bytes: 4500, ipPackets: 40, ipBytes: 4000 },
      undecoded: { 'not-ip': 10 },
      group: 'host',
      by: 'bytes',
      groups: null,
      window: { seconds: null, from: WINDOW_FROM_SECOND, to: WINDOW_FROM_SECOND + 59, complete: true },
      evicted: { packets: 0, bytes: 0 },
      exact: false,
      nodes: [
        {
          name: 'a',
          address: '127.0.0.1:7948',
          status: 'ok',
          error: null,
          code: 0,
          windowComplete: true,
          windowTo: WINDOW_FROM_SECOND + 59,
        },
        {
          name: 'b',
          address: '127.0.0.1:7950',
          status: 'timeout',
          error: 'did not answer within 2000 ms',
          code: 4,
          windowComplete: null,
          windowTo: null,
        },
        {
          name: 'c',
          address: '',
          status: 'skipped',
          error: 'not in --nodes',
          code: 0,
          windowComplete: null,
          windowTo: null,
        },
      ],
      missingNodes: ['b'],
      transfer: { rows: 12, bytes: 1500 },
      queryId: 'q-1234',
      elapsedMs: 12.4,
    });
  });

  it('top --json uses the field names of analyze --json for host and pair rows', async () => {
    const file = scratch.write(
      buildPcap({
        records: [
          { seconds: WINDOW_FROM_SECOND, fraction: 0, data: udpFrame(1, 2) },
          { seconds: WINDOW_FROM_SECOND + 1, fraction: 0, data: udpFrame(2, 1) },
        ],
      }).bytes,
      'two-frames.pcap',
    );
    for (const group of ['host', 'pair']) {
      const analyzed = await runCli(['analyze', '--json', '-g', group, file]);
      const asked = await runCli(['top', '--node', agent.address, '--json', '-g', group]);
      expect(analyzed.exitCode).toBe(0);
      expect(asked.exitCode).toBe(0);
      const fromFile = JSON.parse(analyzed.stdout) as Record<string, Record<string, unknown>> & TopJson;
      const fromCluster = JSON.parse(asked.stdout) as Record<string, Record<string, unknown>> & TopJson;
      // Every analyze field but the file's own (source) and the per-flow eviction detail of one store.
      const shared = Object.keys(fromFile).filter((key) => key !== 'source');
      expect(Object.keys(fromCluster)).toEqual(expect.arrayContaining(shared));
      expect(Object.keys(fromCluster.rows[0]).sort()).toEqual(Object.keys(fromFile.rows[0]).sort());
      for (const part of ['totals', 'window'] as const)
        expect(Object.keys(fromCluster[part]).sort()).toEqual(Object.keys(fromFile[part]).sort());
      expect(Object.keys(fromFile.evicted)).toEqual(expect.arrayContaining(Object.keys(fromCluster.evicted)));
      expect(fromCluster.group).toBe(group);
    }
  });

  it('top sends every flag in the request: grouping, metric, window, limit, filters, scope, deadline', async () => {
    const result = await runCli([
      'top',
      '--node',
      agent.address,
      '--json',
      '-g',
      'pair',
      '-b',
      'packets',
      '-w',
      '30',
      '-n',
      '5',
      '--cidr',
      '10.0.0.0/8,2001:db8::/32',
      '--cidr',
      '192.168.1.5',
      '--port',
      '443,53',
      '--protocol',
      'tcp,UDP,132',
      '--nodes',
      'a,b',
      '--local',
      '--deadline',
      '5000',
    ]);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(agent.lastTopRequest).toEqual({
      group: Grouping.GROUPING_PAIR,
      by: 2,
      windowSeconds: 30,
      limit: 5,
      filters: {
        cidrs: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.5'],
        ports: [443, 53],
        protocols: [6, 17, 132],
        nodes: ['a', 'b'],
      },
      scope: Scope.SCOPE_LOCAL,
      deadlineMs: 5000,
    });
    const answer = JSON.parse(result.stdout) as TopJson;
    // Local answers know how many groups there are; pair rows carry both directions.
    expect(answer.groups).toBe(5);
    expect(answer.by).toBe('packets');
    expect(answer.window.seconds).toBe(30);
    expect(answer.rows[0]).toEqual({
      key: '10.0.0.1',
      bytes: 3000,
      packets: 30,
      flows: 2,
      forwardBytes: 2500,
      forwardPackets: 20,
      reverseBytes: 500,
      reversePackets: 10,
    });
  });

  it('INVALID_ARGUMENT from the server becomes one line naming the node, and exit 1', async () => {
    const result = await runCli(['top', '--node', agent.address, '--nodes', REJECTED_NODE]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `sniffmesh: ${agent.address} rejected the request: unknown member '${REJECTED_NODE}'\n`,
    );
  });

  it('a node that does not answer in time is one line with the deadline waited, and exit 1', async () => {
    const result = await runCli([
      'top',
      '--node',
      agent.address,
      '--deadline',
      String(NEVER_ANSWER_DEADLINE_MS),
    ]);
    expect(result.exitCode).toBe(1);
    // The server's deadline plus the client's margin (1500 ms).
    expect(result.stderr).toBe(`sniffmesh: ${agent.address} did not answer within 1501 ms\n`);
  });

  it('a node that is not there (a closed port) prints one line naming the address and exits 1 within 5 s', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    for (const command of [
      ['top'],
      ['members'],
      ['stats'],
      ['members', '--watch'],
      ['top', '--watch', '1'],
    ]) {
      const result = await runCli([...command, '--node', address]);
      expect(result.exitCode, command.join(' ')).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `sniffmesh: no sniffmesh agent answers at ${address} (start one with: sniffmesh agent --grpc ${address})\n`,
      );
      expect(result.elapsedMs).toBeLessThan(CLOSED_PORT_BOUND_MS);
    }
  });

  it.skipIf(!isRoot())(
    'an address that drops connection attempts fails within 5 s with one line, and the process exits',
    async () => {
      const port = 7948;
      const namespace = createBlackholeNamespace(port);
      try {
        for (const command of [['stats'], ['top', '--watch', '1']]) {
          const started = Date.now();
          const result = await runInNamespace(namespace, process.execPath, [
            cliPath,
            ...command,
            '--node',
            `127.0.0.1:${port}`,
          ]);
          expect(result.exitCode, command.join(' ')).toBe(1);
          expect(result.stderr).toBe(`sniffmesh: 127.0.0.1:${port} did not answer within 2000 ms\n`);
          // The whole process, not just the message: a connect left behind would hold it for minutes.
          expect(Date.now() - started).toBeLessThan(CLOSED_PORT_BOUND_MS);
        }
      } finally {
        deleteBlackholeNamespace(namespace);
      }
    },
  );

  it('bad flags exit 2 with one line and send nothing', async () => {
    agent.lastTopRequest = null;
    const cases: [string[], string][] = [
      [['top', '--port', '0'], '--port must be between 1 and 65535, got 0'],
      [['top', '--port', '80,'], "--port must be a whole number, got ''"],
      [['top', '--protocol', 'bogus'], "--protocol: 'bogus' is not a protocol name"],
      [['top', '--watch', '0'], '--watch must be between 1 and 3600, got 0'],
      [['top', '--cidr', '10.0.0.0/33'], '--cidr 10.0.0.0/33: prefix length must be 0..32'],
      [['top', '--cidr', 'example.com'], "--cidr example.com: 'example.com' is not an IP address"],
      [['top', '-n', '0'], '--limit must be between 1 and 1000, got 0'],
      [['top', '--deadline', '30001'], '--deadline must be between 1 and 30000'],
      [['top', '-g', 'bogus'], "argument 'bogus' is invalid"],
      [['stats', '--node', 'nonsense'], "--node: 'nonsense' is not host:port"],
      [['members', '--node', '127.0.0.1:0'], '--node: port 0 is out of range'],
    ];
    for (const [args, message] of cases) {
      const withNode = args.includes('--node') ? args : [...args, '--node', agent.address];
      const result = await runCli(withNode);
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(nonEmptyLines(result.stderr), args.join(' ')).toHaveLength(1);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe('');
    }
    expect(agent.lastTopRequest).toBeNull();
  });

  it('members prints a table sorted by name with the answering node marked', async () => {
    const result = await runCli(['members', '--node', agent.address]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^\s+NAME\s+STATE\s+GOSSIP\s+GRPC\s+VERSION\s+CAPTURE\s+STARTED\s+INCARNATION$/);
    expect(lines[1]).toMatch(
      /^\*\s+a\s+alive\s+127\.0\.0\.1:7947\s+127\.0\.0\.1:7948\s+0\.1\.0\s+lo 'tcp port 80'\s+.*ago\s+3$/,
    );
    expect(lines[2]).toMatch(/^\s+b\s+suspect\s+127\.0\.0\.1:7949/);
    expect(lines[3]).toMatch(/^\s+c\s+failed\s+127\.0\.0\.1:7951/);
    expect(result.stdout).toContain('3 members: 1 alive, 1 suspect, 1 failed; * = the agent that answered');
  });

  it('members --json prints one object with every member field', async () => {
    const result = await runCli(['members', '--node', agent.address, '--json']);
    expect(result.exitCode).toBe(0);
    expect(nonEmptyLines(result.stdout)).toHaveLength(1);
    const parsed = JSON.parse(result.stdout) as { members: Record<string, unknown>[] };
    expect(parsed.members).toHaveLength(3);
    expect(parsed.members[1]).toEqual({
      name: 'a',
      id: 'id-a',
      gossip: '127.0.0.1:7947',
      grpc: '127.0.0.1:7948',
      state: 'alive',
      version: '0.1.0',
      captureInterface: 'lo',
      captureFilter: 'tcp port 80',
      startedAtMs: STARTED_AT_MS,
      incarnation: 3,
      local: true,
      networks: [],
    });
    expect(parsed.members.map((m) => m.state)).toEqual(['suspect', 'alive', 'failed']);
  });

  it('members --watch prints the snapshot, then the event the server streams; Ctrl-C exits 0', async () => {
    const result = await interruptCliWhen(['members', '--node', agent.address, '--watch'], (out) =>
      out.includes('joined'),
    );
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const snapshotAt = result.stdout.indexOf('3 members:');
    const eventLine = nonEmptyLines(result.stdout).find((line) => line.includes('joined'));
    expect(snapshotAt).toBeGreaterThan(-1);
    expect(result.stdout.indexOf('joined')).toBeGreaterThan(snapshotAt);
    expect(eventLine).toMatch(/^2023-11-14T22:13:25\.000Z\s+joined\s+d\s+127\.0\.0\.1:7953$/);
  });

  it('members --watch --json prints one object per line: the snapshot, then the event', async () => {
    const result = await interruptCliWhen(['members', '--node', agent.address, '--watch', '--json'], (out) =>
      out.includes('"event"'),
    );
    expect(result.exitCode).toBe(0);
    const [snapshot, event] = nonEmptyLines(result.stdout).map((line) => JSON.parse(line));
    expect(snapshot.snapshot.members).toHaveLength(3);
    expect(event).toEqual({
      event: {
        type: 'joined',
        timeMs: STARTED_AT_MS + 5000,
        member: expect.objectContaining({ name: 'd', gossip: '127.0.0.1:7953', state: 'alive' }),
      },
    });
  });

  it('top --watch --json prints one object per update until SIGINT, then exits 0', async () => {
    const result = await interruptCliWhen(
      ['top', '--node', agent.address, '--watch', '2', '--json', '-g', 'port'],
      (out) => nonEmptyLines(out).length >= 2 && out.endsWith('\n'),
    );
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const updates = nonEmptyLines(result.stdout).map((line) => JSON.parse(line) as TopJson);
    expect(updates.length).toBeGreaterThanOrEqual(2);
    // Each update is a whole answer: the fake grows the first row by one byte per update.
    expect(updates.map((u) => u.rows[0].bytes).slice(0, 2)).toEqual([3000, 3001]);
    expect(updates[0].group).toBe('port');
    expect(agent.lastWatchTopRequest?.intervalSeconds).toBe(2);
    expect(agent.lastWatchTopRequest?.query?.group).toBe(Grouping.GROUPING_PORT);
  });

  it('top --watch into a pipe prints whole tables separated by a blank line, no screen clearing', async () => {
    const result = await interruptCliWhen(
      ['top', '--node', agent.address, '--watch', '1'],
      (out) => out.split('transferred').length >= 3,
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toContain('\x1b[');
    const tables = result.stdout.split(`\n\ncluster via ${agent.address}`);
    expect(tables.length).toBeGreaterThanOrEqual(2);
  });

  it('stats prints the counters with kernel drops unknown when the source cannot tell', async () => {
    const result = await runCli(['stats', '--node', agent.address]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n').map((line) => line.replace(/\s+/g, ' ').trim());
    expect(lines).toEqual([
      'name a',
      'version 0.1.0',
      'uptime 1h 2m 5s',
      'interface lo',
      'filter (none)',
      'packets 1,234',
      'bytes 5.68 MB (5,678,901)',
      'kernel drops unknown',
      'undecoded not-ip 12',
      'flows 42',
      'evicted flows 7',
      '',
    ]);
  });

  it('stats --json prints one object with the StatsResponse fields and kernelDrops null', async () => {
    const result = await runCli(['stats', '--node', agent.address, '--json']);
    expect(result.exitCode).toBe(0);
    expect(nonEmptyLines(result.stdout)).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toEqual({
      name: 'a',
      version: '0.1.0',
      uptimeSeconds: 3725.5,
      captureInterface: 'lo',
      captureFilter: '',
      packets: 1234,
      bytes: 5_678_901,
      kernelDrops: null,
      undecoded: [
        { reason: 'not-ip', packets: 12 },
        { reason: 'truncated', packets: 0 },
      ],
      flows: 42,
      evictedFlows: 7,
    });
  });
});
