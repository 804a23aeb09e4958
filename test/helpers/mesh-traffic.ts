import { FlowStore } from '../../src/node/flows/flow-store.js';
import { LocalNetworks } from '../../src/node/flows/local-networks.js';
import {
  FactsBuffer,
  ipv4,
  ipv6,
  makeFlow,
  type RefAddress,
  type RefCounters,
  type RefFlow,
} from './naive-traffic-reference.js';
import { SeededRandom } from './seeded-random.js';

/**
 * Traffic of a whole mesh with its ground truth: every packet exists once in `truth`, and is recorded in
 * the FlowStore of every node that would capture it: the sender when it is a member, the receiver when it
 * is a member, and for transit traffic (neither end a member) every node on its path (1..3 nodes, each
 * seeing the whole flow). A correct cluster answer counts each packet once.
 */
export interface MeshTraffic {
  readonly stores: FlowStore[];
  /** Per node, the networks it announces (its member address). */
  readonly networks: string[][];
  /** Every distinct flow with its true counters. */
  readonly truth: RefCounters[];
  /** The seconds the packets were stamped in: [firstSecond, lastSecond]. */
  readonly firstSecond: number;
  readonly lastSecond: number;
}

export interface MeshTrafficOptions {
  nodes: number;
  seed: number;
  flows: number;
  /** Share of flows of each kind (the rest are member <-> member). */
  outsiderShare?: number;
  transitShare?: number;
  /** Seconds the packets spread over, from `startSecond`. */
  seconds?: number;
  startSecond?: number;
  /** Heavy-tailed packet counts up to this. */
  maxPacketsPerFlow?: number;
  maxFlowsPerStore?: number;
}

export function memberAddress(node: number): RefAddress {
  return node % 3 === 2
    ? ipv6([0x2001, 0xdb8, 0xaa, node, 0, 0, 0, 1])
    : ipv4(10, 0, node & 0xff, 1 + (node >> 8));
}

const PROTOCOLS = [6, 6, 6, 17, 17, 1, 132];
const SIZES = [60, 64, 100, 576, 1500];

export function buildMeshTraffic(options: MeshTrafficOptions): MeshTraffic {
  const random = new SeededRandom(options.seed);
  const startSecond = options.startSecond ?? 1_700_000_000;
  const seconds = options.seconds ?? 5;
  const members = Array.from({ length: options.nodes }, (_, i) => memberAddress(i));
  const outsiders4 = Array.from({ length: 12 }, (_, i) => ipv4(192, 0, 2, 10 + i));
  const outsiders6 = Array.from({ length: 6 }, (_, i) => ipv6([0x2001, 0xdb8, 0xbb, 0, 0, 0, 0, 10 + i]));
  const transit4 = Array.from({ length: 10 }, (_, i) => ipv4(198, 51, 100, 10 + i));
  // Every member also owns 10.0.n.1 (the IPv6 ones talk IPv6 in the generated traffic).
  const networks = members.map((m, i) => [...new Set([m.text, `10.0.${i & 0xff}.${1 + (i >> 8)}`])]);
  const stores = networks.map((addresses) => {
    const local = new LocalNetworks();
    for (const address of addresses) local.add(address);
    return new FlowStore({ localNetworks: local, maxFlows: options.maxFlowsPerStore ?? 100_000 });
  });
  const outsiderFor = (like: RefAddress) =>
    like.version === 4
      ? outsiders4[random.int(outsiders4.length)]!
      : outsiders6[random.int(outsiders6.length)]!;
  const memberLike = (version: 4 | 6, except: number) => {
    const same = members
      .map((m, i) => ({ m, i }))
      .filter(({ m, i }) => m.version === version && i !== except);
    return same.length === 0 ? null : same[random.int(same.length)]!;
  };
  const packets: { flow: RefFlow; observers: number[]; second: number; size: number }[] = [];
  const seen = new Set<string>();
  const outsiderShare = options.outsiderShare ?? 0.4;
  const transitShare = options.transitShare ?? 0.2;
  const maxPackets = options.maxPacketsPerFlow ?? 40;
  for (let f = 0; f < options.flows; f++) {
    const kind = random.next();
    const protocol = PROTOCOLS[random.int(PROTOCOLS.length)]!;
    // ICMP keeps type << 8 | code in the destination port (as the decoder does): echo request.
    const ports: [number, number] =
      protocol === 1 ? [0, 0x0800] : [random.range(1024, 65535), [80, 443, 53, 22][random.int(4)]!];
    let flow: RefFlow;
    let observers: number[];
    if (kind < transitShare) {
      const a = transit4[random.int(transit4.length)]!;
      let b = transit4[random.int(transit4.length)]!;
      if (b === a) b = transit4[(transit4.indexOf(a) + 1) % transit4.length]!;
      flow = makeFlow(protocol, a, b, ports[0], ports[1]);
      const count = 1 + random.int(Math.min(3, options.nodes));
      const start = random.int(options.nodes);
      observers = Array.from({ length: count }, (_, i) => (start + i) % options.nodes);
    } else if (kind < transitShare + outsiderShare) {
      const node = random.int(options.nodes);
      const member = members[node]!;
      const outsider = outsiderFor(member);
      const icmp = member.version === 6 && protocol === 1 ? 58 : protocol;
      flow = random.chance(0.5)
        ? makeFlow(icmp, member, outsider, ports[0], ports[1])
        : makeFlow(icmp, outsider, member, protocol === 1 ? 0 : ports[1], protocol === 1 ? 0x0800 : ports[0]);
      observers = [node];
    } else {
      const from = random.int(options.nodes);
      const to = memberLike(members[from]!.version, from);
      if (to === null) {
        f--;
        continue;
      }
      const icmp = members[from]!.version === 6 && protocol === 1 ? 58 : protocol;
      flow = makeFlow(icmp, members[from]!, to.m, ports[0], ports[1]);
      observers = [from, to.i];
    }
    if (seen.has(flow.id)) continue;
    seen.add(flow.id);
    // Heavy-tailed: most flows are small, a few are large.
    const count = Math.max(1, Math.floor(maxPackets * random.next() ** 3));
    for (let p = 0; p < count; p++) {
      packets.push({
        flow,
        observers,
        second: startSecond + random.int(seconds),
        size: SIZES[random.int(SIZES.length)]!,
      });
    }
  }
  packets.sort((a, b) => a.second - b.second);
  const truth = new Map<string, RefCounters>();
  const facts = new FactsBuffer();
  for (const packet of packets) {
    const counters = truth.get(packet.flow.id) ?? { flow: packet.flow, packets: 0, bytes: 0 };
    counters.packets += 1;
    counters.bytes += packet.size;
    truth.set(packet.flow.id, counters);
    facts.load(packet.flow, 0);
    for (const node of packet.observers) stores[node]!.addPacket(facts, packet.size, packet.second, 0);
  }
  for (const store of stores) store.advanceTo(startSecond + seconds);
  return {
    stores,
    networks,
    truth: [...truth.values()],
    firstSecond: startSecond,
    lastSecond: startSecond + seconds - 1,
  };
}
