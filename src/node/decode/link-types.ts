/**
 * LINKTYPE_* values (https://www.tcpdump.org/linktypes.html) that the decoder understands.
 * These are the values stored in pcap/pcapng files; live capture maps libpcap's DLT_* to them.
 */
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** DLT_RAW as some BSDs numbered it; tshark treats it as raw IP too. */
export const LINKTYPE_RAW_BSD12 = 12;
export const LINKTYPE_RAW_BSD14 = 14;
export const LINKTYPE_PPP = 9;
export const LINKTYPE_PPP_HDLC = 50;
/** Cisco HDLC. */
export const LINKTYPE_C_HDLC = 104;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const NAMES: ReadonlyMap<number, string> = new Map([
  [LINKTYPE_NULL, 'NULL'],
  [LINKTYPE_ETHERNET, 'EN10MB'],
  [LINKTYPE_RAW_BSD12, 'RAW'],
  [LINKTYPE_RAW_BSD14, 'RAW'],
  [LINKTYPE_RAW, 'RAW'],
  [LINKTYPE_PPP, 'PPP'],
  [LINKTYPE_PPP_HDLC, 'PPP_HDLC'],
  [LINKTYPE_C_HDLC, 'C_HDLC'],
  [LINKTYPE_LOOP, 'LOOP'],
  [LINKTYPE_LINUX_SLL, 'LINUX_SLL'],
  [LINKTYPE_IPV4, 'IPV4'],
  [LINKTYPE_IPV6, 'IPV6'],
  [LINKTYPE_LINUX_SLL2, 'LINUX_SLL2'],
]);

export function isSupportedLinkType(linkType: number): boolean {
  return NAMES.has(linkType);
}

export function linkTypeName(linkType: number): string {
  return NAMES.get(linkType) ?? `LINKTYPE ${linkType}`;
}
