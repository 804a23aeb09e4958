import {
  DECODED,
  UNDECODED_BAD_HEADER,
  UNDECODED_NOT_IP,
  UNDECODED_TRUNCATED,
  UNDECODED_UNSUPPORTED_LINK_TYPE,
} from './decode-outcome.js';
import {
  LINKTYPE_C_HDLC,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_PPP,
  LINKTYPE_PPP_HDLC,
  LINKTYPE_RAW,
  LINKTYPE_RAW_BSD12,
  LINKTYPE_RAW_BSD14,
} from './link-types.js';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard QinQ tags some switches still emit. */
const ETHERTYPE_QINQ_LEGACY_9100 = 0x9100;
const ETHERTYPE_QINQ_LEGACY_9200 = 0x9200;
const ETHERTYPE_MPLS_UNICAST = 0x8847;
const ETHERTYPE_MPLS_MULTICAST = 0x8848;
const ETHERTYPE_PPPOE_SESSION = 0x8864;
/** IEEE 802.1AE MACsec: integrity-only frames carry the payload in clear after the SecTAG. */
const ETHERTYPE_MACSEC = 0x88e5;
/** Network Service Header (RFC 8300), used by service function chaining. */
const ETHERTYPE_NSH = 0x894f;
/** Arista's vendor-specific protocol: a hardware timestamp inserted before the real EtherType. */
const ETHERTYPE_ARISTA = 0xd28b;
const MACSEC_TCI_SC = 0x20;
const MACSEC_TCI_E = 0x08;
const MACSEC_TCI_C = 0x04;
const NSH_NEXT_IPV4 = 1;
const NSH_NEXT_IPV6 = 2;
const NSH_NEXT_ETHERNET = 3;
const ARISTA_SUBTYPE_TIMESTAMP = 1;
const ARISTA_TIMESTAMP_64BIT = 0x0010;
const ARISTA_TIMESTAMP_48BIT = 0x0020;
const ARISTA_TIMESTAMP_UTC = 0x0100;
/** EtherType values up to this are 802.3 length fields, followed by an LLC header. */
const ETHER_MAX_8023_LENGTH = 1500;
/** LLC header of a SNAP frame: DSAP 0xaa, SSAP 0xaa, control 0x03 (then OUI and EtherType). */
const LLC_SNAP = [0xaa, 0xaa, 0x03];
const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
const PPP_MPLS_UNICAST = 0x0281;
const PPP_MPLS_MULTICAST = 0x0283;

const ETHERNET_HEADER_BYTES = 14;
const SLL_HEADER_BYTES = 16;
const SLL2_HEADER_BYTES = 20;
const NULL_HEADER_BYTES = 4;
const IPV4_MIN_HEADER_BYTES = 20;
const IPV6_HEADER_BYTES = 40;
/** Tags and labels beyond this many are treated as a bad header rather than walked forever. */
const MAX_STACKED_TAGS = 8;
const MAX_MPLS_LABELS = 16;
const MAX_IPV6_EXTENSION_HEADERS = 16;

const IPPROTO_HOPOPTS = 0;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_DCCP = 33;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_DSTOPTS = 60;
const IPPROTO_SCTP = 132;
const IPPROTO_UDPLITE = 136;
/** Mobility, HIP and Shim6 headers share the generic extension-header layout. */
const IPPROTO_MOBILITY = 135;
const IPPROTO_HIP = 139;
const IPPROTO_SHIM6 = 140;

/** BSD address-family values used by NULL/LOOP link types for IPv6 differ per OS; Linux's is 10. */
function isAddressFamilyIpv6(af: number): boolean {
  return af === 24 || af === 28 || af === 30 || af === 10;
}
const AF_INET = 2;

/**
 * Decodes one frame down to its outermost IP header and transport ports, gopacket-style: the decoder
 * is allocated once and its fields are overwritten by every call, valid only until the next call.
 * `decode()` allocates nothing and never throws: it returns an outcome from decode-outcome.ts.
 *
 * Addresses are stored as 32-bit words in network order: IPv4 uses word 0 only (words 1..3 are zero),
 * IPv6 uses all four. For ICMP and ICMPv6 the "ports" carry NetFlow's convention: srcPort 0,
 * dstPort = type << 8 | code. Non-first fragments have ports 0 (the transport header is elsewhere).
 */
export class PacketDecoder {
  /** 4 or 6 after a successful decode. */
  ipVersion = 0;
  /** Transport protocol number (after IPv6 extension headers), e.g. 6 TCP, 17 UDP. */
  protocol = 0;
  readonly srcAddr = new Uint32Array(4);
  readonly dstAddr = new Uint32Array(4);
  srcPort = 0;
  dstPort = 0;
  /** TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128); 0 for other protocols. */
  tcpFlags = 0;
  /** True for a non-first IP fragment (no transport header). */
  nonFirstFragment = false;
  /** Byte offset of the outermost IP header within the buffer passed to decode(). */
  ipOffset = 0;
  /**
   * A DataView over the last buffer decoded, re-created only when the buffer changes (capture sources
   * reuse one large buffer): its 32-bit reads of addresses beat assembling them byte by byte.
   */
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private viewSource: Uint8Array | null = null;

  decode(linkType: number, data: Uint8Array, offset: number, length: number): number {
    this.ipVersion = 0;
    this.protocol = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.nonFirstFragment = false;
    if (data !== this.viewSource) {
      this.viewSource = data;
      this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    }
    const end = offset + length;
    switch (linkType) {
      case LINKTYPE_ETHERNET:
        if (length < ETHERNET_HEADER_BYTES) return UNDECODED_TRUNCATED;
        return this.decodeEtherType(
          (data[offset + 12] << 8) | data[offset + 13],
          data,
          offset + ETHERNET_HEADER_BYTES,
          end,
        );
      case LINKTYPE_LINUX_SLL:
        if (length < SLL_HEADER_BYTES) return UNDECODED_TRUNCATED;
        return this.decodeEtherType(
          (data[offset + 14] << 8) | data[offset + 15],
          data,
          offset + SLL_HEADER_BYTES,
          end,
        );
      case LINKTYPE_LINUX_SLL2:
        if (length < SLL2_HEADER_BYTES) return UNDECODED_TRUNCATED;
        return this.decodeEtherType(
          (data[offset] << 8) | data[offset + 1],
          data,
          offset + SLL2_HEADER_BYTES,
          end,
        );
      case LINKTYPE_RAW:
      case LINKTYPE_RAW_BSD12:
      case LINKTYPE_RAW_BSD14:
        return this.decodeIpByVersion(data, offset, end);
      case LINKTYPE_IPV4:
        return this.decodeIpv4(data, offset, end);
      case LINKTYPE_IPV6:
        return this.decodeIpv6(data, offset, end);
      case LINKTYPE_NULL: {
        if (length < NULL_HEADER_BYTES) return UNDECODED_TRUNCATED;
        // The family is in the capturing host's byte order: read little-endian and swap if it looks wrong.
        let af =
          (data[offset] | (data[offset + 1] << 8) | (data[offset + 2] << 16) | (data[offset + 3] << 24)) >>>
          0;
        if (af > 0xffff) {
          af =
            ((data[offset] << 24) | (data[offset + 1] << 16) | (data[offset + 2] << 8) | data[offset + 3]) >>>
            0;
        }
        return this.decodeAddressFamily(af, data, offset + NULL_HEADER_BYTES, end);
      }
      case LINKTYPE_LOOP: {
        if (length < NULL_HEADER_BYTES) return UNDECODED_TRUNCATED;
        const af =
          ((data[offset] << 24) | (data[offset + 1] << 16) | (data[offset + 2] << 8) | data[offset + 3]) >>>
          0;
        return this.decodeAddressFamily(af, data, offset + NULL_HEADER_BYTES, end);
      }
      case LINKTYPE_PPP:
      case LINKTYPE_PPP_HDLC: {
        let p = offset;
        // HDLC-like framing puts address 0xff and control 0x03 first; plain PPP may omit them.
        if (p + 1 === end && data[p] === 0xff) return UNDECODED_TRUNCATED;
        if (p + 2 <= end && data[p] === 0xff && data[p + 1] === 0x03) p += 2;
        if (p >= end) return UNDECODED_TRUNCATED;
        let pppProtocol = data[p];
        // Protocol-field compression: an odd first byte is a one-byte protocol.
        if ((pppProtocol & 1) === 0) {
          if (p + 2 > end) return UNDECODED_TRUNCATED;
          pppProtocol = (pppProtocol << 8) | data[p + 1];
          p += 2;
        } else {
          p += 1;
        }
        if (pppProtocol === PPP_IPV4) return this.decodeIpv4(data, p, end);
        if (pppProtocol === PPP_IPV6) return this.decodeIpv6(data, p, end);
        if (pppProtocol === PPP_MPLS_UNICAST || pppProtocol === PPP_MPLS_MULTICAST) {
          return this.decodeMpls(data, p, end);
        }
        return UNDECODED_NOT_IP;
      }
      case LINKTYPE_C_HDLC:
        // Cisco HDLC: address, control, then an EtherType.
        if (length < 4) return UNDECODED_TRUNCATED;
        return this.decodeEtherType((data[offset + 2] << 8) | data[offset + 3], data, offset + 4, end);
      default:
        return UNDECODED_UNSUPPORTED_LINK_TYPE;
    }
  }

  private decodeAddressFamily(af: number, data: Uint8Array, p: number, end: number): number {
    if (af === AF_INET) return this.decodeIpv4(data, p, end);
    if (isAddressFamilyIpv6(af)) return this.decodeIpv6(data, p, end);
    return UNDECODED_NOT_IP;
  }

  /** Walks VLAN/QinQ tags, MPLS labels, PPPoE and 802.2 SNAP down to an IP header. */
  private decodeEtherType(etherType: number, data: Uint8Array, p: number, end: number): number {
    let type = etherType;
    for (let tags = 0; tags <= MAX_STACKED_TAGS; tags++) {
      switch (type) {
        case ETHERTYPE_IPV4:
          return this.decodeIpv4(data, p, end);
        case ETHERTYPE_IPV6:
          return this.decodeIpv6(data, p, end);
        case ETHERTYPE_VLAN:
        case ETHERTYPE_QINQ:
        case ETHERTYPE_QINQ_LEGACY_9100:
        case ETHERTYPE_QINQ_LEGACY_9200:
          if (p + 4 > end) return UNDECODED_TRUNCATED;
          type = (data[p + 2] << 8) | data[p + 3];
          p += 4;
          continue;
        case ETHERTYPE_MPLS_UNICAST:
        case ETHERTYPE_MPLS_MULTICAST:
          return this.decodeMpls(data, p, end);
        case ETHERTYPE_MACSEC: {
          if (p + 6 > end) return UNDECODED_TRUNCATED;
          const tci = data[p];
          // Encrypted or changed payload cannot be read; integrity-only frames can.
          if ((tci & (MACSEC_TCI_E | MACSEC_TCI_C)) !== 0) return UNDECODED_NOT_IP;
          p += (tci & MACSEC_TCI_SC) !== 0 ? 14 : 6;
          if (p + 2 > end) return UNDECODED_TRUNCATED;
          type = (data[p] << 8) | data[p + 1];
          p += 2;
          continue;
        }
        case ETHERTYPE_NSH: {
          if (p + 4 > end) return UNDECODED_TRUNCATED;
          const headerBytes = (data[p + 1] & 0x3f) << 2;
          const next = data[p + 3];
          if (headerBytes < 8) return UNDECODED_BAD_HEADER;
          p += headerBytes;
          if (next === NSH_NEXT_IPV4) return this.decodeIpv4(data, p, end);
          if (next === NSH_NEXT_IPV6) return this.decodeIpv6(data, p, end);
          if (next !== NSH_NEXT_ETHERNET) return UNDECODED_NOT_IP;
          if (p + ETHERNET_HEADER_BYTES > end) return UNDECODED_TRUNCATED;
          type = (data[p + 12] << 8) | data[p + 13];
          p += ETHERNET_HEADER_BYTES;
          continue;
        }
        case ETHERTYPE_ARISTA: {
          if (p + 4 > end) return UNDECODED_TRUNCATED;
          const subtype = (data[p] << 8) | data[p + 1];
          const version = (data[p + 2] << 8) | data[p + 3];
          if (subtype !== ARISTA_SUBTYPE_TIMESTAMP) return UNDECODED_NOT_IP;
          // Bit 8 of the version says TAI (0) or UTC (1); the low byte says the timestamp's width.
          if ((version & ~ARISTA_TIMESTAMP_UTC) === ARISTA_TIMESTAMP_64BIT) p += 12;
          else if ((version & ~ARISTA_TIMESTAMP_UTC) === ARISTA_TIMESTAMP_48BIT) p += 10;
          else return UNDECODED_NOT_IP;
          if (p + 2 > end) return UNDECODED_TRUNCATED;
          type = (data[p] << 8) | data[p + 1];
          p += 2;
          continue;
        }
        case ETHERTYPE_PPPOE_SESSION: {
          if (p + 8 > end) return UNDECODED_TRUNCATED;
          const pppProtocol = (data[p + 6] << 8) | data[p + 7];
          if (pppProtocol === PPP_IPV4) return this.decodeIpv4(data, p + 8, end);
          if (pppProtocol === PPP_IPV6) return this.decodeIpv6(data, p + 8, end);
          return UNDECODED_NOT_IP;
        }
        default:
          if (type <= ETHER_MAX_8023_LENGTH) {
            // 802.3 frame: only LLC/SNAP (AA AA 03, OUI, EtherType) can carry IP.
            // Whatever LLC bytes are present decide: a SNAP header cut short is truncated, anything else not IP.
            for (let i = 0; i < 3 && p + i < end; i++)
              if (data[p + i] !== LLC_SNAP[i]) return UNDECODED_NOT_IP;
            if (p + 8 > end) return UNDECODED_TRUNCATED;
            type = (data[p + 6] << 8) | data[p + 7];
            p += 8;
            continue;
          }
          return UNDECODED_NOT_IP;
      }
    }
    return UNDECODED_BAD_HEADER;
  }

  private decodeMpls(data: Uint8Array, p: number, end: number): number {
    for (let labels = 0; labels < MAX_MPLS_LABELS; labels++) {
      if (p + 4 > end) return UNDECODED_TRUNCATED;
      const bottomOfStack = data[p + 2] & 1;
      p += 4;
      if (bottomOfStack !== 0) {
        if (p >= end) return UNDECODED_TRUNCATED;
        const version = data[p] >> 4;
        if (version === 4) return this.decodeIpv4(data, p, end);
        if (version === 6) return this.decodeIpv6(data, p, end);
        return UNDECODED_NOT_IP;
      }
    }
    return UNDECODED_BAD_HEADER;
  }

  private decodeIpByVersion(data: Uint8Array, p: number, end: number): number {
    if (p >= end) return UNDECODED_TRUNCATED;
    const version = data[p] >> 4;
    if (version === 4) return this.decodeIpv4(data, p, end);
    if (version === 6) return this.decodeIpv6(data, p, end);
    return UNDECODED_BAD_HEADER;
  }

  private decodeIpv4(data: Uint8Array, p: number, end: number): number {
    if (p + IPV4_MIN_HEADER_BYTES > end) return UNDECODED_TRUNCATED;
    const versionAndLength = data[p];
    if (versionAndLength >> 4 !== 4) return UNDECODED_BAD_HEADER;
    const headerBytes = (versionAndLength & 0x0f) << 2;
    if (headerBytes < IPV4_MIN_HEADER_BYTES) return UNDECODED_BAD_HEADER;
    const totalLength = (data[p + 2] << 8) | data[p + 3];
    // Total length 0 is what TCP segmentation offload leaves in captured super-packets: accept it.
    if (totalLength !== 0 && totalLength < headerBytes) return UNDECODED_BAD_HEADER;
    const src = this.srcAddr;
    const dst = this.dstAddr;
    const view = this.view;
    src[0] = view.getInt32(p + 12);
    src[1] = 0;
    src[2] = 0;
    src[3] = 0;
    dst[0] = view.getInt32(p + 16);
    dst[1] = 0;
    dst[2] = 0;
    dst[3] = 0;
    this.ipVersion = 4;
    this.ipOffset = p;
    const protocol = data[p + 9];
    this.protocol = protocol;
    if ((((data[p + 6] << 8) | data[p + 7]) & 0x1fff) !== 0) {
      this.nonFirstFragment = true;
      return DECODED;
    }
    this.decodeTransport(protocol, data, p + headerBytes, end);
    return DECODED;
  }

  private decodeIpv6(data: Uint8Array, p: number, end: number): number {
    if (p + IPV6_HEADER_BYTES > end) return UNDECODED_TRUNCATED;
    if (data[p] >> 4 !== 6) return UNDECODED_BAD_HEADER;
    const src = this.srcAddr;
    const dst = this.dstAddr;
    const view = this.view;
    src[0] = view.getInt32(p + 8);
    src[1] = view.getInt32(p + 12);
    src[2] = view.getInt32(p + 16);
    src[3] = view.getInt32(p + 20);
    dst[0] = view.getInt32(p + 24);
    dst[1] = view.getInt32(p + 28);
    dst[2] = view.getInt32(p + 32);
    dst[3] = view.getInt32(p + 36);
    this.ipVersion = 6;
    this.ipOffset = p;
    let next = data[p + 6];
    let q = p + IPV6_HEADER_BYTES;
    for (let n = 0; n < MAX_IPV6_EXTENSION_HEADERS; n++) {
      switch (next) {
        case IPPROTO_HOPOPTS:
        case IPPROTO_ROUTING:
        case IPPROTO_DSTOPTS:
        case IPPROTO_MOBILITY:
        case IPPROTO_HIP:
        case IPPROTO_SHIM6:
          if (q + 2 > end) {
            this.protocol = next;
            return DECODED;
          }
          next = data[q];
          q += (data[q + 1] + 1) << 3;
          continue;
        case IPPROTO_AH:
          if (q + 2 > end) {
            this.protocol = next;
            return DECODED;
          }
          next = data[q];
          q += (data[q + 1] + 2) << 2;
          continue;
        case IPPROTO_FRAGMENT:
          if (q + 8 > end) {
            this.protocol = next;
            return DECODED;
          }
          if ((((data[q + 2] << 8) | data[q + 3]) & 0xfff8) !== 0) {
            this.protocol = data[q];
            this.nonFirstFragment = true;
            return DECODED;
          }
          next = data[q];
          q += 8;
          continue;
        default:
          this.protocol = next;
          this.decodeTransport(next, data, q, end);
          return DECODED;
      }
    }
    // An absurd chain of extension headers: keep the addresses, report the last header as protocol.
    this.protocol = next;
    return DECODED;
  }

  /** Ports (or ICMP type/code) and TCP flags; a transport header cut short leaves them 0. */
  private decodeTransport(protocol: number, data: Uint8Array, q: number, end: number): void {
    switch (protocol) {
      case IPPROTO_TCP:
        if (q + 4 > end) return;
        this.srcPort = (data[q] << 8) | data[q + 1];
        this.dstPort = (data[q + 2] << 8) | data[q + 3];
        if (q + 14 <= end) this.tcpFlags = data[q + 13];
        return;
      case IPPROTO_UDP:
      case IPPROTO_SCTP:
      case IPPROTO_UDPLITE:
      case IPPROTO_DCCP:
        if (q + 4 > end) return;
        this.srcPort = (data[q] << 8) | data[q + 1];
        this.dstPort = (data[q + 2] << 8) | data[q + 3];
        return;
      case IPPROTO_ICMP:
      case IPPROTO_ICMPV6:
        if (q + 2 > end) return;
        this.dstPort = (data[q] << 8) | data[q + 1];
        return;
      default:
        return;
    }
  }
}
