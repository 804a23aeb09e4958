/**
 * Writes a traffic plan as a classic pcap file (little-endian, microsecond timestamps, LINKTYPE 1) in
 * timestamp order, and counts the ground truth while doing it, from the very values it writes.
 *
 * Time order: every packet gets a sort key `time * 2^rowBits + row` in a Float64Array (exact below
 * 2^53) and one native numeric sort orders all of them; equal times keep plan order, which is causal
 * order within a conversation. Frames go into a 32 MiB chunk that is written with one syscall when full.
 */

import { closeSync, openSync, writeSync } from 'node:fs';
import { FrameEncoder, MAX_HEADER_BYTES, PCAP_RECORD_HEADER_BYTES } from './frame-encoder.js';
import { Protocol, VlanMode } from './packet-records.js';
import type { TrafficPlan } from './traffic-plan.js';

const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
const PCAP_GLOBAL_HEADER_BYTES = 24;
const LINKTYPE_ETHERNET = 1;
const WRITE_CHUNK_BYTES = 32 * 1024 * 1024;
const MAX_RECORD_BYTES = PCAP_RECORD_HEADER_BYTES + 65_535;
/** Capture start: 2023-11-14T22:13:20Z. Fixed so the file is the same on every run. */
export const CAPTURE_EPOCH_SECONDS = 1_700_000_000;
const MICROS_PER_SECOND = 1_000_000;
const EXACT_DOUBLE_BITS = 53;
const PROGRESS_EVERY_PACKETS = 1_000_000;

/** Everything the ground truth needs, counted per written frame. Bytes are wire bytes (orig_len). */
export interface CaptureCounts {
  fileBytes: number;
  packets: number;
  wireBytes: number;
  capturedBytes: number;
  ipPackets: number;
  ipWireBytes: number;
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
  firstTimestampMicros: number;
  lastTimestampMicros: number;
  /** Indexed by host id. */
  sourcePackets: Float64Array;
  sourceBytes: Float64Array;
  destinationPackets: Float64Array;
  destinationBytes: Float64Array;
}

/** Returns packet rows in time order (ties in plan order) and the time quantum of their keys. */
function timeOrder(plan: TrafficPlan): { keys: Float64Array; rowBits: number; quantumShift: number } {
  const count = plan.packets.count;
  const times = plan.packets.timeMicros;
  const rowBits = Math.max(1, Math.ceil(Math.log2(count + 1)));
  let maxTime = 0;
  for (let row = 0; row < count; row++) if (times[row] > maxTime) maxTime = times[row];
  // Coarsen time only when the file has so many packets that time and row no longer fit 53 bits.
  let quantumShift = 0;
  while ((maxTime >>> quantumShift) + 1 > 2 ** (EXACT_DOUBLE_BITS - rowBits)) quantumShift++;
  const rowScale = 2 ** rowBits;
  const keys = new Float64Array(count);
  for (let row = 0; row < count; row++) keys[row] = (times[row] >>> quantumShift) * rowScale + row;
  keys.sort();
  return { keys, rowBits, quantumShift };
}

export function writeCapture(
  plan: TrafficPlan,
  path: string,
  snaplen: number,
  progress: (message: string) => void,
): CaptureCounts {
  const hostCount = plan.addresses.hostCount;
  const counts: CaptureCounts = {
    fileBytes: 0,
    packets: 0,
    wireBytes: 0,
    capturedBytes: 0,
    ipPackets: 0,
    ipWireBytes: 0,
    ipv4Packets: 0,
    ipv6Packets: 0,
    tcpPackets: 0,
    udpPackets: 0,
    icmpPackets: 0,
    icmpv6Packets: 0,
    arpFrames: 0,
    untaggedPackets: 0,
    dot1qPackets: 0,
    qinqPackets: 0,
    firstTimestampMicros: 0,
    lastTimestampMicros: 0,
    sourcePackets: new Float64Array(hostCount),
    sourceBytes: new Float64Array(hostCount),
    destinationPackets: new Float64Array(hostCount),
    destinationBytes: new Float64Array(hostCount),
  };
  const { keys, rowBits, quantumShift } = timeOrder(plan);
  const rowScale = 2 ** rowBits;
  const encoder = new FrameEncoder(plan.conversations, plan.addresses, snaplen);
  const storedSnaplen = snaplen > 0 ? snaplen : 65_535;
  const chunk = Buffer.alloc(WRITE_CHUNK_BYTES);
  const flushAtBytes = WRITE_CHUNK_BYTES - Math.max(MAX_RECORD_BYTES, MAX_HEADER_BYTES);
  const file = openSync(path, 'w');
  try {
    chunk.writeUInt32LE(PCAP_MAGIC_MICROSECONDS, 0);
    chunk.writeUInt16LE(2, 4);
    chunk.writeUInt16LE(4, 6);
    chunk.writeInt32LE(0, 8);
    chunk.writeUInt32LE(0, 12);
    chunk.writeUInt32LE(storedSnaplen, 16);
    chunk.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    let used = PCAP_GLOBAL_HEADER_BYTES;
    const table = plan.packets;
    const protocols = plan.conversations.protocol;
    const vlanModes = plan.conversations.vlanMode;
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index];
      const row = key % rowScale;
      const timeMicros = ((key - row) / rowScale) * 2 ** quantumShift;
      const conversation = table.conversation[row];
      const seconds = CAPTURE_EPOCH_SECONDS + Math.floor(timeMicros / MICROS_PER_SECOND);
      const micros = timeMicros % MICROS_PER_SECOND;
      used += encoder.encode(
        chunk,
        used,
        conversation,
        table.meta[row],
        table.payloadBytes[row],
        row,
        seconds,
        micros,
      );
      const wire = encoder.wireLength;
      counts.wireBytes += wire;
      counts.capturedBytes += encoder.capturedLength;
      const protocol = protocols[conversation];
      const vlanMode = vlanModes[conversation];
      if (vlanMode === VlanMode.dot1q) counts.dot1qPackets++;
      else if (vlanMode === VlanMode.qinq) counts.qinqPackets++;
      else counts.untaggedPackets++;
      if (encoder.isIp) {
        const source = encoder.sourceHost;
        const destination = encoder.destinationHost;
        counts.ipPackets++;
        counts.ipWireBytes += wire;
        counts.sourcePackets[source]++;
        counts.sourceBytes[source] += wire;
        counts.destinationPackets[destination]++;
        counts.destinationBytes[destination] += wire;
        if (plan.addresses.isIpv4(source)) counts.ipv4Packets++;
        else counts.ipv6Packets++;
        if (protocol === Protocol.tcp) counts.tcpPackets++;
        else if (protocol === Protocol.udp) counts.udpPackets++;
        else if (protocol === Protocol.icmp) counts.icmpPackets++;
        else counts.icmpv6Packets++;
      } else {
        counts.arpFrames++;
      }
      if (index === 0) counts.firstTimestampMicros = timeMicros;
      counts.lastTimestampMicros = timeMicros;
      if (used >= flushAtBytes) {
        writeAll(file, chunk, used);
        counts.fileBytes += used;
        chunk.fill(0, 0, used);
        used = 0;
      }
      if ((index + 1) % PROGRESS_EVERY_PACKETS === 0)
        progress(`wrote ${index + 1} of ${keys.length} packets`);
    }
    writeAll(file, chunk, used);
    counts.fileBytes += used;
    counts.packets = keys.length;
  } finally {
    closeSync(file);
  }
  return counts;
}

function writeAll(file: number, chunk: Buffer, length: number): void {
  let written = 0;
  while (written < length) written += writeSync(file, chunk, written, length - written);
}
