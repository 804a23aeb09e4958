import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowFilter, type FlowFilterSpec } from '../../../src/node/flows/flow-filter.js';
import { FlowTable } from '../../../src/node/flows/flow-table.js';
import { UsageError } from '../../../src/util/errors.js';
import {
  FactsBuffer,
  flowText,
  ipv4,
  ipv6,
  makeFlow,
  type RefAddress,
  type RefFlow,
} from '../../helpers/naive-traffic-reference.js';

const FAST_CHECK_SEED = 7_212;
const FAST_CHECK_RUNS = 300;

/** A block as the test knows it: the text handed to FlowFilter and the bits the reference matches. */
interface RefBlock {
  text: string;
  address: RefAddress;
  prefixLength: number;
}

function block(address: RefAddress, prefixLength?: number): RefBlock {
  return {
    text: prefixLength === undefined ? address.text : `${address.text}/${prefixLength}`,
    address,
    prefixLength: prefixLength ?? (address.version === 4 ? 32 : 128),
  };
}

function bits(a: RefAddress): string {
  const width = a.version === 4 ? 1 : 4;
  return a.words
    .slice(0, width)
    .map((w) => w.toString(2).padStart(32, '0'))
    .join('');
}

function inBlock(a: RefAddress, b: RefBlock): boolean {
  return (
    a.version === b.address.version &&
    bits(a).slice(0, b.prefixLength) === bits(b.address).slice(0, b.prefixLength)
  );
}

const PORTED = new Set([6, 17, 33, 132, 136]);

/** The filter rule restated: lists OR within, AND across; empty lists pass; ports only with ports. */
function referenceAccepts(flow: RefFlow, cidrs: RefBlock[], ports: number[], protocols: number[]): boolean {
  if (protocols.length > 0 && !protocols.includes(flow.protocol)) return false;
  if (ports.length > 0) {
    if (!PORTED.has(flow.protocol)) return false;
    if (!ports.includes(flow.srcPort) && !ports.includes(flow.dstPort)) return false;
  }
  if (cidrs.length > 0 && !cidrs.some((b) => inBlock(flow.src, b) || inBlock(flow.dst, b))) return false;
  return true;
}

const A = ipv4(198, 18, 0, 1);
const B = ipv4(198, 18, 0, 200);
const C = ipv4(198, 19, 7, 1);
const D = ipv4(203, 0, 113, 9);
const X = ipv6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 1]);
const Y = ipv6([0x2001, 0xdb8, 2, 0, 0, 0, 0, 0xffff]);
/** An IPv6 address whose first word equals A's: never inside an IPv4 block. */
const A_TWIN = ipv6([0xc612, 0x0001, 0, 0, 0, 0, 0, 0]);

const FLOWS: RefFlow[] = [
  makeFlow(6, A, C, 40000, 443),
  makeFlow(6, C, A, 443, 40000),
  makeFlow(17, B, D, 5353, 53),
  makeFlow(17, D, D, 53, 53),
  makeFlow(132, A, B, 80, 9000),
  // ICMP echo reply with code 80: its "ports" word is 0x0050, which a port filter must not read as 80.
  makeFlow(1, A, D, 0, 0x0050),
  makeFlow(47, C, D, 0, 0),
  makeFlow(253, B, C, 0, 0),
  makeFlow(6, X, Y, 22, 50000),
  makeFlow(58, Y, X, 0, 0x8000),
  makeFlow(17, A_TWIN, X, 80, 53),
];

const BLOCKS: RefBlock[] = [
  block(A),
  block(ipv4(198, 18, 0, 0), 24),
  block(ipv4(198, 18, 0, 0), 15),
  block(ipv4(198, 18, 0, 128), 25),
  block(D),
  block(ipv4(0, 0, 0, 0), 0),
  block(ipv6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0]), 48),
  block(ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32),
  block(Y),
  block(ipv6([0, 0, 0, 0, 0, 0, 0, 0]), 0),
  // Host bits set beyond the prefix: the block is 198.16.0.0/12.
  block(ipv4(198, 19, 7, 1), 12),
];
const PORTS = [22, 53, 80, 443, 9000, 40000, 65535];
const PROTOCOLS = [0, 1, 6, 17, 47, 58, 132, 253];

/** A flow table holding FLOWS, and each flow's slot. */
function tableOf(flows: RefFlow[]): { table: FlowTable; slots: number[] } {
  const table = new FlowTable(64);
  const facts = new FactsBuffer();
  const slots = flows.map((f) => {
    facts.load(f, 0);
    return table.insert(facts, FlowTable.hashFacts(facts), 0);
  });
  return { table, slots };
}

function subset<T>(items: T[]) {
  return fc.subarray(items, { minLength: 0 });
}

describe('FlowFilter matches flows as the rule says', () => {
  const { table, slots } = tableOf(FLOWS);

  it('agrees with a restated rule on random combinations of cidrs, ports and protocols', () => {
    fc.assert(
      fc.property(subset(BLOCKS), subset(PORTS), subset(PROTOCOLS), (cidrs, ports, protocols) => {
        const filter = FlowFilter.compile({ cidrs: cidrs.map((b) => b.text), ports, protocols });
        expect(filter.restricts).toBe(cidrs.length + ports.length + protocols.length > 0);
        FLOWS.forEach((flow, i) => {
          expect(filter.accepts(table.records, slots[i]), `${flowText(flow)} with ${filter.describe()}`).toBe(
            referenceAccepts(flow, cidrs, ports, protocols),
          );
        });
      }),
      { seed: FAST_CHECK_SEED, numRuns: FAST_CHECK_RUNS },
    );
  });

  it('accepts every flow when no list restricts', () => {
    const filter = FlowFilter.compile({ cidrs: [], ports: [], protocols: [] });
    expect(filter.restricts).toBe(false);
    expect(filter.describe()).toBe('any');
    for (const slot of slots) expect(filter.accepts(table.records, slot)).toBe(true);
  });

  it('matches a port on either side but never the type and code of an ICMP flow', () => {
    const filter = FlowFilter.compile({ cidrs: [], ports: [80], protocols: [] });
    const accepted = FLOWS.filter((_, i) => filter.accepts(table.records, slots[i])).map(flowText);
    expect(accepted).toEqual([
      'sctp 198.18.0.1:80 > 198.18.0.200:9000',
      'udp [c612:1::]:80 > [2001:db8:1::1]:53',
    ]);
  });

  it('keeps an IPv4 block from matching an IPv6 address with the same first word', () => {
    const filter = FlowFilter.compile({ cidrs: ['198.18.0.1'], ports: [], protocols: [17] });
    const accepted = FLOWS.filter((_, i) => filter.accepts(table.records, slots[i])).map(flowText);
    expect(accepted).toEqual([]);
  });

  it('says what it filters', () => {
    const filter = FlowFilter.compile({
      cidrs: ['10.0.0.0/8', '2001:db8::1'],
      ports: [53],
      protocols: [17, 6],
    });
    expect(filter.describe()).toBe('cidr 10.0.0.0/8,2001:db8::1 and port 53 and protocol 17,6');
  });
});

describe('FlowFilter refuses bad input with a message naming the value', () => {
  const cases: [Partial<FlowFilterSpec>, string][] = [
    [{ cidrs: ['10.0.0.0/33'] }, "filter cidr '10.0.0.0/33': prefix length must be 0..32"],
    [{ cidrs: ['2001:db8::/129'] }, "filter cidr '2001:db8::/129': prefix length must be 0..128"],
    [{ cidrs: ['10.0.0.0/'] }, "filter cidr '10.0.0.0/': prefix length must be 0..32"],
    [{ cidrs: ['10.0.0.0/-1'] }, "filter cidr '10.0.0.0/-1': prefix length must be 0..32"],
    [
      { cidrs: ['10.0.0.0/8', 'example.com'] },
      "filter cidr 'example.com': 'example.com' is not an IP address (expected e.g. 10.0.0.0/8, 2001:db8::/32 or a bare address)",
    ],
    [
      { cidrs: ['256.0.0.1/8'] },
      "filter cidr '256.0.0.1/8': '256.0.0.1' is not an IP address (expected e.g. 10.0.0.0/8, 2001:db8::/32 or a bare address)",
    ],
    [{ ports: [70000] }, 'filter port 70000: must be 1..65535'],
    [{ ports: [443, 0] }, 'filter port 0: must be 1..65535'],
    [{ ports: [1.5] }, 'filter port 1.5: must be 1..65535'],
    [{ ports: [Number.NaN] }, 'filter port NaN: must be 1..65535'],
    [{ protocols: [300] }, 'filter protocol 300: must be 0..255'],
    [{ protocols: [-1] }, 'filter protocol -1: must be 0..255'],
  ];
  for (const [spec, message] of cases) {
    it(`rejects ${JSON.stringify(spec)} with "${message}"`, () => {
      const compile = () => FlowFilter.compile({ cidrs: [], ports: [], protocols: [], ...spec });
      expect(compile).toThrow(UsageError);
      expect(compile).toThrow(message);
      try {
        compile();
      } catch (error) {
        expect((error as UsageError).message).toBe(message);
        expect((error as UsageError).exitCode).toBe(2);
      }
    });
  }
});
