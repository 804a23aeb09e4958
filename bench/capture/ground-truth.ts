/**
 * The ground truth written next to each generated capture (`<file>.truth.json`): what any correct
 * per-address accounting of the file must report. Bytes are wire bytes (pcap orig_len: Ethernet
 * header and VLAN tags included, no FCS); only frames carrying IP count in the per-address tables, and
 * only their outer IP header (the generator makes no tunnels). A frame counts once for its source,
 * once for its destination, and once for each of the two distinct addresses in `byHost`.
 */

import { readFileSync } from 'node:fs';
import type { CaptureCounts } from './capture-writer.js';
import type { TrafficOptions, TrafficPlan } from './traffic-plan.js';

export const GROUND_TRUTH_FORMAT = 'sniffmesh-bench-ground-truth/1';

export interface AddressCount {
  packets: number;
  bytes: number;
}

export interface GroundTruth {
  format: typeof GROUND_TRUTH_FORMAT;
  generatorVersion: number;
  options: TrafficOptions & { snaplen: number };
  file: { path: string; bytes: number };
  byteDefinition: string;
  totals: {
    packets: number;
    bytes: number;
    capturedBytes: number;
    ipPackets: number;
    ipBytes: number;
    nonIpPackets: number;
    ipv4Packets: number;
    ipv6Packets: number;
    tcpPackets: number;
    udpPackets: number;
    icmpPackets: number;
    icmpv6Packets: number;
    arpFrames: number;
    untaggedPackets: number;
    dot1qPackets: number;
    qinqPackets: number;
    spanSeconds: number;
  };
  flows: { distinct: number; singlePacket: number; topPercentPacketShare: number };
  addresses: { sources: number; destinations: number; hosts: number };
  /** Share of IP wire bytes sent by the 10 / 100 largest sources. */
  topSourceByteShare: { top10: number; top100: number };
  bySource: Record<string, AddressCount>;
  byDestination: Record<string, AddressCount>;
  byHost: Record<string, AddressCount>;
}

export function buildGroundTruth(
  plan: TrafficPlan,
  counts: CaptureCounts,
  snaplen: number,
  path: string,
  generatorVersion: number,
): GroundTruth {
  const bySource: Record<string, AddressCount> = {};
  const byDestination: Record<string, AddressCount> = {};
  const byHost: Record<string, AddressCount> = {};
  const sourceBytes: number[] = [];
  for (let host = 0; host < plan.addresses.hostCount; host++) {
    const sent = counts.sourcePackets[host];
    const received = counts.destinationPackets[host];
    if (sent === 0 && received === 0) continue;
    const address = plan.addresses.text(host);
    if (sent > 0) {
      bySource[address] = { packets: sent, bytes: counts.sourceBytes[host] };
      sourceBytes.push(counts.sourceBytes[host]);
    }
    if (received > 0) byDestination[address] = { packets: received, bytes: counts.destinationBytes[host] };
    // The generator never sends a frame from a host to itself, so a host's frames are its sent plus
    // its received ones.
    byHost[address] = {
      packets: sent + received,
      bytes: counts.sourceBytes[host] + counts.destinationBytes[host],
    };
  }
  sourceBytes.sort((a, b) => b - a);
  const share = (top: number) =>
    sourceBytes.slice(0, top).reduce((sum, bytes) => sum + bytes, 0) / counts.ipWireBytes;
  return {
    format: GROUND_TRUTH_FORMAT,
    generatorVersion,
    options: { ...plan.options, snaplen },
    file: { path, bytes: counts.fileBytes },
    byteDefinition: 'wire bytes: pcap orig_len (Ethernet header and VLAN tags included, no FCS)',
    totals: {
      packets: counts.packets,
      bytes: counts.wireBytes,
      capturedBytes: counts.capturedBytes,
      ipPackets: counts.ipPackets,
      ipBytes: counts.ipWireBytes,
      nonIpPackets: counts.packets - counts.ipPackets,
      ipv4Packets: counts.ipv4Packets,
      ipv6Packets: counts.ipv6Packets,
      tcpPackets: counts.tcpPackets,
      udpPackets: counts.udpPackets,
      icmpPackets: counts.icmpPackets,
      icmpv6Packets: counts.icmpv6Packets,
      arpFrames: counts.arpFrames,
      untaggedPackets: counts.untaggedPackets,
      dot1qPackets: counts.dot1qPackets,
      qinqPackets: counts.qinqPackets,
      spanSeconds: (counts.lastTimestampMicros - counts.firstTimestampMicros) / 1_000_000,
    },
    flows: {
      distinct: plan.distinctFlows,
      singlePacket: plan.singlePacketFlows,
      topPercentPacketShare: plan.topPercentFlowPacketShare,
    },
    addresses: {
      sources: Object.keys(bySource).length,
      destinations: Object.keys(byDestination).length,
      hosts: Object.keys(byHost).length,
    },
    topSourceByteShare: { top10: share(10), top100: share(100) },
    bySource,
    byDestination,
    byHost,
  };
}

/** Reads a ground truth file; returns undefined when it is missing, unreadable or of another format. */
export function readGroundTruth(path: string): GroundTruth | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as GroundTruth;
    return parsed.format === GROUND_TRUTH_FORMAT ? parsed : undefined;
  } catch {
    return undefined;
  }
}
