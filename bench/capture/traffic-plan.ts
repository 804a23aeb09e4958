/**
 * The traffic model of the benchmark capture: which conversations exist, between which hosts, and the
 * packets (direction, type, payload size, time) of each. Everything is drawn from seeded streams, one
 * per conversation kind, so the plan is identical for equal options.
 *
 * Shape (defaults; see capture-anchors.md for the figures it imitates): heavy-tailed TCP bulk transfers
 * from Zipf-popular servers carry most bytes, so the top 10 sources carry about half of them; many
 * small web flows; a SYN scan, DNS exchanges, one-way UDP datagrams and single pings make about half of
 * all 5-tuples single-packet ones; QUIC-like and RTP-like UDP; ICMP/ICMPv6 echo; ARP. About 60 % of
 * packets are IPv4. Flow counts scale with `flows`, packet counts with `packets`.
 */

import { FlowTally } from './flow-tally.js';
import { HostAddressBook } from './host-addresses.js';
import {
  ConversationTable,
  FROM_CLIENT,
  FROM_SERVER,
  PacketTable,
  PacketType,
  Protocol,
  VlanMode,
} from './packet-records.js';
import { SeededRandom, ZipfSampler } from './seeded-random.js';

export interface TrafficOptions {
  /** Packets in the capture (more only when `flows` cannot fit: see planTraffic). */
  packets: number;
  /** Target number of distinct directional 5-tuples. */
  flows: number;
  /** Hosts in the address book (60 % IPv4); nearly all of them send something. */
  hosts: number;
  seed: number;
}

export const DEFAULT_TRAFFIC_OPTIONS: TrafficOptions = {
  packets: 5_328_606,
  flows: 370_000,
  hosts: 50_500,
  seed: 1,
};

export const CAPTURE_SPAN_MICROS = 600_000_000;
const LAST_START_MARGIN_MICROS = 100_000;
const IPV4_PACKET_SHARE = 0.6;
const IPV4_HOST_SHARE = 0.6;
const SERVER_HOST_SHARE = 0.05;
/**
 * Popularity skew of servers and clients (Zipf exponents). The bulk-server exponent sets how much of
 * the bytes the top sources carry: with these values the top 10 sources send about half of them.
 */
const ZIPF_EXPONENT = { bulkServer: 1.4, webServer: 0.9, bulkClient: 0.8, webClient: 0.6 };
const ARP_FRAMES = 2_000;
const DOT1Q_CONVERSATION_SHARE = 0.27;
const QINQ_CONVERSATION_SHARE = 0.02;
/** QinQ only on conversations below this share of all packets, so it stays about 1 % of packets. */
const QINQ_MAX_CONVERSATION_PACKET_SHARE = 0.0005;
const EPHEMERAL_PORT_FIRST = 32_768;
const EPHEMERAL_PORT_LAST = 60_999;
const TCP_MSS_IPV4_BYTES = 1460;
const TCP_MSS_IPV6_BYTES = 1440;
const SCAN_PROBES_PER_TARGET = 60_000;
const SCAN_PORT_STRIDE = 30_011; // coprime with 65535: probes walk the port space without repeats

/** Share of the flow target per kind (directional 5-tuples; two per two-way conversation). */
const FLOW_SHARE = {
  scan: 0.1,
  dns: 0.26,
  oneWay: 0.11,
  singlePing: 0.04,
  pingSession: 0.01,
  web: 0.413,
  quic: 0.03,
  rtp: 0.001,
  syslog: 0.016,
  bulk: 0.02,
};

/** Share of the packet target for kinds whose conversations vary in length; bulk takes the rest. */
const PACKET_SHARE = { web: 0.19, quic: 0.05, rtp: 0.06, syslog: 0.012, pingSession: 0.004 };

/** Fewest packets a conversation of each kind can have (its fixed handshake/teardown). */
const MIN_PACKETS = { web: 6, quic: 6, rtp: 40, syslog: 2, pingSession: 4, bulk: 12 };

export interface TrafficPlan {
  options: TrafficOptions;
  addresses: HostAddressBook;
  conversations: ConversationTable;
  packets: PacketTable;
  distinctFlows: number;
  singlePacketFlows: number;
  /** Share of packets carried by the largest 1 % of 5-tuples. */
  topPercentFlowPacketShare: number;
}

/** Keeps a kind's IPv4 share of packets near IPV4_PACKET_SHARE, deterministically. */
class FamilyBalancer {
  private ipv4Packets = 0;
  private allPackets = 0;

  pickIpv4(packets: number): boolean {
    const ipv4 = this.ipv4Packets <= IPV4_PACKET_SHARE * this.allPackets;
    if (ipv4) this.ipv4Packets += packets;
    this.allPackets += packets;
    return ipv4;
  }
}

/** Hosts of one address family: servers are the first ids (Zipf rank 0 = most popular), then clients. */
class FamilyHosts {
  readonly serverCount: number;
  readonly clientCount: number;
  readonly bulkServers: ZipfSampler;
  readonly webServers: ZipfSampler;
  readonly bulkClients: ZipfSampler;
  readonly webClients: ZipfSampler;
  private coverageCursor = 0;
  private readonly coverageStride: number;

  constructor(
    readonly firstId: number,
    count: number,
  ) {
    this.serverCount = Math.max(64, Math.round(count * SERVER_HOST_SHARE));
    this.clientCount = count - this.serverCount;
    this.bulkServers = new ZipfSampler(this.serverCount, ZIPF_EXPONENT.bulkServer);
    this.webServers = new ZipfSampler(this.serverCount, ZIPF_EXPONENT.webServer);
    this.bulkClients = new ZipfSampler(this.clientCount, ZIPF_EXPONENT.bulkClient);
    this.webClients = new ZipfSampler(this.clientCount, ZIPF_EXPONENT.webClient);
    this.coverageStride = coprimeStride(this.clientCount);
  }

  server(rank: number): number {
    return this.firstId + (rank % this.serverCount);
  }

  client(rank: number): number {
    return this.firstId + this.serverCount + (rank % this.clientCount);
  }

  /** Walks every client once before repeating one: keeps nearly every host a sender. */
  nextCoverageClient(): number {
    const rank = (this.coverageCursor * this.coverageStride) % this.clientCount;
    this.coverageCursor++;
    return this.client(rank);
  }
}

function coprimeStride(modulus: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let stride = 7919;
  while (gcd(stride, modulus) !== 1) stride += 2;
  return stride;
}

/** Conversation counts and per-kind size targets derived from the options. */
function budget(options: TrafficOptions) {
  const { flows, packets } = options;
  const conversations = {
    scanProbes: Math.round((flows * FLOW_SHARE.scan) / 2),
    dns: Math.round((flows * FLOW_SHARE.dns) / 2),
    oneWay: Math.round(flows * FLOW_SHARE.oneWay),
    singlePing: Math.round((flows * FLOW_SHARE.singlePing) / 2),
    pingSession: Math.max(1, Math.round((flows * FLOW_SHARE.pingSession) / 2)),
    web: Math.max(1, Math.round((flows * FLOW_SHARE.web) / 2)),
    quic: Math.max(1, Math.round((flows * FLOW_SHARE.quic) / 2)),
    rtp: Math.max(1, Math.round((flows * FLOW_SHARE.rtp) / 2)),
    syslog: Math.max(1, Math.round(flows * FLOW_SHARE.syslog)),
    bulk: Math.max(1, Math.round((flows * FLOW_SHARE.bulk) / 2)),
  };
  const meanPackets = (kind: keyof typeof PACKET_SHARE, count: number) =>
    Math.max(MIN_PACKETS[kind], (packets * PACKET_SHARE[kind]) / count);
  return {
    conversations,
    meanPackets: {
      web: meanPackets('web', conversations.web),
      quic: meanPackets('quic', conversations.quic),
      rtp: meanPackets('rtp', conversations.rtp),
      syslog: meanPackets('syslog', conversations.syslog),
      pingSession: meanPackets('pingSession', conversations.pingSession),
    },
  };
}

class TrafficPlanner {
  readonly addresses: HostAddressBook;
  readonly conversations = new ConversationTable();
  readonly packets = new PacketTable();
  readonly tally = new FlowTally();
  private readonly ipv4: FamilyHosts;
  private readonly ipv6: FamilyHosts;
  private readonly nextEphemeralPort: Uint16Array;
  private readonly vlanRandom: SeededRandom;
  private readonly root: SeededRandom;
  /** Per-direction packet counts of the conversation being planned (for the flow tally). */
  private readonly directionPackets = new Uint32Array(2);

  constructor(readonly options: TrafficOptions) {
    const ipv4Hosts = Math.round(options.hosts * IPV4_HOST_SHARE);
    this.addresses = new HostAddressBook(ipv4Hosts, options.hosts - ipv4Hosts);
    this.ipv4 = new FamilyHosts(0, ipv4Hosts);
    this.ipv6 = new FamilyHosts(ipv4Hosts, options.hosts - ipv4Hosts);
    this.root = new SeededRandom(options.seed);
    this.vlanRandom = this.root.fork(1);
    const portRandom = this.root.fork(2);
    this.nextEphemeralPort = new Uint16Array(options.hosts);
    for (let host = 0; host < options.hosts; host++) {
      this.nextEphemeralPort[host] = portRandom.intBetween(EPHEMERAL_PORT_FIRST, EPHEMERAL_PORT_LAST);
    }
  }

  plan(): void {
    const { conversations, meanPackets } = budget(this.options);
    const random = (stream: number) => this.root.fork(100 + stream);
    this.planArp(random(0));
    this.planScan(random(1), conversations.scanProbes);
    this.planDns(random(2), conversations.dns);
    this.planOneWay(random(3), conversations.oneWay);
    this.planSinglePings(random(4), conversations.singlePing);
    this.planVariable(
      random(5),
      conversations.pingSession,
      meanPackets.pingSession,
      MIN_PACKETS.pingSession,
      (r, n) => this.planPingSession(r, n),
    );
    this.planVariable(random(6), conversations.web, meanPackets.web, MIN_PACKETS.web, (r, n) =>
      this.planWeb(r, n),
    );
    this.planVariable(random(7), conversations.quic, meanPackets.quic, MIN_PACKETS.quic, (r, n) =>
      this.planQuic(r, n),
    );
    this.planVariable(random(8), conversations.rtp, meanPackets.rtp, MIN_PACKETS.rtp, (r, n) =>
      this.planRtp(r, n),
    );
    this.planVariable(random(9), conversations.syslog, meanPackets.syslog, MIN_PACKETS.syslog, (r, n) =>
      this.planSyslog(r, n),
    );
    this.planBulkTransfers(random(10), conversations.bulk);
  }

  // --- kinds --------------------------------------------------------------------------------------

  /** Request/reply pairs between IPv4 neighbours; not IP, so outside every IP-level ground truth. */
  private planArp(random: SeededRandom): void {
    for (let pair = 0; pair < ARP_FRAMES / 2; pair++) {
      const asker = random.intBetween(0, this.ipv4.serverCount + this.ipv4.clientCount - 1);
      let target = random.intBetween(0, this.ipv4.serverCount + this.ipv4.clientCount - 2);
      if (target >= asker) target++;
      const conversation = this.conversations.add(asker, target, 0, 0, Protocol.arp);
      const start = this.startTime(random, 1_000);
      this.packets.add(conversation, FROM_CLIENT, PacketType.arpRequest, 0, start);
      this.packets.add(conversation, FROM_SERVER, PacketType.arpReply, 0, start + random.intBetween(50, 900));
    }
  }

  /** One IPv4 scanner SYN-probing closed ports of a few servers; each probe answered by RST-ACK. */
  private planScan(random: SeededRandom, probes: number): void {
    const scanner = this.ipv4.client(7);
    // About 2,500 probes/s, slower only if the scan would otherwise not fit in half the capture.
    const probeIntervalMicros = Math.max(
      2,
      Math.min(400, Math.floor(CAPTURE_SPAN_MICROS / 2 / Math.max(1, probes))),
    );
    // Intervals are drawn from [0.5, 1.5] x the mean, so the scan lasts at most 1.5 x probes x mean.
    let time = this.startTime(random, 1.5 * probes * probeIntervalMicros);
    for (let probe = 0; probe < probes; probe++) {
      const targetIndex = Math.floor(probe / SCAN_PROBES_PER_TARGET);
      const target = this.ipv4.server(60 + targetIndex);
      const sourcePort = 40_000 + ((targetIndex * 17) % 20_000);
      const port = ((probe % SCAN_PROBES_PER_TARGET) * SCAN_PORT_STRIDE) % 65_535;
      const conversation = this.conversations.add(scanner, target, sourcePort, port + 1, Protocol.tcp);
      this.assignVlan(conversation, 2);
      this.beginConversation();
      this.emit(conversation, FROM_CLIENT, PacketType.tcpSyn, 0, time);
      this.emit(conversation, FROM_SERVER, PacketType.tcpRstAck, 0, time + random.intBetween(60, 2_000));
      this.endConversation(conversation);
      time += random.intBetween(probeIntervalMicros >> 1, (probeIntervalMicros * 3) >> 1);
    }
  }

  private planDns(random: SeededRandom, exchanges: number): void {
    const balancer = new FamilyBalancer();
    for (let exchange = 0; exchange < exchanges; exchange++) {
      const family = balancer.pickIpv4(2) ? this.ipv4 : this.ipv6;
      const client = family.nextCoverageClient();
      const resolver = family.server(30 + (exchange % 4));
      const conversation = this.conversations.add(
        client,
        resolver,
        this.ephemeralPort(client),
        53,
        Protocol.udp,
      );
      this.assignVlan(conversation, 2);
      const start = this.startTime(random, 50_000);
      this.beginConversation();
      this.emit(conversation, FROM_CLIENT, PacketType.udp, random.intBetween(28, 60), start);
      this.emit(
        conversation,
        FROM_SERVER,
        PacketType.udp,
        random.intBetween(60, 300),
        start + random.intBetween(300, 40_000),
      );
      this.endConversation(conversation);
    }
  }

  /** Single datagrams that get no answer: SNMP traps, NTP, syslog from ephemeral ports. */
  private planOneWay(random: SeededRandom, datagrams: number): void {
    const balancer = new FamilyBalancer();
    for (let datagram = 0; datagram < datagrams; datagram++) {
      const family = balancer.pickIpv4(1) ? this.ipv4 : this.ipv6;
      const device = family.nextCoverageClient();
      const collector = family.server(40 + (datagram % 3));
      const pick = random.nextFloat();
      const port = pick < 0.5 ? 162 : pick < 0.8 ? 123 : 514;
      const payload = port === 123 ? 48 : random.intBetween(60, port === 162 ? 200 : 300);
      const conversation = this.conversations.add(
        device,
        collector,
        this.ephemeralPort(device),
        port,
        Protocol.udp,
      );
      this.assignVlan(conversation, 1);
      this.beginConversation();
      this.emit(conversation, FROM_CLIENT, PacketType.udp, payload, this.startTime(random, 0));
      this.endConversation(conversation);
    }
  }

  private planSinglePings(random: SeededRandom, pings: number): void {
    const balancer = new FamilyBalancer();
    for (let ping = 0; ping < pings; ping++) {
      const ipv4 = balancer.pickIpv4(2);
      const family = ipv4 ? this.ipv4 : this.ipv6;
      const client = family.client(random.intBetween(0, family.clientCount - 1));
      const server = family.server(family.webServers.sample(random));
      const protocol = ipv4 ? Protocol.icmp : Protocol.icmpv6;
      const conversation = this.conversations.add(client, server, ping & 0xffff, 0, protocol);
      this.assignVlan(conversation, 2);
      const start = this.startTime(random, 100_000);
      this.beginConversation();
      this.emit(conversation, FROM_CLIENT, PacketType.echoRequest, 56, start);
      this.emit(conversation, FROM_SERVER, PacketType.echoReply, 56, start + random.intBetween(200, 50_000));
      this.endConversation(conversation);
    }
  }

  private readonly pingBalancer = new FamilyBalancer();

  private planPingSession(random: SeededRandom, packets: number): void {
    const echoes = Math.max(2, packets >> 1);
    const ipv4 = this.pingBalancer.pickIpv4(echoes * 2);
    const family = ipv4 ? this.ipv4 : this.ipv6;
    const client = family.client(random.intBetween(0, family.clientCount - 1));
    const server = family.server(family.webServers.sample(random));
    const protocol = ipv4 ? Protocol.icmp : Protocol.icmpv6;
    const conversation = this.conversations.add(client, server, random.intBetween(1, 0xffff), 0, protocol);
    this.assignVlan(conversation, echoes * 2);
    let time = this.startTime(random, echoes * 1_000_000);
    this.beginConversation();
    for (let echo = 0; echo < echoes; echo++) {
      this.emit(conversation, FROM_CLIENT, PacketType.echoRequest, 56, time);
      this.emit(conversation, FROM_SERVER, PacketType.echoReply, 56, time + random.intBetween(200, 50_000));
      time += 1_000_000;
    }
    this.endConversation(conversation);
  }

  private readonly webBalancer = new FamilyBalancer();

  /** Short TCP: handshake, request, response; FIN teardown, or RST when very short. */
  private planWeb(random: SeededRandom, packets: number): void {
    const family = this.webBalancer.pickIpv4(packets) ? this.ipv4 : this.ipv6;
    const client = family.client(family.webClients.sample(random));
    const server = family.server(family.webServers.sample(random));
    const serverPort = random.nextFloat() < 0.75 ? 443 : 80;
    const conversation = this.conversations.add(
      client,
      server,
      this.ephemeralPort(client),
      serverPort,
      Protocol.tcp,
    );
    this.assignVlan(conversation, packets);
    const mss = family === this.ipv4 ? TCP_MSS_IPV4_BYTES : TCP_MSS_IPV6_BYTES;
    const clock = this.clock(random, packets, random.logUniform(20_000, 4_000_000));
    this.beginConversation();
    this.emit(conversation, FROM_CLIENT, PacketType.tcpSyn, 0, clock.next());
    this.emit(conversation, FROM_SERVER, PacketType.tcpSynAck, 0, clock.next());
    this.emit(conversation, FROM_CLIENT, PacketType.tcpAck, 0, clock.next());
    this.emit(conversation, FROM_CLIENT, PacketType.tcpData, random.intBetween(200, 900), clock.next());
    if (packets < 9) {
      for (let data = 0; data < packets - 5; data++) {
        this.emit(conversation, FROM_SERVER, PacketType.tcpData, random.intBetween(100, mss), clock.next());
      }
      this.emit(conversation, FROM_CLIENT, PacketType.tcpRstAck, 0, clock.next());
    } else {
      this.emitTransfer(random, conversation, FROM_SERVER, packets - 8, mss, clock);
      this.emitFinTeardown(conversation, clock);
    }
    this.endConversation(conversation);
  }

  private readonly quicBalancer = new FamilyBalancer();

  private planQuic(random: SeededRandom, packets: number): void {
    const family = this.quicBalancer.pickIpv4(packets) ? this.ipv4 : this.ipv6;
    const client = family.client(family.webClients.sample(random));
    const server = family.server(family.webServers.sample(random));
    const conversation = this.conversations.add(
      client,
      server,
      this.ephemeralPort(client),
      443,
      Protocol.udp,
    );
    this.assignVlan(conversation, packets);
    const clock = this.clock(random, packets, random.logUniform(100_000, 30_000_000));
    this.beginConversation();
    this.emit(conversation, FROM_CLIENT, PacketType.udp, random.intBetween(1200, 1250), clock.next());
    this.emit(conversation, FROM_SERVER, PacketType.udp, random.intBetween(1200, 1350), clock.next());
    this.emit(conversation, FROM_SERVER, PacketType.udp, random.intBetween(1200, 1350), clock.next());
    this.emit(conversation, FROM_CLIENT, PacketType.udp, random.intBetween(40, 80), clock.next());
    for (let index = 0; index < packets - 4; index++) {
      if (index % 4 === 3) {
        this.emit(conversation, FROM_CLIENT, PacketType.udp, random.intBetween(30, 60), clock.next());
      } else {
        const payload = random.nextFloat() < 0.8 ? 1350 : random.intBetween(100, 1350);
        this.emit(conversation, FROM_SERVER, PacketType.udp, payload, clock.next());
      }
    }
    this.endConversation(conversation);
  }

  private readonly rtpBalancer = new FamilyBalancer();

  /** A two-way call between two clients, 50 packets/s each way (20 ms G.711 frames). */
  private planRtp(random: SeededRandom, packets: number): void {
    const family = this.rtpBalancer.pickIpv4(packets) ? this.ipv4 : this.ipv6;
    const caller = family.client(random.intBetween(0, family.clientCount - 1));
    let callee = family.client(random.intBetween(0, family.clientCount - 1));
    if (callee === caller) callee = family.client(family.clientCount - 1 - (caller - family.client(0)));
    const callerPort = 16_384 + 2 * random.intBetween(0, 8_191);
    const calleePort = 16_384 + 2 * random.intBetween(0, 8_191);
    const conversation = this.conversations.add(caller, callee, callerPort, calleePort, Protocol.udp);
    this.assignVlan(conversation, packets);
    const frameMicros = 20_000;
    const frames = Math.ceil(packets / 2);
    const longestCallMicros = CAPTURE_SPAN_MICROS - 2 * LAST_START_MARGIN_MICROS;
    const interval = Math.min(frameMicros, longestCallMicros / frames);
    const start = this.startTime(random, frames * interval);
    this.beginConversation();
    for (let index = 0; index < packets; index++) {
      const direction = index & 1;
      const time = start + (index >> 1) * interval + direction * 3_000 + random.intBetween(0, 1_000);
      this.emit(conversation, direction, PacketType.udp, 172, time);
    }
    this.endConversation(conversation);
  }

  private readonly syslogBalancer = new FamilyBalancer();

  /** A device streaming syslog from port 514 to a collector: one multi-packet one-way flow. */
  private planSyslog(random: SeededRandom, packets: number): void {
    const family = this.syslogBalancer.pickIpv4(packets) ? this.ipv4 : this.ipv6;
    const device = family.client(random.intBetween(0, family.clientCount - 1));
    const collector = family.server(40 + random.intBetween(0, 2));
    const conversation = this.conversations.add(device, collector, 514, 514, Protocol.udp);
    this.assignVlan(conversation, packets);
    const clock = this.clock(random, packets, random.logUniform(1_000_000, 500_000_000));
    this.beginConversation();
    for (let index = 0; index < packets; index++) {
      this.emit(conversation, FROM_CLIENT, PacketType.udp, random.intBetween(60, 400), clock.next());
    }
    this.endConversation(conversation);
  }

  /**
   * Heavy-tailed TCP transfers (Pareto sizes, Zipf-popular servers), sized so that the whole capture
   * has exactly `options.packets` packets when the other kinds leave room.
   */
  private planBulkTransfers(random: SeededRandom, transfers: number): void {
    const alreadyPlanned = this.packets.count;
    const minimum = MIN_PACKETS.bulk;
    const remaining = Math.max(transfers * minimum, this.options.packets - alreadyPlanned);
    const raw = new Float64Array(transfers);
    let rawSum = 0;
    for (let index = 0; index < transfers; index++) {
      raw[index] = random.pareto(1.1, 1, 20_000);
      rawSum += raw[index];
    }
    const scale = (remaining - transfers * minimum) / rawSum;
    const sizes = new Uint32Array(transfers);
    let planned = 0;
    let largest = 0;
    for (let index = 0; index < transfers; index++) {
      sizes[index] = minimum + Math.floor(raw[index] * scale);
      planned += sizes[index];
      if (sizes[index] > sizes[largest]) largest = index;
    }
    sizes[largest] += remaining - planned;
    const balancer = new FamilyBalancer();
    for (let index = 0; index < transfers; index++) this.planBulk(random, sizes[index], balancer);
  }

  private planBulk(random: SeededRandom, packets: number, balancer: FamilyBalancer): void {
    const family = balancer.pickIpv4(packets) ? this.ipv4 : this.ipv6;
    const server = family.server(family.bulkServers.sample(random));
    const client = family.client(family.bulkClients.sample(random));
    const ports = [443, 443, 443, 80, 22, 445, 873, 9000];
    const serverPort = ports[random.intBetween(0, ports.length - 1)];
    const conversation = this.conversations.add(
      client,
      server,
      this.ephemeralPort(client),
      serverPort,
      Protocol.tcp,
    );
    this.assignVlan(conversation, packets);
    const mss = family === this.ipv4 ? TCP_MSS_IPV4_BYTES : TCP_MSS_IPV6_BYTES;
    const rate = random.logUniform(300, 20_000);
    const clock = this.clock(random, packets, (packets / rate) * 1_000_000);
    const sender = random.nextFloat() < 0.1 ? FROM_CLIENT : FROM_SERVER;
    this.beginConversation();
    this.emit(conversation, FROM_CLIENT, PacketType.tcpSyn, 0, clock.next());
    this.emit(conversation, FROM_SERVER, PacketType.tcpSynAck, 0, clock.next());
    this.emit(conversation, FROM_CLIENT, PacketType.tcpAck, 0, clock.next());
    this.emit(conversation, FROM_CLIENT, PacketType.tcpData, random.intBetween(100, 500), clock.next());
    this.emitTransfer(random, conversation, sender, packets - 8, mss, clock);
    this.emitFinTeardown(conversation, clock);
    this.endConversation(conversation);
  }

  // --- building blocks ----------------------------------------------------------------------------

  /** Draws `count` conversation sizes (min + exponential) and plans each; sizes average `mean`. */
  private planVariable(
    random: SeededRandom,
    count: number,
    mean: number,
    minimum: number,
    planOne: (random: SeededRandom, packets: number) => void,
  ): void {
    for (let index = 0; index < count; index++) {
      const exponential = -Math.log(1 - random.nextFloat());
      const packets = minimum + Math.min(Math.round((mean - minimum) * exponential), Math.round(mean * 40));
      planOne(random, packets);
    }
  }

  /** Data from `sender`, an ACK from the other side after every two data segments. */
  private emitTransfer(
    random: SeededRandom,
    conversation: number,
    sender: number,
    segments: number,
    mss: number,
    clock: ConversationClock,
  ): void {
    const receiver = 1 - sender;
    for (let index = 0; index < segments; index++) {
      if (index % 3 === 2) {
        this.emit(conversation, receiver, PacketType.tcpAck, 0, clock.next());
      } else {
        const payload = random.nextFloat() < 0.88 ? mss : random.intBetween(200, mss);
        this.emit(conversation, sender, PacketType.tcpData, payload, clock.next());
      }
    }
  }

  private emitFinTeardown(conversation: number, clock: ConversationClock): void {
    this.emit(conversation, FROM_SERVER, PacketType.tcpFinAck, 0, clock.next());
    this.emit(conversation, FROM_CLIENT, PacketType.tcpAck, 0, clock.next());
    this.emit(conversation, FROM_CLIENT, PacketType.tcpFinAck, 0, clock.next());
    this.emit(conversation, FROM_SERVER, PacketType.tcpAck, 0, clock.next());
  }

  private beginConversation(): void {
    this.directionPackets[0] = 0;
    this.directionPackets[1] = 0;
  }

  private emit(
    conversation: number,
    direction: number,
    type: number,
    payload: number,
    timeMicros: number,
  ): void {
    this.directionPackets[direction]++;
    this.packets.add(conversation, direction, type, payload, timeMicros);
  }

  /** Records the conversation's one or two directional 5-tuples in the flow tally. */
  private endConversation(conversation: number): void {
    const table = this.conversations;
    const protocol = table.protocol[conversation];
    const icmp = protocol === Protocol.icmp || protocol === Protocol.icmpv6;
    const clientPort = icmp ? 0 : table.clientPort[conversation];
    const serverPort = icmp ? 0 : table.serverPort[conversation];
    const client = table.client[conversation];
    const server = table.server[conversation];
    this.tally.add(protocol, client, server, clientPort, serverPort, this.directionPackets[FROM_CLIENT]);
    this.tally.add(protocol, server, client, serverPort, clientPort, this.directionPackets[FROM_SERVER]);
  }

  private assignVlan(conversation: number, packets: number): void {
    const pick = this.vlanRandom.nextFloat();
    const server = this.conversations.server[conversation];
    if (
      pick < QINQ_CONVERSATION_SHARE &&
      packets <= this.options.packets * QINQ_MAX_CONVERSATION_PACKET_SHARE
    ) {
      this.conversations.setVlan(conversation, VlanMode.qinq, 1000 + (server % 8), 10 + (server % 50));
    } else if (pick < QINQ_CONVERSATION_SHARE + DOT1Q_CONVERSATION_SHARE) {
      this.conversations.setVlan(conversation, VlanMode.dot1q, 100 + (server % 20), 0);
    }
  }

  private ephemeralPort(host: number): number {
    const port = this.nextEphemeralPort[host];
    this.nextEphemeralPort[host] = port >= EPHEMERAL_PORT_LAST ? EPHEMERAL_PORT_FIRST : port + 1;
    return port;
  }

  /** A start time that leaves `durationMicros` before the end of the capture. */
  private startTime(random: SeededRandom, durationMicros: number): number {
    const latest = Math.max(0, CAPTURE_SPAN_MICROS - LAST_START_MARGIN_MICROS - durationMicros);
    return Math.floor(random.nextFloat() * latest);
  }

  private clock(random: SeededRandom, packets: number, durationMicros: number): ConversationClock {
    const duration = Math.min(durationMicros, CAPTURE_SPAN_MICROS - 2 * LAST_START_MARGIN_MICROS);
    return new ConversationClock(random, this.startTime(random, duration), duration / packets);
  }
}

/**
 * Packet times of one conversation: evenly spaced with jitter of up to half a gap, so never out of
 * order (equal only when gaps are under 2 microseconds; the writer then keeps plan order).
 */
class ConversationClock {
  private index = 0;

  constructor(
    private readonly random: SeededRandom,
    private readonly startMicros: number,
    private readonly gapMicros: number,
  ) {}

  next(): number {
    const jitter = this.random.nextFloat() * 0.5 * this.gapMicros;
    return Math.floor(this.startMicros + this.index++ * this.gapMicros + jitter);
  }
}

/**
 * Plans the whole capture. Packets are `options.packets` exactly unless the flow target needs more
 * (each kind has a minimum conversation length: 3.7 M flows need about 8 M packets).
 */
export function planTraffic(options: TrafficOptions): TrafficPlan {
  const planner = new TrafficPlanner(options);
  planner.plan();
  return {
    options,
    addresses: planner.addresses,
    conversations: planner.conversations,
    packets: planner.packets,
    distinctFlows: planner.tally.distinctFlows,
    singlePacketFlows: planner.tally.singlePacketFlows(),
    topPercentFlowPacketShare: planner.tally.topFlowPacketShare(0.01),
  };
}
