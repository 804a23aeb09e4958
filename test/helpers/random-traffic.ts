import fc from 'fast-check';
import type { FlowStore } from '../../src/node/flows/flow-store.js';
import {
  addressPool,
  FactsBuffer,
  makeFlow,
  type NaiveTrafficReference,
  type RefFlow,
} from './naive-traffic-reference.js';
import { SeededRandom } from './seeded-random.js';

/**
 * Random packet streams (fast-check, so failures shrink) replayed into a FlowStore and the naive
 * reference side by side. Flows come from a small pool so that flows repeat, reverse directions,
 * share hosts and ports, tie on counters and talk to themselves.
 */

/** A realistic capture epoch, so second numbers are large like in real files. */
export const EPOCH_SECOND = 1_700_000_000;
const FRAME_SIZES = [60, 64, 100, 576, 1500];

export interface TrafficOp {
  kind: 'packet' | 'undecoded';
  flow: number;
  bytes: number;
  /** Seconds added to the stream clock before this frame; negative = an out-of-order timestamp. */
  step: number;
  nanos: number;
  tcpFlags: number;
  reason: number;
}

export interface TrafficStream {
  poolSeed: number;
  ops: TrafficOp[];
  /** How the stream ends: close everything, advance a live clock, or leave the last second open. */
  ending: 'closeAll' | 'advance' | 'open';
  advanceBySeconds: number;
}

export function trafficStreamArbitrary(options: { maxOps: number; maxStepSeconds: number }) {
  const step = fc.oneof(
    { weight: 12, arbitrary: fc.constant(0) },
    { weight: 4, arbitrary: fc.constant(1) },
    { weight: 2, arbitrary: fc.integer({ min: 2, max: options.maxStepSeconds }) },
    { weight: 1, arbitrary: fc.integer({ min: -5, max: -1 }) },
  );
  const op = fc.record({
    kind: fc.oneof(
      { weight: 9, arbitrary: fc.constant('packet' as const) },
      { weight: 1, arbitrary: fc.constant('undecoded' as const) },
    ),
    flow: fc.nat({ max: 10_000 }),
    bytes: fc.constantFrom(...FRAME_SIZES),
    step,
    nanos: fc.integer({ min: 0, max: 999_999_999 }),
    tcpFlags: fc.integer({ min: 0, max: 255 }),
    reason: fc.integer({ min: 1, max: 4 }),
  });
  return fc.record({
    poolSeed: fc.integer({ min: 1, max: 1_000_000 }),
    ops: fc.array(op, { minLength: 1, maxLength: options.maxOps }),
    ending: fc.constantFrom('closeAll' as const, 'advance' as const, 'open' as const),
    advanceBySeconds: fc.integer({ min: 1, max: 400 }),
  });
}

const PROTOCOLS = [6, 6, 6, 17, 17, 132, 1, 58, 47, 253];
const PORTS = [0, 22, 53, 80, 443, 1023, 1024, 5060, 8080, 49151, 49152, 50000, 65535];

/** Flows for a stream: random ones plus reverse directions and a host talking to itself. */
export function flowPool(seed: number): RefFlow[] {
  const random = new SeededRandom(seed);
  const addresses = addressPool(random, 5, 4);
  const flows: RefFlow[] = [];
  while (flows.length < 24) {
    const src = random.pick(addresses);
    const sameVersion = addresses.filter((a) => a.version === src.version);
    const dst = random.chance(0.05) ? src : random.pick(sameVersion);
    let protocol = random.pick(PROTOCOLS);
    if (protocol === 1 && src.version === 6) protocol = 58;
    if (protocol === 58 && src.version === 4) protocol = 1;
    const icmp = protocol === 1 || protocol === 58;
    const portless = protocol === 47 || protocol === 253;
    const srcPort = icmp || portless ? 0 : random.pick(PORTS);
    const dstPort = icmp
      ? (random.pick([0, 3, 8, 11, 128, 135]) << 8) | random.int(4)
      : portless
        ? 0
        : random.pick(PORTS);
    const flow = makeFlow(protocol, src, dst, srcPort, dstPort);
    if (!flows.some((f) => f.id === flow.id)) flows.push(flow);
    if (random.chance(0.3) && !icmp) {
      const reverse = makeFlow(protocol, dst, src, dstPort, srcPort);
      if (!flows.some((f) => f.id === reverse.id)) flows.push(reverse);
    }
  }
  return flows;
}

/** Feeds the stream to both; returns the flows used. */
export function replay(stream: TrafficStream, store: FlowStore, reference: NaiveTrafficReference): RefFlow[] {
  const flows = flowPool(stream.poolSeed);
  const facts = new FactsBuffer();
  let clock = 0;
  let newest = EPOCH_SECOND;
  for (const op of stream.ops) {
    clock = Math.max(0, clock + op.step);
    const second = EPOCH_SECOND + clock;
    newest = Math.max(newest, second);
    if (op.kind === 'packet') {
      const flow = flows[op.flow % flows.length];
      const tcpFlags = flow.protocol === 6 ? op.tcpFlags : 0;
      store.addPacket(facts.load(flow, tcpFlags), op.bytes, second, op.nanos);
      reference.packet(flow, op.bytes, second, op.nanos, tcpFlags);
    } else {
      store.addUndecoded(op.reason, op.bytes, second);
      reference.undecoded(op.reason, op.bytes, second);
    }
  }
  if (stream.ending === 'closeAll') {
    store.closeAll();
    reference.closeAll();
  } else if (stream.ending === 'advance') {
    store.advanceTo(newest + stream.advanceBySeconds);
    reference.advanceTo(newest + stream.advanceBySeconds);
  }
  return flows;
}
