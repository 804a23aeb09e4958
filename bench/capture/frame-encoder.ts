/**
 * Encodes one planned packet as a pcap record (16-byte record header + frame bytes) straight into the
 * output chunk. The frame is valid Ethernet: 802.1Q / 802.1ad tags as planned, IPv4 (with header
 * checksum) or IPv6, TCP/UDP/ICMP/ICMPv6 headers, ARP; IP total / payload length and UDP length agree
 * with the wire length, which is padded to the Ethernet minimum of 60 bytes (no FCS) like a real NIC.
 * Only `capturedLength = min(wire, snaplen)` bytes are stored; payload bytes are zero.
 *
 * The target chunk must be zero from `offset` on (the capture writer zeroes it after each flush), so
 * payload bytes need no writing. Per-frame results are left in public fields, not returned as objects.
 */

import type { HostAddressBook } from './host-addresses.js';
import { type ConversationTable, FROM_CLIENT, PacketType, Protocol, VlanMode } from './packet-records.js';

export const PCAP_RECORD_HEADER_BYTES = 16;
const ETHERNET_HEADER_BYTES = 14;
const VLAN_TAG_BYTES = 4;
const ETHERNET_MIN_FRAME_BYTES = 60;
const IPV4_HEADER_BYTES = 20;
const IPV6_HEADER_BYTES = 40;
const TCP_HEADER_BYTES = 20;
const UDP_HEADER_BYTES = 8;
const ICMP_ECHO_HEADER_BYTES = 8;
const ARP_BODY_BYTES = 28;
const TCP_WINDOW_BYTES = 64_240;
/** Longest header stack this encoder writes: QinQ Ethernet + IPv6 + TCP. */
export const MAX_HEADER_BYTES =
  ETHERNET_HEADER_BYTES + 2 * VLAN_TAG_BYTES + IPV6_HEADER_BYTES + TCP_HEADER_BYTES;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_DOT1Q = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;

const TCP_FLAGS_BY_PACKET_TYPE = new Uint8Array(16);
TCP_FLAGS_BY_PACKET_TYPE[PacketType.tcpSyn] = 0x02;
TCP_FLAGS_BY_PACKET_TYPE[PacketType.tcpSynAck] = 0x12;
TCP_FLAGS_BY_PACKET_TYPE[PacketType.tcpAck] = 0x10;
TCP_FLAGS_BY_PACKET_TYPE[PacketType.tcpData] = 0x18;
TCP_FLAGS_BY_PACKET_TYPE[PacketType.tcpFinAck] = 0x11;
TCP_FLAGS_BY_PACKET_TYPE[PacketType.tcpRstAck] = 0x14;

export class FrameEncoder {
  /** Results of the last encode() call. */
  wireLength = 0;
  capturedLength = 0;
  sourceHost = 0;
  destinationHost = 0;
  /** True when the frame carries IP (ARP does not): only those count in the IP ground truth. */
  isIp = false;

  /**
   * Next TCP sequence number per conversation and direction (slot conversation * 2 + direction),
   * advanced as frames are written in time order; for ICMP slot 2c counts echo requests.
   */
  private readonly nextSequence: Uint32Array;

  constructor(
    private readonly conversations: ConversationTable,
    private readonly addresses: HostAddressBook,
    /** Bytes stored per frame at most; 0 stores whole frames. */
    private readonly snaplen: number,
  ) {
    this.nextSequence = new Uint32Array(conversations.count * 2);
    for (let slot = 0; slot < this.nextSequence.length; slot++) {
      this.nextSequence[slot] =
        conversations.protocol[slot >>> 1] === Protocol.tcp ? Math.imul(slot + 1, 0x9e3779b1) : 0;
    }
  }

  /**
   * Writes the record of one packet at `offset` and returns the bytes written (16 + captured length).
   * `row` only sets the IPv4 identification field.
   */
  encode(
    target: Uint8Array,
    offset: number,
    conversation: number,
    meta: number,
    payloadBytes: number,
    row: number,
    timestampSeconds: number,
    timestampMicros: number,
  ): number {
    const table = this.conversations;
    const direction = meta & 1;
    const type = meta >>> 1;
    const client = table.client[conversation];
    const server = table.server[conversation];
    const source = direction === FROM_CLIENT ? client : server;
    const destination = direction === FROM_CLIENT ? server : client;
    const protocol = table.protocol[conversation];
    const vlanMode = table.vlanMode[conversation];
    this.sourceHost = source;
    this.destinationHost = destination;

    let position = offset + PCAP_RECORD_HEADER_BYTES;
    const frameStart = position;
    if (type === PacketType.arpRequest) writeBroadcastMac(target, position);
    else writeHostMac(target, position, destination);
    writeHostMac(target, position + 6, source);
    position += 12;
    if (vlanMode === VlanMode.dot1q) {
      position = writeVlanTag(target, position, ETHERTYPE_DOT1Q, table.vlanId[conversation]);
    } else if (vlanMode === VlanMode.qinq) {
      position = writeVlanTag(target, position, ETHERTYPE_QINQ, table.vlanId[conversation]);
      position = writeVlanTag(target, position, ETHERTYPE_DOT1Q, table.innerVlanId[conversation]);
    }
    const linkHeaderBytes = position + 2 - frameStart;

    let headerEnd: number;
    let wire: number;
    if (protocol === Protocol.arp) {
      writeUint16(target, position, ETHERTYPE_ARP);
      headerEnd = this.writeArp(target, position + 2, type, source, destination);
      wire = linkHeaderBytes + ARP_BODY_BYTES;
      this.isIp = false;
    } else {
      const transportHeaderBytes =
        protocol === Protocol.tcp
          ? TCP_HEADER_BYTES
          : protocol === Protocol.udp
            ? UDP_HEADER_BYTES
            : ICMP_ECHO_HEADER_BYTES;
      const transportBytes = transportHeaderBytes + payloadBytes;
      let transportStart: number;
      if (this.addresses.isIpv4(source)) {
        writeUint16(target, position, ETHERTYPE_IPV4);
        transportStart = this.writeIpv4(
          target,
          position + 2,
          protocol,
          IPV4_HEADER_BYTES + transportBytes,
          source,
          destination,
          row,
        );
        wire = linkHeaderBytes + IPV4_HEADER_BYTES + transportBytes;
      } else {
        writeUint16(target, position, ETHERTYPE_IPV6);
        transportStart = this.writeIpv6(target, position + 2, protocol, transportBytes, source, destination);
        wire = linkHeaderBytes + IPV6_HEADER_BYTES + transportBytes;
      }
      headerEnd = this.writeTransport(
        target,
        transportStart,
        protocol,
        type,
        direction,
        conversation,
        transportBytes,
        source,
        destination,
      );
      this.isIp = true;
    }
    if (wire < ETHERNET_MIN_FRAME_BYTES) wire = ETHERNET_MIN_FRAME_BYTES;
    const captured = this.snaplen > 0 && wire > this.snaplen ? this.snaplen : wire;
    // Headers past the snaplen were written anyway; zero them so the next record starts on zeros.
    const capturedEnd = frameStart + captured;
    if (headerEnd > capturedEnd) target.fill(0, capturedEnd, headerEnd);

    writeUint32Le(target, offset, timestampSeconds);
    writeUint32Le(target, offset + 4, timestampMicros);
    writeUint32Le(target, offset + 8, captured);
    writeUint32Le(target, offset + 12, wire);
    this.wireLength = wire;
    this.capturedLength = captured;
    return PCAP_RECORD_HEADER_BYTES + captured;
  }

  private writeIpv4(
    target: Uint8Array,
    at: number,
    protocol: number,
    totalLength: number,
    source: number,
    destination: number,
    row: number,
  ): number {
    const sourceValue = this.addresses.ipv4Value(source);
    const destinationValue = this.addresses.ipv4Value(destination);
    target[at] = 0x45;
    target[at + 1] = 0;
    writeUint16(target, at + 2, totalLength);
    writeUint16(target, at + 4, row & 0xffff);
    target[at + 6] = 0x40; // don't fragment
    target[at + 7] = 0;
    target[at + 8] = 64;
    target[at + 9] = protocol;
    writeUint32(target, at + 12, sourceValue);
    writeUint32(target, at + 16, destinationValue);
    // Header checksum: one's-complement sum of the ten 16-bit words with the checksum field as zero.
    const sum =
      0x4500 +
      totalLength +
      (row & 0xffff) +
      0x4000 +
      ((64 << 8) | protocol) +
      (sourceValue >>> 16) +
      (sourceValue & 0xffff) +
      (destinationValue >>> 16) +
      (destinationValue & 0xffff);
    writeUint16(target, at + 10, onesComplementChecksum(sum));
    return at + IPV4_HEADER_BYTES;
  }

  private writeIpv6(
    target: Uint8Array,
    at: number,
    protocol: number,
    payloadLength: number,
    source: number,
    destination: number,
  ): number {
    target[at] = 0x60;
    target[at + 1] = 0;
    target[at + 2] = 0;
    target[at + 3] = 0;
    writeUint16(target, at + 4, payloadLength);
    target[at + 6] = protocol;
    target[at + 7] = 64;
    this.addresses.writeIpv6(source, target, at + 8);
    this.addresses.writeIpv6(destination, target, at + 24);
    return at + IPV6_HEADER_BYTES;
  }

  private writeTransport(
    target: Uint8Array,
    at: number,
    protocol: number,
    type: number,
    direction: number,
    conversation: number,
    transportBytes: number,
    source: number,
    destination: number,
  ): number {
    const table = this.conversations;
    const clientPort = table.clientPort[conversation];
    const serverPort = table.serverPort[conversation];
    const sourcePort = direction === FROM_CLIENT ? clientPort : serverPort;
    const destinationPort = direction === FROM_CLIENT ? serverPort : clientPort;
    // Payload bytes are zero, so a checksum over headers (and pseudo-header) is the real checksum.
    const pseudoHeaderSum =
      this.addresses.addressWordSum(source) +
      this.addresses.addressWordSum(destination) +
      protocol +
      transportBytes;
    const sequenceSlot = conversation * 2 + direction;
    if (protocol === Protocol.tcp) {
      const flags = TCP_FLAGS_BY_PACKET_TYPE[type];
      const sequence = this.nextSequence[sequenceSlot];
      const acknowledgement = type === PacketType.tcpSyn ? 0 : this.nextSequence[sequenceSlot ^ 1];
      // SYN and FIN take one sequence number each; data its payload bytes.
      const payloadBytes = transportBytes - TCP_HEADER_BYTES;
      this.nextSequence[sequenceSlot] = sequence + payloadBytes + (flags & 0x03 ? 1 : 0);
      writeUint16(target, at, sourcePort);
      writeUint16(target, at + 2, destinationPort);
      writeUint32(target, at + 4, sequence);
      writeUint32(target, at + 8, acknowledgement);
      target[at + 12] = 0x50; // data offset 5 words, no options
      target[at + 13] = flags;
      writeUint16(target, at + 14, TCP_WINDOW_BYTES);
      const sum =
        pseudoHeaderSum +
        sourcePort +
        destinationPort +
        (sequence >>> 16) +
        (sequence & 0xffff) +
        (acknowledgement >>> 16) +
        (acknowledgement & 0xffff) +
        (0x5000 | flags) +
        TCP_WINDOW_BYTES;
      writeUint16(target, at + 16, onesComplementChecksum(sum));
      return at + TCP_HEADER_BYTES;
    }
    if (protocol === Protocol.udp) {
      writeUint16(target, at, sourcePort);
      writeUint16(target, at + 2, destinationPort);
      writeUint16(target, at + 4, transportBytes);
      const checksum = onesComplementChecksum(
        pseudoHeaderSum + sourcePort + destinationPort + transportBytes,
      );
      writeUint16(target, at + 6, checksum === 0 ? 0xffff : checksum); // 0 means "no checksum" in UDP
      return at + UDP_HEADER_BYTES;
    }
    // ICMP echo: identifier from the conversation; sequence counts the requests of the conversation.
    const request = type === PacketType.echoRequest;
    const icmpType = protocol === Protocol.icmp ? (request ? 8 : 0) : request ? 128 : 129;
    const echoSlot = conversation * 2;
    if (request) this.nextSequence[echoSlot] = (this.nextSequence[echoSlot] + 1) & 0xffff;
    const echoSequence = this.nextSequence[echoSlot] & 0xffff;
    target[at] = icmpType;
    writeUint16(target, at + 4, clientPort);
    writeUint16(target, at + 6, echoSequence);
    const headerSum = (icmpType << 8) + clientPort + echoSequence;
    writeUint16(
      target,
      at + 2,
      onesComplementChecksum(protocol === Protocol.icmp ? headerSum : headerSum + pseudoHeaderSum),
    );
    return at + ICMP_ECHO_HEADER_BYTES;
  }

  private writeArp(
    target: Uint8Array,
    at: number,
    type: number,
    source: number,
    destination: number,
  ): number {
    const request = type === PacketType.arpRequest;
    writeUint16(target, at, 1); // Ethernet
    writeUint16(target, at + 2, ETHERTYPE_IPV4);
    target[at + 4] = 6;
    target[at + 5] = 4;
    writeUint16(target, at + 6, request ? 1 : 2);
    writeHostMac(target, at + 8, source);
    writeUint32(target, at + 14, this.addresses.ipv4Value(source));
    if (request) target.fill(0, at + 18, at + 24);
    else writeHostMac(target, at + 18, destination);
    writeUint32(target, at + 24, this.addresses.ipv4Value(destination));
    return at + ARP_BODY_BYTES;
  }
}

/** Locally administered unicast MAC 02:00:<host id, 4 bytes>. */
/** Folds a sum of 16-bit words into the one's-complement Internet checksum (RFC 1071). */
function onesComplementChecksum(wordSum: number): number {
  let sum = (wordSum & 0xffff) + (wordSum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function writeHostMac(target: Uint8Array, at: number, host: number): void {
  target[at] = 0x02;
  target[at + 1] = 0x00;
  writeUint32(target, at + 2, host);
}

function writeBroadcastMac(target: Uint8Array, at: number): void {
  target.fill(0xff, at, at + 6);
}

function writeVlanTag(target: Uint8Array, at: number, tagType: number, vlanId: number): number {
  writeUint16(target, at, tagType);
  writeUint16(target, at + 2, vlanId & 0x0fff);
  return at + VLAN_TAG_BYTES;
}

function writeUint16(target: Uint8Array, at: number, value: number): void {
  target[at] = (value >>> 8) & 0xff;
  target[at + 1] = value & 0xff;
}

function writeUint32(target: Uint8Array, at: number, value: number): void {
  target[at] = (value >>> 24) & 0xff;
  target[at + 1] = (value >>> 16) & 0xff;
  target[at + 2] = (value >>> 8) & 0xff;
  target[at + 3] = value & 0xff;
}

function writeUint32Le(target: Uint8Array, at: number, value: number): void {
  target[at] = value & 0xff;
  target[at + 1] = (value >>> 8) & 0xff;
  target[at + 2] = (value >>> 16) & 0xff;
  target[at + 3] = (value >>> 24) & 0xff;
}
