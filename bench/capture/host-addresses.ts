/**
 * Maps the generator's host ids to addresses. Ids 0..ipv4HostCount-1 are IPv4 hosts in the benchmarking
 * range 198.18.0.0/15 (RFC 2544), the rest IPv6 hosts in the documentation range 2001:db8::/32
 * (RFC 3849): the capture must never contain an address that could belong to someone.
 */

import { UsageError } from '../../src/util/errors.js';

const IPV4_BENCHMARK_BASE = (198 << 24) | (18 << 16); // 198.18.0.0
const IPV4_BENCHMARK_SIZE = 1 << 17; // a /15
/** Odd stride: i -> i * stride mod 2^17 is a permutation, so consecutive ids land in different /24s. */
const IPV4_SPREAD_STRIDE = 40503;
const IPV6_DOCUMENTATION_PREFIX = [0x20, 0x01, 0x0d, 0xb8];

export class HostAddressBook {
  readonly hostCount: number;
  /** IPv4 address of each IPv4 host as an unsigned 32-bit value. */
  private readonly ipv4Values: Uint32Array;
  /** Bytes 4..7 of each IPv6 host's address (subnet part). */
  private readonly ipv6SubnetWords: Uint32Array;
  /** Bytes 14..15 of each IPv6 host's address (interface id; bytes 8..13 are zero). */
  private readonly ipv6InterfaceIds: Uint16Array;
  /** Sum of each host's address as 16-bit words: its share of a TCP/UDP/ICMPv6 pseudo-header checksum. */
  private readonly addressWordSums: Uint32Array;

  constructor(
    readonly ipv4HostCount: number,
    readonly ipv6HostCount: number,
  ) {
    if (ipv4HostCount > IPV4_BENCHMARK_SIZE) {
      throw new UsageError(
        `${ipv4HostCount} IPv4 hosts asked for, but at most ${IPV4_BENCHMARK_SIZE} fit in 198.18.0.0/15 (use fewer --hosts)`,
      );
    }
    this.hostCount = ipv4HostCount + ipv6HostCount;
    this.ipv4Values = new Uint32Array(ipv4HostCount);
    for (let id = 0; id < ipv4HostCount; id++) {
      const offset = (Math.imul(id, IPV4_SPREAD_STRIDE) + 4097) & (IPV4_BENCHMARK_SIZE - 1);
      this.ipv4Values[id] = (IPV4_BENCHMARK_BASE | offset) >>> 0;
    }
    this.ipv6SubnetWords = new Uint32Array(ipv6HostCount);
    this.ipv6InterfaceIds = new Uint16Array(ipv6HostCount);
    for (let index = 0; index < ipv6HostCount; index++) {
      this.ipv6SubnetWords[index] = (((index >>> 8) & 0xffff) * 65536 + 0x100 + (index & 0xff)) >>> 0;
      this.ipv6InterfaceIds[index] = (Math.imul(index + 1, 0x9e37) & 0xfffe) | 1;
    }
    this.addressWordSums = new Uint32Array(this.hostCount);
    const bytes = new Uint8Array(16);
    for (let id = 0; id < this.hostCount; id++) {
      if (this.isIpv4(id)) {
        const value = this.ipv4Values[id];
        this.addressWordSums[id] = (value >>> 16) + (value & 0xffff);
      } else {
        this.writeIpv6(id, bytes, 0);
        let sum = 0;
        for (let word = 0; word < 16; word += 2) sum += (bytes[word] << 8) | bytes[word + 1];
        this.addressWordSums[id] = sum;
      }
    }
  }

  addressWordSum(hostId: number): number {
    return this.addressWordSums[hostId];
  }

  isIpv4(hostId: number): boolean {
    return hostId < this.ipv4HostCount;
  }

  ipv4Value(hostId: number): number {
    return this.ipv4Values[hostId];
  }

  /** Writes the 16 address bytes of an IPv6 host at `offset`. */
  writeIpv6(hostId: number, target: Uint8Array, offset: number): void {
    const index = hostId - this.ipv4HostCount;
    const subnet = this.ipv6SubnetWords[index];
    const interfaceId = this.ipv6InterfaceIds[index];
    target[offset] = IPV6_DOCUMENTATION_PREFIX[0];
    target[offset + 1] = IPV6_DOCUMENTATION_PREFIX[1];
    target[offset + 2] = IPV6_DOCUMENTATION_PREFIX[2];
    target[offset + 3] = IPV6_DOCUMENTATION_PREFIX[3];
    target[offset + 4] = subnet >>> 24;
    target[offset + 5] = (subnet >>> 16) & 0xff;
    target[offset + 6] = (subnet >>> 8) & 0xff;
    target[offset + 7] = subnet & 0xff;
    for (let zero = 8; zero < 14; zero++) target[offset + zero] = 0;
    target[offset + 14] = interfaceId >>> 8;
    target[offset + 15] = interfaceId & 0xff;
  }

  /** Canonical text form (dotted quad; RFC 5952 for IPv6), the form the ground truth is keyed by. */
  text(hostId: number): string {
    if (this.isIpv4(hostId)) {
      const value = this.ipv4Values[hostId];
      return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
    }
    const bytes = new Uint8Array(16);
    this.writeIpv6(hostId, bytes, 0);
    return formatIpv6(bytes);
  }
}

/** RFC 5952 text: lower-case hex, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let index = 0; index < 16; index += 2) groups.push((bytes[index] << 8) | bytes[index + 1]);
  let bestStart = -1;
  let bestLength = 0;
  for (let start = 0; start < 8; ) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestLength < 2) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/**
 * Canonical form of any address text a peer prints ("2001:0db8:0::1" -> "2001:db8::1"), so that keys
 * compare equal whatever formatting the peer uses. Returns the input unchanged when it is not an address.
 */
export function canonicalAddressText(address: string): string {
  if (!address.includes(':')) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}
