/** IANA protocol numbers we name in reports; others print as "ip-proto-N". */
const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'hopopt'],
  [1, 'icmp'],
  [2, 'igmp'],
  [4, 'ipip'],
  [6, 'tcp'],
  [17, 'udp'],
  [33, 'dccp'],
  [41, 'ipv6'],
  [43, 'ipv6-route'],
  [44, 'ipv6-frag'],
  [47, 'gre'],
  [50, 'esp'],
  [51, 'ah'],
  [58, 'icmpv6'],
  [59, 'ipv6-nonxt'],
  [60, 'ipv6-opts'],
  [88, 'eigrp'],
  [89, 'ospf'],
  [103, 'pim'],
  [112, 'vrrp'],
  [115, 'l2tp'],
  [132, 'sctp'],
  [136, 'udplite'],
]);

export function protocolName(protocol: number): string {
  return PROTOCOL_NAMES.get(protocol) ?? `ip-proto-${protocol}`;
}

/** The protocol number of a name printed by protocolName ("tcp" -> 6, "ip-proto-99" -> 99), else undefined. */
export function protocolNumber(name: string): number | undefined {
  const lower = name.toLowerCase();
  for (const [protocol, known] of PROTOCOL_NAMES) if (known === lower) return protocol;
  const numbered = /^ip-proto-(\d{1,3})$/.exec(lower);
  return numbered !== null && Number(numbered[1]) <= 255 ? Number(numbered[1]) : undefined;
}

/** Protocols whose first four transport bytes are source and destination ports. */
export function hasPorts(protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 132 || protocol === 136 || protocol === 33;
}

export function isIcmp(protocol: number): boolean {
  return protocol === 1 || protocol === 58;
}

const EPHEMERAL_PORT_MIN = 49152;
const WELL_KNOWN_PORT_LIMIT = 1024;

/**
 * The service side of a port pair: a well-known port (< 1024) against a higher one wins; otherwise a
 * registered port against an ephemeral one (>= 49152) wins; otherwise the lower port. Non-first
 * fragments and cut transport headers have both ports 0 and report service port 0.
 */
export function servicePort(srcPort: number, dstPort: number): number {
  const srcWellKnown = srcPort < WELL_KNOWN_PORT_LIMIT;
  const dstWellKnown = dstPort < WELL_KNOWN_PORT_LIMIT;
  if (srcWellKnown !== dstWellKnown) return srcWellKnown ? srcPort : dstPort;
  const srcEphemeral = srcPort >= EPHEMERAL_PORT_MIN;
  const dstEphemeral = dstPort >= EPHEMERAL_PORT_MIN;
  if (srcEphemeral !== dstEphemeral) return srcEphemeral ? dstPort : srcPort;
  return Math.min(srcPort, dstPort);
}

const TCP_FLAG_LETTERS = ['F', 'S', 'R', 'P', 'A', 'U', 'E', 'C'];

/** tcpdump-style flag letters, e.g. "SA" for SYN+ACK; "" when none. */
export function tcpFlagsText(flags: number): string {
  let text = '';
  for (let bit = 0; bit < 8; bit++) if (flags & (1 << bit)) text += TCP_FLAG_LETTERS[bit];
  return text;
}
