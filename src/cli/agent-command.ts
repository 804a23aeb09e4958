import { hostname } from 'node:os';
import { type Command, Option } from 'commander';
import { formatHostPort, parseHostPort } from '../membership/gossip-address.js';
import {
  type GossipKeyring,
  generateGossipKey,
  makeGossipKeyring,
  parseGossipKey,
  readGossipKeyFile,
} from '../membership/gossip-keyring.js';
import type { MembershipEvent } from '../membership/member.js';
import { MAX_NETWORKS } from '../membership/member-metadata.js';
import { checkMemberName } from '../membership/member-name.js';
import { configForPreset } from '../membership/membership-config.js';
import { SwimMembership } from '../membership/swim-membership.js';
import { CaptureProcessClient } from '../node/agent/capture-process-client.js';
import { checkCaptureFile } from '../node/capture/capture-file-check.js';
import { listLocalAddresses } from '../node/capture/network-interfaces.js';
import { validateReplaySpeed } from '../node/capture/replay-source.js';
import {
  DEFAULT_MAX_FLOWS,
  DEFAULT_RETENTION_SECONDS,
  MAX_MAX_FLOWS,
  MAX_RETENTION_SECONDS,
  MIN_MAX_FLOWS,
} from '../node/flows/flow-store-config.js';
import { LocalNetworks } from '../node/flows/local-networks.js';
import { ClusterQuery } from '../query/cluster-query.js';
import { PeerPool } from '../query/peer-pool.js';
import { DEFAULT_GRPC_ADDRESS, DEFAULT_QUERY_CONFIG } from '../query/query-config.js';
import { type RunningQueryServer, startQueryServer } from '../query/query-server.js';
import { createQueryService } from '../query/query-service.js';
import {
  loadTlsMaterial,
  type TlsFileOptions,
  type TlsMaterial,
  tlsRequested,
} from '../query/tls-identity.js';
import { type SniffmeshError, UsageError } from '../util/errors.js';
import { parseAddress } from '../util/ip-address.js';
import { SNIFFMESH_VERSION } from '../util/package-version.js';
import { DEFAULT_DROP_GROUP, DEFAULT_DROP_USER, dropPrivileges } from '../util/privilege-drop.js';
import { terminalJson, terminalText } from '../util/terminal-text.js';
import { parseInteger } from './common-options.js';
import { addTlsOptions } from './node-option.js';
import { privilegeDropFor } from './privilege-options.js';
import { checkGossipListener, checkGrpcListener } from './secure-defaults.js';

/** memberlist's and Serf's port, plus one: sniffmesh and Serf can run side by side. */
export const DEFAULT_GOSSIP_ADDRESS = '0.0.0.0:7947';

interface AgentOptionValues extends TlsFileOptions {
  insecure?: boolean;
  gossip: string;
  grpc: string;
  pcap?: string;
  replaySpeed: string;
  loop?: boolean;
  advertise?: string;
  seeds?: string;
  name?: string;
  timing: 'lan' | 'local';
  gossipKey?: string;
  gossipKeyFile?: string;
  capture: boolean;
  interface?: string;
  filter: string;
  maxFlows: string;
  retention: string;
  localNet?: string[];
  eventsJson?: boolean;
  user?: string;
  group?: string;
}

function keyringFrom(values: AgentOptionValues): GossipKeyring | undefined {
  if (values.gossipKey !== undefined && values.gossipKeyFile !== undefined) {
    throw new UsageError('give --gossip-key or --gossip-key-file, not both');
  }
  if (values.gossipKey !== undefined)
    return makeGossipKeyring(parseGossipKey(values.gossipKey, '--gossip-key'));
  if (values.gossipKeyFile !== undefined) return readGossipKeyFile(values.gossipKeyFile);
  // SNIFFMESH_GOSSIP_KEY keeps the key out of the process list (ps shows flags).
  const fromEnvironment = process.env.SNIFFMESH_GOSSIP_KEY;
  if (fromEnvironment !== undefined && fromEnvironment !== '') {
    return makeGossipKeyring(parseGossipKey(fromEnvironment, 'SNIFFMESH_GOSSIP_KEY'));
  }
  return undefined;
}

function timeOfDay(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function eventLine(event: MembershipEvent): string {
  const member = event.member;
  // Name and address are what the member sent: escaped, so no record can drive the terminal.
  return `${timeOfDay(event.timeMs)} ${event.type.padEnd(9)} ${terminalText(member.name)} ${terminalText(member.gossip)} (${member.state}, incarnation ${member.incarnation})`;
}

function eventJson(event: MembershipEvent): string {
  return terminalJson({ event: event.type, timeMs: event.timeMs, member: event.member });
}

/**
 * `sniffmesh agent`: runs one node of the mesh (membership, and capture unless --no-capture) until
 * SIGINT/SIGTERM, then leaves the cluster gracefully. Membership events go to stdout, one per line
 * (JSON lines with --events-json).
 */
export function registerAgentCommand(program: Command, output: { out: (text: string) => void }): void {
  const command = program
    .command('agent')
    .description(
      'run a mesh node: gossip membership and capture, until SIGINT/SIGTERM (then leave gracefully)',
    )
    .option('--gossip <host:port>', 'address the gossip socket binds', DEFAULT_GOSSIP_ADDRESS)
    .option('--advertise <host:port>', 'address other members reach this one at (NAT, containers)')
    .option('--grpc <host:port>', 'address the query service (gRPC) listens on', DEFAULT_GRPC_ADDRESS)
    .option(
      '--seeds <host:port,...>',
      'any members to join through (DNS names allowed); none = a new cluster',
    )
    .option('--name <name>', 'member name (default: the host name)')
    .addOption(
      new Option('--timing <preset>', 'gossip timing preset (README: membership timing)')
        .choices(['lan', 'local'])
        .default('lan'),
    )
    .option(
      '--gossip-key <base64>',
      "authenticate gossip with this key ('sniffmesh keygen'; or SNIFFMESH_GOSSIP_KEY)",
    )
    .option(
      '--gossip-key-file <file>',
      'key file: primary key on the first line, older accepted keys after it',
    )
    .option('--no-capture', 'run membership only, capture nothing')
    .option('-i, --interface <name>', 'interface to capture on (default: the first up, non-loopback one)')
    .option('--pcap <file>', 'replay this capture file instead of capturing live (no root needed)')
    .option('--replay-speed <x>', 'replay speed: 1 = as recorded, 0 = as fast as possible', '1')
    .option('--loop', 'replay the file again and again')
    .option('-f, --filter <expr>', 'BPF capture filter in tcpdump syntax', '')
    .option('--max-flows <N>', 'capture memory budget in flows', String(DEFAULT_MAX_FLOWS))
    .option('--retention <seconds>', 'how much history the node keeps', String(DEFAULT_RETENTION_SECONDS))
    .option(
      '--local-net <cidr>',
      "addresses of this host's networks (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--events-json', 'print membership events as JSON lines')
    .option(
      '--user <name>',
      'started as root: run as this user once sockets and capture are open',
      DEFAULT_DROP_USER,
    )
    .option(
      '--group <name>',
      'started as root: run as this group (no supplementary groups)',
      DEFAULT_DROP_GROUP,
    );
  addTlsOptions(command, 'agent');
  command.option(
    '--insecure',
    'allow plaintext gRPC and unauthenticated gossip on addresses reachable off this host',
  );
  command.action(async (values: AgentOptionValues) => {
    const bind = parseHostPort(values.gossip, '--gossip', true);
    const advertise =
      values.advertise === undefined ? undefined : parseHostPort(values.advertise, '--advertise');
    const seeds = (values.seeds ?? '')
      .split(',')
      .map((seed) => seed.trim())
      .filter((seed) => seed !== '');
    for (const seed of seeds) parseHostPort(seed, '--seeds');
    const keyring = keyringFrom(values);
    const maxFlows = parseInteger('--max-flows', values.maxFlows, MIN_MAX_FLOWS, MAX_MAX_FLOWS);
    const retentionSeconds = parseInteger('--retention', values.retention, 1, MAX_RETENTION_SECONDS);
    const localNetworks = new LocalNetworks();
    for (const cidr of values.localNet ?? []) localNetworks.add(cidr);
    const tls = tlsRequested(values) ? loadTlsMaterial(values, ['member']) : null;
    const name = agentName(values.name, tls);
    checkMemberName(
      name,
      values.name !== undefined
        ? '--name'
        : tls !== null
          ? 'the --tls-cert name'
          : 'the host name (give --name)',
    );
    const json = values.eventsJson === true;
    const grpcBind = parseHostPort(values.grpc, '--grpc', true);
    checkGrpcListener(grpcBind.host, tls !== null, values.insecure === true);
    checkGossipListener(bind.host, keyring !== undefined, values.insecure === true);
    const replaySpeed = Number(values.replaySpeed);
    if (values.replaySpeed.trim() === '')
      throw new UsageError('--replay-speed: give a number (0 = as fast as possible)');
    validateReplaySpeed(replaySpeed);
    if (values.pcap !== undefined && values.interface !== undefined) {
      throw new UsageError('give -i IFACE (live) or --pcap FILE (replay), not both');
    }
    if (values.pcap !== undefined && !values.capture)
      throw new UsageError('--pcap and --no-capture contradict');
    if (values.loop === true && values.pcap === undefined)
      throw new UsageError('--loop replays a --pcap file');
    if (values.pcap === '-' && values.loop === true)
      throw new UsageError('--loop cannot replay standard input');
    if (localNetworks.size > MAX_NETWORKS) {
      throw new UsageError(`--local-net: at most ${MAX_NETWORKS} blocks (they are gossiped with the member)`);
    }
    // Started as root: who the agent and its capture process become (a typo fails here, before joining).
    const dropTo = privilegeDropFor(command, values);

    // Before anything starts: a file that cannot be replayed fails the agent before it joins (once
    // joined, a failing agent would leave its peers to detect it as failed).
    if (values.capture && values.pcap !== undefined) await checkCaptureFile(values.pcap);

    let capture: CaptureProcessClient | undefined;
    let captureInterface = '';
    if (values.capture) {
      const started = await CaptureProcessClient.start({
        ...(values.pcap === undefined
          ? {}
          : { replay: { path: values.pcap, speed: replaySpeed, loop: values.loop === true } }),
        nodeName: name,
        tableTtlMs: DEFAULT_QUERY_CONFIG.windowTableTtlMs,
        tableCacheEntries: DEFAULT_QUERY_CONFIG.windowTableCacheEntries,
        interfaceName: values.interface,
        filter: values.filter,
        snaplen: 65535,
        promiscuous: true,
        bufferSizeBytes: undefined,
        disableOffloads: false,
        maxFlows,
        retentionSeconds,
        localNets: localNetworks.describe(),
        ...(dropTo === undefined ? {} : { dropTo }),
      });
      capture = started.client;
      captureInterface = started.counters.interfaceName;
    }

    const membership = new SwimMembership({
      bind,
      ...(advertise === undefined ? {} : { advertise }),
      metadata: {
        name,
        grpc: '',
        version: SNIFFMESH_VERSION,
        captureInterface,
        captureFilter: values.capture ? values.filter : '',
        networks: values.capture ? memberNetworks(localNetworks.describe(), values.pcap !== undefined) : [],
      },
      config: configForPreset(values.timing),
      ...(keyring === undefined ? {} : { keyring }),
    });
    membership.onEvent((event) => output.out(json ? eventJson(event) : eventLine(event)));
    const peers = new PeerPool(membership, { keepaliveMs: DEFAULT_QUERY_CONFIG.peerKeepaliveMs, tls });
    const clusterQuery = new ClusterQuery(membership, capture ?? null, peers, DEFAULT_QUERY_CONFIG);
    let server: RunningQueryServer | undefined;
    try {
      // Before joining: a port in use fails the agent before anyone learns about it.
      server = await startQueryServer(
        values.grpc,
        createQueryService({
          membership,
          engine: capture ?? null,
          clusterQuery,
          config: DEFAULT_QUERY_CONFIG,
          version: SNIFFMESH_VERSION,
          startedAtMs: Date.now(),
        }),
        DEFAULT_QUERY_CONFIG,
        tls,
      );
      // Binds the gossip socket, then joins: a bind failure (port in use, an address not on this host)
      // rejects here, before any datagram went out.
      await membership.start(seeds);
      // Both sockets are bound and the capture is open: nothing left needs root (README: Privileges).
      if (dropTo !== undefined) dropPrivileges(dropTo);
    } catch (error) {
      // Release everything that holds the event loop open, so the agent exits with the one error line
      // at once instead of serving queries with an empty membership.
      await membership.stop();
      peers.close();
      await server?.close(0);
      capture?.close();
      throw error;
    }
    // Peers reach the query service at the gossip address's host when --grpc binds a wildcard.
    const grpcPort = parseHostPort(server.address, '--grpc', true).port;
    const grpcHost = isWildcard(grpcBind.host)
      ? parseHostPort(membership.address, '--advertise').host
      : grpcBind.host;
    membership.updateMetadata({ grpc: formatHostPort(grpcHost, grpcPort) });
    if (capture !== undefined) {
      capture.onReplayFinished = (counters, error) => {
        process.stderr.write(
          `sniffmesh: replay of ${values.pcap} finished: ${counters.frames} frames` +
            `${error === null ? '' : `; stopped early: ${error.message}`}; still answering queries\n`,
        );
      };
    }
    let failure: SniffmeshError | null = null;
    // Listening before 'started' is announced: a SIGTERM right after it still leaves gracefully.
    const stopRequested = new Promise<void>((resolve) => {
      let stopping = false;
      const finish = () => {
        if (stopping) {
          // A second Ctrl-C: stop waiting for the leave to go out.
          process.exit(130);
        }
        stopping = true;
        resolve();
      };
      process.on('SIGINT', finish);
      process.on('SIGTERM', finish);
      if (capture !== undefined) {
        capture.onFailure = (error) => {
          failure = error;
          finish();
        };
      }
    });
    const self = membership.self();
    if (json) {
      output.out(JSON.stringify({ event: 'started', timeMs: Date.now(), self }));
    }
    process.stderr.write(
      `sniffmesh: agent ${name} gossiping on ${membership.address}` +
        `${seeds.length === 0 ? ' (new cluster)' : `, joining through ${seeds.join(',')}`}` +
        `${keyring === undefined ? ', gossip NOT authenticated (--gossip-key)' : ', gossip authenticated'}` +
        `${tls === null ? ', queries in plaintext' : `, queries over mutual TLS (certificate valid to ${tls.validTo.toISOString().slice(0, 10)})`}` +
        `${captureInterface === '' ? ', no capture' : `, capturing on ${captureInterface}`}` +
        `, queries on ${membership.self().grpc}; Ctrl-C leaves\n`,
    );

    await stopRequested;
    await membership.leave();
    peers.close();
    await server.close();
    let captureCounters: { interface: string; frames: number; kernelDrops: number | null } | null = null;
    if (capture !== undefined && failure === null) {
      try {
        const counters = await capture.stop();
        captureCounters = {
          interface: counters.interfaceName,
          frames: counters.frames,
          kernelDrops: counters.kernelDrops,
        };
      } finally {
        capture.close();
      }
    } else {
      capture?.close();
    }
    const gossip = membership.counters();
    if (json) {
      output.out(
        JSON.stringify({
          event: 'stopped',
          timeMs: Date.now(),
          capture: captureCounters,
          gossip: {
            suspicionsRaised: gossip.suspicionsRaised,
            refutations: gossip.refutations,
            verdictsSkippedForStall: gossip.verdictsSkippedForStall,
            dropped: gossip.transport.dropped,
            recordsDropped: gossip.recordsDropped,
          },
        }),
      );
    }
    if (failure !== null) throw failure;
  });
}

/**
 * The member name: --name, else the name in the member certificate, else the host name. With TLS the
 * certificate must name this member (peers check that the server they reach is the member they asked).
 */
function agentName(given: string | undefined, tls: TlsMaterial | null): string {
  if (tls === null) return given ?? hostname();
  if (given !== undefined && given !== tls.identity.name) {
    throw new UsageError(
      `--name ${given}: the --tls-cert names member ${tls.identity.name} (issue one for ${given}: sniffmesh certs issue DIR ${given})`,
    );
  }
  return tls.identity.name;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/**
 * The networks this member announces for the counting rule: its --local-net blocks, and when capturing
 * live its interface addresses, except loopback and link-local ones (every host has those: they say
 * nothing about which member sent a packet).
 */
function memberNetworks(localNets: readonly string[], replaying: boolean): string[] {
  const networks = [...localNets];
  if (!replaying) {
    for (const local of listLocalAddresses()) {
      const parsed = parseAddress(local.address);
      if (parsed === null) continue;
      const first = parsed.words[0] as number;
      const loopback = parsed.version === 4 ? first >>> 24 === 127 : local.address === '::1';
      const linkLocal = parsed.version === 4 ? first >>> 16 === 0xa9fe : first >>> 22 === 0xfe80 >>> 6;
      if (!loopback && !linkLocal) networks.push(local.address);
    }
  }
  return [...new Set(networks)].slice(0, MAX_NETWORKS);
}

/** `sniffmesh keygen`: prints a new random gossip key. */
export function registerKeygenCommand(program: Command, output: { out: (text: string) => void }): void {
  program
    .command('keygen')
    .description('print a new random gossip key (base64, 32 bytes) for --gossip-key or a key file')
    .action(() => output.out(generateGossipKey()));
}
