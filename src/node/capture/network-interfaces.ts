/**
 * The host's network interfaces and addresses, read from /sys/class/net and os.networkInterfaces().
 *
 * Nothing here loads the `cap` addon, so any thread may call it. Both sources describe the network
 * namespace of the calling process (`ip netns exec` remounts /sys for the namespace it enters).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

const SYS_CLASS_NET_DIR = '/sys/class/net';

/** Interface flag bits from <linux/if.h>, as /sys/class/net/NAME/flags shows them. */
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_RUNNING = 0x40;
const IFF_PROMISC = 0x100;

/** ARPHRD_* hardware types (/sys/class/net/NAME/type) that libpcap captures as something else than cooked SLL. */
const ARPHRD_ETHER = 1;
const ARPHRD_TUNNEL = 768;
const ARPHRD_LOOPBACK = 772;
const ARPHRD_SIT = 776;
const ARPHRD_NONE = 0xfffe;

/** DLT_* values libpcap uses for those types on Linux (DLT_RAW is 12 on Linux, not LINKTYPE_RAW 101). */
const DLT_EN10MB = 1;
const DLT_RAW_LINUX = 12;
const DLT_LINUX_SLL = 113;

export interface InterfaceAddress {
  family: 4 | 6;
  /** Textual address without a zone suffix ("198.18.0.1", "fe80::1"). */
  address: string;
  /** Prefix length of the subnet (24, 64, ...). */
  prefixLength: number;
}

export interface NetworkInterfaceInfo {
  name: string;
  /** Kernel interface index (stable while the interface exists; /proc/net/packet shows it). */
  index: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Has a carrier / is operational (IFF_RUNNING): a veth whose peer is down is up but not running. */
  running: boolean;
  loopback: boolean;
  promiscuous: boolean;
  /** ARPHRD_* hardware type (1 Ethernet, 772 loopback, 65534 none/tun, ...). */
  hardwareType: number;
  mtu: number;
  addresses: InterfaceAddress[];
}

/** A host address: one that marks traffic as "ours" in the flow accounting. */
export interface LocalAddress {
  family: 4 | 6;
  address: string;
  /** The address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
  bytes: Uint8Array;
  interfaceName: string;
}

function readSysNumber(name: string, attribute: string): number {
  const text = readFileSync(`${SYS_CLASS_NET_DIR}/${name}/${attribute}`, 'utf8').trim();
  return Number(text);
}

function prefixLengthFromCidr(cidr: string | null): number {
  if (cidr === null) return 0;
  const slash = cidr.lastIndexOf('/');
  return slash < 0 ? 0 : Number(cidr.slice(slash + 1));
}

/** All interfaces of this network namespace, in kernel index order. */
export function listNetworkInterfaces(): NetworkInterfaceInfo[] {
  const addressesByName = networkInterfaces();
  const result: NetworkInterfaceInfo[] = [];
  for (const name of readdirSync(SYS_CLASS_NET_DIR)) {
    let flags: number;
    let index: number;
    let hardwareType: number;
    let mtu: number;
    try {
      flags = readSysNumber(name, 'flags');
      index = readSysNumber(name, 'ifindex');
      hardwareType = readSysNumber(name, 'type');
      mtu = readSysNumber(name, 'mtu');
    } catch {
      // The interface disappeared between readdir and read, or is not a network device (bonding_masters).
      continue;
    }
    const addresses: InterfaceAddress[] = [];
    for (const entry of addressesByName[name] ?? []) {
      addresses.push({
        family: entry.family === 'IPv4' ? 4 : 6,
        address: entry.address,
        prefixLength: prefixLengthFromCidr(entry.cidr),
      });
    }
    result.push({
      name,
      index,
      up: (flags & IFF_UP) !== 0,
      running: (flags & IFF_RUNNING) !== 0,
      loopback: (flags & IFF_LOOPBACK) !== 0,
      promiscuous: (flags & IFF_PROMISC) !== 0,
      hardwareType,
      mtu,
      addresses,
    });
  }
  result.sort((a, b) => a.index - b.index);
  return result;
}

/**
 * The interface to capture on when the user names none: the first (lowest index) non-loopback
 * interface that is up and running, else the first that is at least up. Undefined when there is none.
 */
export function chooseDefaultInterface(
  interfaces: readonly NetworkInterfaceInfo[],
): NetworkInterfaceInfo | undefined {
  const candidates = interfaces.filter((info) => info.up && !info.loopback);
  return candidates.find((info) => info.running) ?? candidates[0];
}

/**
 * The DLT_* value libpcap will most likely report for an interface of this hardware type on Linux
 * (its map_arphrd_to_dlt, reduced to the common cases; anything unusual is captured "cooked" as SLL).
 * Used only to check a filter before a capture is opened.
 */
export function expectedDataLinkType(hardwareType: number): number {
  switch (hardwareType) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK:
      return DLT_EN10MB;
    case ARPHRD_NONE:
    case ARPHRD_TUNNEL:
    case ARPHRD_SIT:
      return DLT_RAW_LINUX;
    default:
      return DLT_LINUX_SLL;
  }
}

function parseIpv4(address: string): Uint8Array {
  const bytes = new Uint8Array(4);
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) bytes[i] = Number(parts[i]);
  return bytes;
}

function parseIpv6(address: string): Uint8Array {
  const bytes = new Uint8Array(16);
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two 16-bit groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIpv4(tail);
    text = `${text.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups =
    rest === undefined
      ? headGroups
      : [...headGroups, ...new Array(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  for (let i = 0; i < 8; i++) {
    const value = Number.parseInt(groups[i] ?? '0', 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  }
  return bytes;
}

/** Parses a textual IPv4 or IPv6 address into network-order bytes (4 or 16). */
export function addressBytes(family: 4 | 6, address: string): Uint8Array {
  return family === 4 ? parseIpv4(address) : parseIpv6(address);
}

/**
 * Every IPv4 and IPv6 address assigned to this host (this network namespace), loopback included:
 * the flow accounting uses them to tell the host's own traffic from traffic it merely sees.
 */
export function listLocalAddresses(): LocalAddress[] {
  const result: LocalAddress[] = [];
  for (const [interfaceName, entries] of Object.entries(networkInterfaces())) {
    for (const entry of entries ?? []) {
      const family = entry.family === 'IPv4' ? 4 : 6;
      result.push({
        family,
        address: entry.address,
        bytes: addressBytes(family, entry.address),
        interfaceName,
      });
    }
  }
  return result;
}

/** Names of all interfaces, for error messages ("available: eth0, lo"). */
export function describeAvailableInterfaces(interfaces: readonly NetworkInterfaceInfo[]): string {
  if (interfaces.length === 0) return 'none';
  return interfaces
    .map((info) => `${info.name}${info.up ? '' : ' (down)'}${info.loopback ? ' (loopback)' : ''}`)
    .join(', ');
}
