/**
 * `sniffmesh agent` exit codes that tell the truth, through the built CLI (`npm run build` first): an
 * agent that cannot bind its gossip or gRPC socket, or is given a --pcap it cannot replay, exits 1 at
 * once with one line on stderr, and never joins the mesh (a peer running beside it never hears of it).
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { chmodSync } from 'node:fs';
import { createServer, type Server as TcpServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../../cluster/local/agent-process.js';
import { CaptureScratch } from '../helpers/capture-file-runner.js';
import { buildPcap, frameBytes } from '../helpers/capture-writer.js';
import { isRoot } from '../helpers/netns.js';
import { requireBuiltCli } from '../helpers/repo-paths.js';
import { freeUdpPort } from '../membership/free-udp-port.js';
import { waitUntil } from '../membership/membership-contract.js';

/**
 * "At once": an agent that fails to start takes ~0.4 s here (Node start-up and module loading); 5 s
 * leaves room for a machine shared with other test runs. Today's failure mode is never exiting.
 */
const FAILS_WITHIN_MS = 5000;
/** A run still going after this is hung (what main did on a gossip bind failure). */
const HUNG_AFTER_MS = 15_000;
/**
 * After the bad agent exited, the peer keeps listening this long for any sign of it. With the local
 * timing preset a join reaches the seed in one round trip and the join event prints at once; 1.5 s is
 * several gossip rounds (200 ms) and probe intervals.
 */
const PEER_LISTENS_AFTER_EXIT_MS = 1500;
/** TEST-NET-1 (RFC 5737): reserved for documentation, never an address of this host. */
const ADDRESS_NOT_ON_THIS_HOST = '192.0.2.1';

interface AgentRun {
  exitCode: number | null;
  stdout: string;
  stderrLines: string[];
  elapsedMs: number;
}

let cliPath = '';
const scratch = new CaptureScratch();

beforeAll(() => {
  cliPath = requireBuiltCli();
});
afterAll(() => scratch.cleanup());

/** Runs `[prefix...] node main.js agent ...args` to its end (killed and failed after HUNG_AFTER_MS). */
function runAgent(args: string[], prefix: string[] = []): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const command = [...prefix, process.execPath, cliPath, 'agent', '--timing', 'local', ...args];
    const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `sniffmesh agent ${args.join(' ')} still running after ${HUNG_AFTER_MS} ms; stderr: ` +
            Buffer.concat(err).toString('utf8'),
        ),
      );
    }, HUNG_AFTER_MS);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        stdout: Buffer.concat(out).toString('utf8'),
        stderrLines: Buffer.concat(err)
          .toString('utf8')
          .split('\n')
          .filter((line) => line.trim() !== ''),
        elapsedMs: Date.now() - started,
      });
    });
  });
}

function expectOneLineFailure(run: AgentRun, pattern: RegExp): void {
  expect(run.stderrLines, run.stderrLines.join('\n')).toHaveLength(1);
  expect(run.stderrLines[0]).toMatch(pattern);
  expect(run.exitCode).toBe(1);
  expect(run.elapsedMs).toBeLessThan(FAILS_WITHIN_MS);
  // Nothing was announced: no membership event, no "started".
  expect(run.stdout).toBe('');
}

describe('an agent that cannot bind its sockets exits 1 at once with one line', () => {
  const held: Array<UdpSocket | TcpServer> = [];
  afterEach(async () => {
    await Promise.all(held.map((handle) => new Promise<void>((resolve) => handle.close(() => resolve()))));
    held.length = 0;
  });

  async function holdUdpPort(): Promise<number> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    held.push(socket);
    return socket.address().port;
  }

  async function holdTcpPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    held.push(server);
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP port');
    return address.port;
  }

  it('gossip port in use', async () => {
    const port = await holdUdpPort();
    const run = await runAgent([
      '--events-json',
      '--no-capture',
      '--gossip',
      `127.0.0.1:${port}`,
      '--grpc',
      '127.0.0.1:0',
    ]);
    expectOneLineFailure(
      run,
      new RegExp(`^sniffmesh: cannot listen for gossip on 127\\.0\\.0\\.1:${port}: EADDRINUSE \\(`),
    );
  });

  it('gossip address not on this host', async () => {
    const run = await runAgent([
      '--events-json',
      '--no-capture',
      '--gossip',
      `${ADDRESS_NOT_ON_THIS_HOST}:7947`,
      '--grpc',
      '127.0.0.1:0',
      // Off loopback the secure default would refuse first (exit 2): this is about the bind itself.
      '--insecure',
    ]);
    expectOneLineFailure(
      run,
      /^sniffmesh: cannot listen for gossip on 192\.0\.2\.1:7947: EADDRNOTAVAIL \(no interface of this host has that address\)$/,
    );
  });

  it('gRPC port in use', async () => {
    const port = await holdTcpPort();
    const run = await runAgent([
      '--events-json',
      '--no-capture',
      '--gossip',
      '127.0.0.1:0',
      '--grpc',
      `127.0.0.1:${port}`,
    ]);
    expectOneLineFailure(
      run,
      new RegExp(`^sniffmesh: --grpc 127\\.0\\.0\\.1:${port}: cannot listen: .*EADDRINUSE`),
    );
  });

  it('gRPC address not on this host', async () => {
    const run = await runAgent([
      '--events-json',
      '--no-capture',
      '--gossip',
      '127.0.0.1:0',
      '--grpc',
      `${ADDRESS_NOT_ON_THIS_HOST}:7948`,
      '--insecure',
    ]);
    expectOneLineFailure(run, /^sniffmesh: --grpc 192\.0\.2\.1:7948: cannot listen: .*EADDRNOTAVAIL/);
  });
});

describe('a --pcap that cannot be replayed fails the agent before it joins', () => {
  let peer: AgentProcess | null = null;
  let peerGossip = '';
  beforeAll(async () => {
    peerGossip = `127.0.0.1:${await freeUdpPort()}`;
    peer = new AgentProcess({ name: 'peer', gossip: peerGossip });
    await waitUntil(() => peer?.view.get('peer') === 'alive', 10_000, 'the peer agent is up');
  });
  afterAll(async () => {
    peer?.signal('SIGKILL');
    await peer?.exited;
  });

  /** Every event the peer printed about `name`. */
  const eventsAbout = (name: string) => (peer?.events ?? []).filter((event) => event.member?.name === name);

  async function startThroughPeer(name: string, pcap: string, prefix: string[] = []): Promise<AgentRun> {
    const gossip = `127.0.0.1:${await freeUdpPort()}`;
    const args = ['--events-json', '--name', name, '--gossip', gossip, '--grpc', '127.0.0.1:0'];
    return runAgent([...args, '--seeds', peerGossip, '--pcap', pcap, '--replay-speed', '0'], prefix);
  }

  it('control: an agent replaying a good file through the same peer is seen joining', async () => {
    const good = scratch.write(
      buildPcap({ records: [{ seconds: 1, fraction: 0, data: frameBytes(60, 0) }] }).bytes,
      'good.pcap',
    );
    const gossip = `127.0.0.1:${await freeUdpPort()}`;
    const agent = new AgentProcess({
      name: 'good',
      gossip,
      seeds: [peerGossip],
      extraArgs: ['--capture', '--pcap', good, '--replay-speed', '0'],
    });
    try {
      await waitUntil(() => eventsAbout('good').some((e) => e.event === 'joined'), 10_000, 'peer sees good');
    } finally {
      agent.signal('SIGKILL');
      await agent.exited;
    }
  });

  const notACapture = () =>
    scratch.write(Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), 'text.pcap');
  const cases: Array<{ what: string; file: () => string; reason: RegExp; prefix?: string[] }> = [
    {
      what: 'a file that does not exist',
      file: () => '/nonexistent/x.pcap',
      reason: /cannot open: .*\(ENOENT\)$/,
    },
    {
      what: 'a directory',
      file: () => scratch.write(Buffer.alloc(0), 'dir').replace(/\/[^/]+$/, ''),
      reason: /\(EISDIR\)$/,
    },
    {
      what: 'a file that is not a capture',
      file: notACapture,
      reason: /not a capture file: unknown magic 0x47455420$/,
    },
    {
      what: 'a pcap whose header says version 1.4',
      file: () => scratch.write(buildPcap({ versionMajor: 1, records: [] }).bytes, 'v1.pcap'),
      reason: /unsupported pcap version 1\.4/,
    },
  ];
  for (const { what, file, reason } of cases) {
    it(`${what}: exit 1, one line, and the peer never hears of it`, async () => {
      const name = `bad-${what.replace(/\W+/g, '-')}`;
      const run = await startThroughPeer(name, file());
      expectOneLineFailure(run, reason);
      await new Promise((resolve) => setTimeout(resolve, PEER_LISTENS_AFTER_EXIT_MS));
      expect(eventsAbout(name)).toEqual([]);
    });
  }

  it.skipIf(!isRoot())(
    'an unreadable file (root without CAP_DAC_*): exit 1, one line, never joins',
    async () => {
      const file = scratch.write(buildPcap({ records: [] }).bytes, 'unreadable.pcap');
      chmodSync(file, 0o000);
      // Root reads any file; without the two DAC capabilities it is refused like any other user.
      const prefix = [
        'setpriv',
        '--bounding-set=-dac_override,-dac_read_search',
        '--inh-caps=-dac_override,-dac_read_search',
      ];
      const run = await startThroughPeer('bad-unreadable', file, prefix);
      expectOneLineFailure(run, /cannot open: permission denied \(EACCES\)$/);
      await new Promise((resolve) => setTimeout(resolve, PEER_LISTENS_AFTER_EXIT_MS));
      expect(eventsAbout('bad-unreadable')).toEqual([]);
    },
  );
});
