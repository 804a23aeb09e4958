/**
 * What flow accounting needs from one decoded packet. PacketDecoder satisfies it; tests can hand-build it.
 * Addresses are 4 words in network order (IPv4 in word 0, words 1..3 zero).
 */
export interface FlowFacts {
  readonly ipVersion: number;
  readonly protocol: number;
  readonly srcAddr: Uint32Array;
  readonly dstAddr: Uint32Array;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly tcpFlags: number;
}

/**
 * Layout of a flow key in the flow table's key array: 10 words per flow.
 *   0..3 source address, 4..7 destination address, 8 = srcPort << 16 | dstPort,
 *   9 = ipVersion << 8 | protocol.
 */
export const KEY_WORDS = 10;
export const KEY_SRC = 0;
export const KEY_DST = 4;
export const KEY_PORTS = 8;
export const KEY_META = 9;
