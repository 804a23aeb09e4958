import type { RefAddress } from './naive-traffic-reference.js';

/**
 * Minimal Ethernet + IPv4/IPv6 + TCP/UDP frames of an exact wire length, for captures whose ground truth
 * a test knows. Checksums are left zero (the decoder does not verify them).
 */
export function ipFrame(options: {
  src: RefAddress;
  dst: RefAddress;
  protocol: 6 | 17;
  srcPort: number;
  dstPort: number;
  /** Frame length on the wire, Ethernet header included. */
  length: number;
}): Uint8Array {
  const { src, dst } = options;
  const ipHeader = src.version === 4 ? 20 : 40;
  const l4Header = options.protocol === 6 ? 20 : 8;
  const minimum = 14 + ipHeader + l4Header;
  if (options.length < minimum) throw new Error(`frame of ${options.length} bytes: at least ${minimum}`);
  const frame = new Uint8Array(options.length);
  const view = new DataView(frame.buffer);
  frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  view.setUint16(12, src.version === 4 ? 0x0800 : 0x86dd);
  const ip = 14;
  const ipPayload = options.length - 14 - ipHeader;
  if (src.version === 4) {
    frame[ip] = 0x45;
    view.setUint16(ip + 2, ipHeader + ipPayload);
    frame[ip + 8] = 64;
    frame[ip + 9] = options.protocol;
    view.setUint32(ip + 12, src.words[0]);
    view.setUint32(ip + 16, dst.words[0]);
  } else {
    view.setUint32(ip, 0x60000000);
    view.setUint16(ip + 4, ipPayload);
    frame[ip + 6] = options.protocol;
    frame[ip + 7] = 64;
    for (let w = 0; w < 4; w++) {
      view.setUint32(ip + 8 + w * 4, src.words[w] as number);
      view.setUint32(ip + 24 + w * 4, dst.words[w] as number);
    }
  }
  const l4 = ip + ipHeader;
  view.setUint16(l4, options.srcPort);
  view.setUint16(l4 + 2, options.dstPort);
  if (options.protocol === 6) {
    frame[l4 + 12] = 0x50;
    frame[l4 + 13] = 0x18;
  } else {
    view.setUint16(l4 + 4, ipPayload);
  }
  return frame;
}
