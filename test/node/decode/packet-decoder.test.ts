import { describe, expect, it } from 'vitest';
import { DECODED, UNDECODED_REASON_NAMES } from '../../../src/node/decode/decode-outcome.js';
import { isSupportedLinkType } from '../../../src/node/decode/link-types.js';
import { PacketDecoder } from '../../../src/node/decode/packet-decoder.js';
import { probeAllocation } from '../../helpers/heap-probe.js';
import { loadScapyFrames, type ScapyFrameCase } from '../../helpers/scapy-frames.js';

/** Frames are placed at this offset in a larger buffer, so code that ignores `offset` reads the filler. */
const FRAME_OFFSET_BYTES = 7;
/** Filler around a frame: plausible header bytes, so a read outside [offset, offset + length) shows. */
const FILLER_BYTE = 0x45;
const FILLER_TAIL_BYTES = 64;
const ALLOCATION_WARMUP_CALLS = 1_000_000;
const ALLOCATION_MEASURED_CALLS = 3_000_000;
/** Less than one byte per measured call. */
const ALLOCATION_MAX_HEAP_GROWTH_BYTES = 512 * 1024;
const ALLOCATION_ATTEMPTS = 3;

const { scapyVersion, supportedLinkTypes, cases } = loadScapyFrames();
/** Link type numbers are 16-bit in pcap and pcapng headers. */
const LINK_TYPE_LIMIT = 65536;

/** The frame inside a buffer with filler before and after; returns the buffer. */
function embed(frame: Uint8Array, tail: Uint8Array = new Uint8Array(0)): Uint8Array {
  const buffer = new Uint8Array(FRAME_OFFSET_BYTES + frame.length + tail.length + FILLER_TAIL_BYTES);
  buffer.fill(FILLER_BYTE);
  buffer.set(frame, FRAME_OFFSET_BYTES);
  buffer.set(tail, FRAME_OFFSET_BYTES + frame.length);
  return buffer;
}

interface Observed {
  outcome: string;
  ipVersion?: number;
  protocol?: number;
  src?: number[];
  dst?: number[];
  srcPort?: number;
  dstPort?: number;
  tcpFlags?: number;
  nonFirstFragment?: boolean;
}

/** What the decoder reported; fields only when it decoded (they are undefined otherwise). */
function observe(decoder: PacketDecoder, outcome: number): Observed {
  if (outcome !== DECODED) return { outcome: UNDECODED_REASON_NAMES[outcome] };
  return {
    outcome: 'decoded',
    ipVersion: decoder.ipVersion,
    protocol: decoder.protocol,
    src: Array.from(decoder.srcAddr),
    dst: Array.from(decoder.dstAddr),
    srcPort: decoder.srcPort,
    dstPort: decoder.dstPort,
    tcpFlags: decoder.tcpFlags,
    nonFirstFragment: decoder.nonFirstFragment,
  };
}

function expectedOf(c: ScapyFrameCase): Observed {
  const e = c.expected;
  if (e.outcome !== 'decoded') return { outcome: e.outcome };
  return {
    outcome: 'decoded',
    ipVersion: e.ipVersion,
    protocol: e.protocol,
    src: e.src,
    dst: e.dst,
    srcPort: e.srcPort,
    dstPort: e.dstPort,
    tcpFlags: e.tcpFlags,
    nonFirstFragment: e.nonFirstFragment,
  };
}

function caseNamed(name: string): ScapyFrameCase {
  const found = cases.find((c) => c.name === name);
  if (found === undefined) throw new Error(`scapy-frames.py has no case named '${name}'`);
  return found;
}

describe(`PacketDecoder against scapy ${scapyVersion} dissections`, () => {
  it('has an oracle and reference frames for every link type the decoder claims to support', () => {
    const claimed: number[] = [];
    for (let lt = 0; lt < LINK_TYPE_LIMIT; lt++) if (isSupportedLinkType(lt)) claimed.push(lt);
    // A link type added to the decoder needs a dissector and frames in test/helpers/scapy-frames.py.
    expect(claimed).toEqual(supportedLinkTypes);
    const linkTypes = new Set(cases.map((c) => c.linkType));
    for (const lt of [...supportedLinkTypes, 105]) expect(linkTypes).toContain(lt);
    const outcomes = new Set(cases.map((c) => c.expected.outcome));
    expect([...outcomes].sort()).toEqual(['bad-header', 'decoded', 'not-ip', 'unsupported-link-type']);
    expect(cases.filter((c) => c.sweep).length).toBeGreaterThanOrEqual(10);
  });

  it.each(cases.map((c) => [c.name, c] as const))('decodes %s as scapy dissects it', (_name, c) => {
    const decoder = new PacketDecoder();
    const buffer = embed(c.frame);
    const outcome = decoder.decode(c.linkType, buffer, FRAME_OFFSET_BYTES, c.frame.length);
    expect(observe(decoder, outcome)).toEqual(expectedOf(c));
    if (outcome === DECODED) expect(decoder.ipOffset).toBe(FRAME_OFFSET_BYTES + c.layout!.ipOffset);
  });

  it('overwrites every field on each call, so a decoded frame leaves nothing behind for the next', () => {
    const decoder = new PacketDecoder();
    const tcp = caseNamed('Ethernet IPv4 TCP with all eight flags');
    const fragment = caseNamed('Ethernet IPv6 hop-by-hop then non-first fragment of UDP');
    const gre = caseNamed('Ethernet IPv4 GRE (no ports)');
    for (const c of [tcp, fragment, gre, tcp, gre, fragment]) {
      const outcome = decoder.decode(c.linkType, embed(c.frame), FRAME_OFFSET_BYTES, c.frame.length);
      expect(observe(decoder, outcome)).toEqual(expectedOf(c));
    }
  });
});

describe('PacketDecoder on frames cut at every byte', () => {
  const sweepCases = cases.filter((c) => c.sweep);

  it.each(sweepCases.map((c) => [c.name, c] as const))(
    'reports %s as truncated until its addresses are complete and decoded after',
    (_name, c) => {
      const layout = c.layout!;
      const full = expectedOf(c);
      const decoder = new PacketDecoder();
      // The whole frame stays in the buffer: a decoder reading past `length` would see real bytes.
      const buffer = embed(c.frame);
      const failures: string[] = [];
      for (let length = 0; length <= c.frame.length; length++) {
        const outcome = decoder.decode(c.linkType, buffer, FRAME_OFFSET_BYTES, length);
        const got = observe(decoder, outcome);
        let want: Observed;
        if (length < layout.addressesEnd) {
          want = { outcome: 'truncated' };
        } else {
          const portsPresent = layout.portsEnd !== null && length >= layout.portsEnd;
          const flagsPresent = layout.flagsEnd !== null && length >= layout.flagsEnd;
          const chainComplete = layout.transportOffset === null || length >= layout.transportOffset;
          want = {
            ...full,
            srcPort: portsPresent ? full.srcPort : 0,
            dstPort: portsPresent ? full.dstPort : 0,
            tcpFlags: flagsPresent ? full.tcpFlags : 0,
            // Inside an IPv6 extension-header chain the protocol is the last header reached.
            protocol:
              chainComplete || !layout.chain.includes(got.protocol ?? -1) ? full.protocol : got.protocol,
          };
        }
        try {
          expect(got).toEqual(want);
        } catch {
          failures.push(`length ${length}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
        }
      }
      expect(failures).toEqual([]);
    },
  );
});

describe('PacketDecoder limits and link-layer corners', () => {
  const ipv4Udp = caseNamed('RAW (101) IPv4 UDP');
  const ethernetIpv4 = caseNamed('Ethernet IPv4 UDP');

  function ethernetWithTags(tagCount: number): Uint8Array {
    const header = ethernetIpv4.frame.subarray(0, 12);
    const frame = new Uint8Array(12 + tagCount * 4 + 2 + ipv4Udp.frame.length);
    frame.set(header, 0);
    let p = 12;
    for (let i = 0; i < tagCount; i++) {
      frame.set([0x81, 0x00, 0x00, i + 1], p);
      p += 4;
    }
    frame.set([0x08, 0x00], p);
    frame.set(ipv4Udp.frame, p + 2);
    return frame;
  }

  function ethernetWithMplsLabels(labelCount: number): Uint8Array {
    const frame = new Uint8Array(14 + labelCount * 4 + ipv4Udp.frame.length);
    frame.set(ethernetIpv4.frame.subarray(0, 12), 0);
    frame.set([0x88, 0x47], 12);
    for (let i = 0; i < labelCount; i++) {
      const bottom = i === labelCount - 1 ? 1 : 0;
      frame.set([0x00, 0x01, 0x00 | bottom, 64], 14 + i * 4);
    }
    frame.set(ipv4Udp.frame, 14 + labelCount * 4);
    return frame;
  }

  it('decodes up to 8 stacked VLAN tags and calls a 9th a bad header', () => {
    const decoder = new PacketDecoder();
    for (const tags of [1, 2, 8]) {
      const frame = ethernetWithTags(tags);
      expect(decoder.decode(1, embed(frame), FRAME_OFFSET_BYTES, frame.length), `${tags} tags`).toBe(DECODED);
      expect(decoder.dstPort).toBe(ipv4Udp.expected.dstPort);
    }
    const nine = ethernetWithTags(9);
    expect(UNDECODED_REASON_NAMES[decoder.decode(1, embed(nine), FRAME_OFFSET_BYTES, nine.length)]).toBe(
      'bad-header',
    );
  });

  it('decodes up to 16 MPLS labels and calls a longer stack a bad header', () => {
    const decoder = new PacketDecoder();
    const sixteen = ethernetWithMplsLabels(16);
    expect(decoder.decode(1, embed(sixteen), FRAME_OFFSET_BYTES, sixteen.length)).toBe(DECODED);
    const seventeen = ethernetWithMplsLabels(17);
    expect(
      UNDECODED_REASON_NAMES[decoder.decode(1, embed(seventeen), FRAME_OFFSET_BYTES, seventeen.length)],
    ).toBe('bad-header');
  });

  it('reports an empty frame of every supported link type as truncated', () => {
    const decoder = new PacketDecoder();
    for (const lt of supportedLinkTypes) {
      const outcome = decoder.decode(lt, embed(new Uint8Array(0)), FRAME_OFFSET_BYTES, 0);
      expect(UNDECODED_REASON_NAMES[outcome], `link type ${lt}`).toBe('truncated');
    }
  });

  it('reports every link type outside the supported set as unsupported, even for a valid IPv4 packet', () => {
    const decoder = new PacketDecoder();
    const supported = new Set(supportedLinkTypes);
    const buffer = embed(ipv4Udp.frame);
    for (let lt = 0; lt < LINK_TYPE_LIMIT; lt++) {
      if (supported.has(lt)) continue;
      const outcome = decoder.decode(lt, buffer, FRAME_OFFSET_BYTES, ipv4Udp.frame.length);
      expect(UNDECODED_REASON_NAMES[outcome], `link type ${lt}`).toBe('unsupported-link-type');
    }
  });
});

describe('PacketDecoder allocation', () => {
  it('allocates nothing: millions of decode() calls over every reference frame cause no collection', async () => {
    // All frames in one buffer, addressed by typed arrays, so the measuring loop itself allocates nothing.
    const total = cases.reduce((n, c) => n + c.frame.length, 0);
    const buffer = new Uint8Array(total + FILLER_TAIL_BYTES).fill(FILLER_BYTE);
    const offsets = new Int32Array(cases.length);
    const lengths = new Int32Array(cases.length);
    const linkTypes = new Int32Array(cases.length);
    let at = 0;
    cases.forEach((c, i) => {
      buffer.set(c.frame, at);
      offsets[i] = at;
      lengths[i] = c.frame.length;
      linkTypes[i] = c.linkType;
      at += c.frame.length;
    });
    const decoder = new PacketDecoder();
    let checksum = 0;
    const run = (calls: number): void => {
      let acc = 0;
      for (let n = 0, i = 0; n < calls; n++) {
        const outcome = decoder.decode(linkTypes[i], buffer, offsets[i], lengths[i]);
        acc = (acc + outcome + decoder.dstPort + decoder.srcAddr[0]) | 0;
        i = i + 1 === linkTypes.length ? 0 : i + 1;
      }
      checksum = acc;
    };
    run(ALLOCATION_WARMUP_CALLS);
    const probes = [];
    for (let attempt = 0; attempt < ALLOCATION_ATTEMPTS; attempt++) {
      const probe = await probeAllocation(() => run(ALLOCATION_MEASURED_CALLS));
      probes.push(probe);
      // A stray collection from the runtime can happen once; an allocating decoder collects every time.
      if (probe.collections === 0 && probe.heapGrowthBytes < ALLOCATION_MAX_HEAP_GROWTH_BYTES) break;
    }
    const best = probes[probes.length - 1];
    expect(checksum).not.toBe(0);
    expect(best.collections, JSON.stringify(probes)).toBe(0);
    expect(best.heapGrowthBytes, JSON.stringify(probes)).toBeLessThan(ALLOCATION_MAX_HEAP_GROWTH_BYTES);
  });
});
