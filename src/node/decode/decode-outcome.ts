/**
 * What the decoder made of a frame. A frame is "decoded" when its outermost IP header yielded both
 * addresses; everything else is counted under one of these reasons and never thrown.
 * ONLY APPEND: the numbers index per-reason counter arrays.
 */
export const DECODED = 0;
/** The frame's link type is not one we decode (e.g. 802.11 radiotap, PPP). */
export const UNDECODED_UNSUPPORTED_LINK_TYPE = 1;
/** The frame ends before the IP addresses (snaplen too short, or a cut frame). */
export const UNDECODED_TRUNCATED = 2;
/** An IP header that cannot be right: wrong version, header length below the minimum, too many tags. */
export const UNDECODED_BAD_HEADER = 3;
/** A well-formed frame that carries no IP (ARP, STP, LLDP, ...). */
export const UNDECODED_NOT_IP = 4;

export const UNDECODED_REASON_COUNT = 5;

/** Names used in reports and JSON (`"undecoded": {"not-ip": 12}`); index = outcome. */
export const UNDECODED_REASON_NAMES: readonly string[] = [
  'decoded',
  'unsupported-link-type',
  'truncated',
  'bad-header',
  'not-ip',
];
