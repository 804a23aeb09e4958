import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_DST, KEY_META, KEY_PORTS, KEY_SRC } from '../../../src/node/flows/flow-facts.js';
import { REC_INTS } from '../../../src/node/flows/flow-table.js';
import {
  flowKeyText,
  groupKeyText,
  ParsedFlowKey,
  parseFlowKeyText,
  parseGroupKeyText,
  parseProtocolName,
} from '../../../src/node/flows/key-text.js';
import type { Grouping } from '../../../src/node/flows/key-vocabulary.js';
import { hasPorts, isIcmp, protocolName } from '../../../src/node/flows/protocol-names.js';

const FAST_CHECK_SEED = 7_311;
const FAST_CHECK_RUNS = 2_000;
const KEY_WORDS = 9;

/** Address words as the decoder stores them; IPv6 groups favour zero runs and the embedded-IPv4 forms. */
const ipv6Group = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constant(0xffff) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 15 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);
const addressWords = fc.oneof(
  fc.record({
    version: fc.constant(4),
    words: fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(0), fc.constant(0), fc.constant(0)),
  }),
  fc.record({
    version: fc.constant(6),
    words: fc
      .array(ipv6Group, { minLength: 8, maxLength: 8 })
      .map((g) => [0, 1, 2, 3].map((w) => ((g[2 * w] << 16) | g[2 * w + 1]) >>> 0)),
  }),
);
/** Every named protocol, unknown numbers, and the edges of the range. */
const protocolNumber = fc.oneof(
  fc.constantFrom(0, 1, 2, 4, 6, 17, 33, 41, 47, 50, 58, 132, 136, 255),
  fc.integer({ min: 0, max: 255 }),
);
const port = fc.oneof(fc.constantFrom(0, 1, 80, 443, 65535), fc.integer({ min: 0, max: 65535 }));

function writeAddress(key: Int32Array, at: number, words: number[]): void {
  for (let w = 0; w < 4; w++) key[at + w] = words[w];
}

function keyOfGroup(
  group: Exclude<Grouping, 'flow'>,
  a: { version: number; words: number[] },
  b: { words: number[] },
  protocol: number,
  servicePort: number,
  hasPort: boolean,
): Int32Array {
  const key = new Int32Array(KEY_WORDS);
  if (group === 'port') {
    key[0] = protocol;
    key[1] = hasPort ? servicePort : 0;
    key[2] = hasPort ? 1 : 0;
  } else if (group === 'proto') {
    key[0] = protocol;
  } else {
    key[0] = a.version;
    writeAddress(key, 1, a.words);
    // Pair keys hold both addresses of one version (the aggregator orders them; the text keeps that order).
    if (group === 'pair') writeAddress(key, 5, a.version === 4 ? [b.words[0], 0, 0, 0] : b.words);
  }
  return key;
}

describe('parseGroupKeyText', () => {
  it('gives back the key words of every text groupKeyText prints, for every grouping', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Exclude<Grouping, 'flow'>>('host', 'src', 'dst', 'pair', 'port', 'proto'),
        addressWords,
        addressWords,
        protocolNumber,
        port,
        fc.boolean(),
        (group, a, b, protocol, servicePort, hasPort) => {
          const key = keyOfGroup(group, a, b, protocol, servicePort, hasPort);
          const text = groupKeyText(group, key, 0);
          const parsed = new Int32Array(KEY_WORDS);
          expect(parseGroupKeyText(group, text, parsed), text).toBe(true);
          expect(Array.from(parsed), text).toEqual(Array.from(key));
        },
      ),
      { seed: FAST_CHECK_SEED, numRuns: FAST_CHECK_RUNS },
    );
  });

  it('refuses texts no group prints: other spellings, other groupings, garbage', () => {
    const refused: [Grouping, string][] = [
      ['host', ''],
      ['host', ' 198.18.0.1'],
      ['host', '198.18.0.1 '],
      ['host', '198.018.0.1'],
      ['host', '198.18.0.256'],
      ['host', '2001:DB8::1'],
      ['host', '2001:db8:0:0:0:0:0:1'],
      ['host', '2001:db8::0:1'],
      ['host', '::ffff:c612:1'],
      ['host', '[2001:db8::1]'],
      ['host', 'tcp'],
      ['src', '198.18.0.1 <-> 198.18.0.2'],
      ['pair', '198.18.0.1'],
      ['pair', '198.18.0.1 <-> 2001:db8::1'],
      ['pair', '198.18.0.1 <->198.18.0.2'],
      ['pair', '198.18.0.1 <-> 198.18.0.2 <-> 198.18.0.3'],
      ['port', 'TCP/443'],
      ['port', 'tcp/0443'],
      ['port', 'tcp/65536'],
      ['port', 'tcp/'],
      ['port', 'tcp/-1'],
      ['port', 'tcp/4 43'],
      ['port', 'ip-proto-6/443'],
      ['port', 'tcp 443'],
      ['proto', 'ip-proto-6'],
      ['proto', 'ip-proto-256'],
      ['proto', 'ip-proto-099'],
      ['proto', 'Tcp'],
      ['proto', 'tcp/443'],
      ['proto', 'unknown'],
      ['flow', '198.18.0.1'],
    ];
    for (const [group, text] of refused) {
      expect(parseGroupKeyText(group, text, new Int32Array(KEY_WORDS)), `${group} ${text}`).toBe(false);
    }
  });
});

/** The record of one flow in slot 0, as FlowTable stores it. */
function flowRecord(key: ParsedFlowKey): Int32Array {
  const records = new Int32Array(REC_INTS);
  writeAddress(records, KEY_SRC, Array.from(key.srcAddr));
  writeAddress(records, KEY_DST, Array.from(key.dstAddr));
  records[KEY_PORTS] = (key.srcPort << 16) | key.dstPort;
  records[KEY_META] = (key.ipVersion << 8) | key.protocol;
  return records;
}

describe('parseFlowKeyText', () => {
  it('gives back the 5-tuple of every text flowKeyText prints (ICMP type/code, port-less protocols)', () => {
    fc.assert(
      fc.property(
        addressWords,
        addressWords,
        protocolNumber,
        port,
        port,
        (src, dst, protocol, srcPort, dstPort) => {
          const flow = new ParsedFlowKey();
          flow.ipVersion = src.version;
          flow.protocol = protocol;
          flow.srcAddr.set(src.words);
          // Both ends of a flow have one version.
          flow.dstAddr.set(src.version === 4 ? [dst.words[0], 0, 0, 0] : dst.words);
          // The decoder's conventions: ICMP has srcPort 0 and type << 8 | code; other port-less protocols 0.
          flow.srcPort = hasPorts(protocol) ? srcPort : 0;
          flow.dstPort = hasPorts(protocol) || isIcmp(protocol) ? dstPort : 0;
          const text = flowKeyText(flowRecord(flow), 0);
          const parsed = new ParsedFlowKey();
          expect(parseFlowKeyText(text, parsed), text).toBe(true);
          expect(parsed, text).toEqual(flow);
        },
      ),
      { seed: FAST_CHECK_SEED + 1, numRuns: FAST_CHECK_RUNS },
    );
  });

  it('reads the forms analyze prints', () => {
    const parsed = new ParsedFlowKey();
    expect(parseFlowKeyText('tcp 198.18.0.1:40000 > 198.18.0.2:443', parsed)).toBe(true);
    expect(parsed).toMatchObject({ ipVersion: 4, protocol: 6, srcPort: 40000, dstPort: 443 });
    expect(Array.from(parsed.srcAddr)).toEqual([0xc6120001, 0, 0, 0]);
    expect(parseFlowKeyText('udp [2001:db8::1]:5 > [::ffff:198.18.0.2]:6', parsed)).toBe(true);
    expect(parsed).toMatchObject({ ipVersion: 6, protocol: 17, srcPort: 5, dstPort: 6 });
    expect(Array.from(parsed.dstAddr)).toEqual([0, 0, 0xffff, 0xc6120002]);
    expect(parseFlowKeyText('icmp 198.18.0.1 > 198.18.0.2 type 8 code 0', parsed)).toBe(true);
    expect(parsed).toMatchObject({ protocol: 1, srcPort: 0, dstPort: 0x800 });
    expect(parseFlowKeyText('icmpv6 2001:db8::1 > ff02::1 type 135 code 0', parsed)).toBe(true);
    expect(parsed).toMatchObject({ ipVersion: 6, protocol: 58, dstPort: 135 << 8 });
    expect(parseFlowKeyText('gre 198.18.0.1 > 198.18.0.2', parsed)).toBe(true);
    expect(parsed).toMatchObject({ protocol: 47, srcPort: 0, dstPort: 0 });
    expect(parseFlowKeyText('ip-proto-253 :: > ::1', parsed)).toBe(true);
    expect(parsed).toMatchObject({ ipVersion: 6, protocol: 253 });
  });

  it('refuses texts flowKeyText never prints', () => {
    const refused = [
      '',
      'tcp',
      'tcp ',
      'tcp 198.18.0.1:1 >198.18.0.2:2',
      'tcp 198.18.0.1:1 > 198.18.0.2:2 ',
      'tcp 198.18.0.1 > 198.18.0.2',
      'tcp 198.18.0.1:1 > 198.18.0.2:65536',
      'tcp 198.18.0.1:01 > 198.18.0.2:2',
      'tcp 198.18.0.1:1 > [2001:db8::1]:2',
      'tcp 2001:db8::1:5 > 2001:db8::2:6',
      'tcp [198.18.0.1]:1 > [198.18.0.2]:2',
      'tcp [2001:DB8::1]:1 > [2001:db8::2]:2',
      'TCP 198.18.0.1:1 > 198.18.0.2:2',
      'ip-proto-6 198.18.0.1:1 > 198.18.0.2:2',
      'icmp 198.18.0.1 > 198.18.0.2',
      'icmp 198.18.0.1 > 198.18.0.2 type 256 code 0',
      'icmp 198.18.0.1 > 198.18.0.2 type 8 code 08',
      'icmp 198.18.0.1 > 198.18.0.2 type 8',
      'icmp 198.18.0.1:0 > 198.18.0.2:2048',
      'gre 198.18.0.1 > 198.18.0.2 type 0 code 0',
      'gre 198.18.0.1:0 > 198.18.0.2:0',
      'gre 198.18.0.1 > 2001:db8::1',
      'gre 198.18.0.1 <-> 198.18.0.2',
      '198.18.0.1 <-> 198.18.0.2',
      'tcp/443',
    ];
    for (const text of refused) expect(parseFlowKeyText(text, new ParsedFlowKey()), text).toBe(false);
  });
});

describe('parseProtocolName', () => {
  it('is the exact inverse of protocolName over every protocol number', () => {
    for (let protocol = 0; protocol <= 255; protocol++) {
      expect(parseProtocolName(protocolName(protocol))).toBe(protocol);
    }
    for (const text of [
      '',
      'TCP',
      'ip-proto-6',
      'ip-proto-006',
      'ip-proto-256',
      'ip-proto-',
      'ip-proto-1e2',
    ]) {
      expect(parseProtocolName(text), text).toBe(-1);
    }
  });
});
