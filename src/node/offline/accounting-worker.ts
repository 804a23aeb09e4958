import { parentPort, workerData } from 'node:worker_threads';
import { DECODED } from '../decode/decode-outcome.js';
import type { FlowFacts } from '../flows/flow-facts.js';
import { FlowStore } from '../flows/flow-store.js';
import { LocalNetworks } from '../flows/local-networks.js';
import { queryTop, type TopQuery } from '../flows/top-query.js';
import {
  CONTROL_FAILED,
  R_DST,
  R_HASH,
  R_META,
  R_NANOS,
  R_OUTCOME,
  R_PORTS,
  R_SECONDS,
  R_SRC,
  R_TCP_FLAGS,
  R_WIRE_LENGTH,
  REC_WORDS,
  type SharedBatches,
  STATE_FREE,
  STATE_LAST,
} from './packet-batch.js';

/**
 * The accounting thread of an offline analysis: counts the records the reading thread decoded into the
 * shared batches (packet-batch.ts), then answers questions about them. Only this thread touches the
 * flow store, exactly as the single-threaded path would.
 */
export interface AccountingWorkerData {
  shared: SharedBatches;
  maxFlows: number;
  retentionSeconds: number;
  localNets: string[];
}

export type AccountingRequest = { type: 'query'; id: number; query: TopQuery };

/** The packet in the current record, in the shape FlowStore.addPacket reads (refilled per record). */
class RecordFacts implements FlowFacts {
  ipVersion = 0;
  protocol = 0;
  readonly srcAddr = new Uint32Array(4);
  readonly dstAddr = new Uint32Array(4);
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
}

const port = parentPort;
if (port === null) throw new Error('accounting-worker.js must run as a worker thread');
const settings = workerData as AccountingWorkerData;
const localNetworks = new LocalNetworks();
for (const cidr of settings.localNets) localNetworks.add(cidr);
const store = new FlowStore({
  maxFlows: settings.maxFlows,
  retentionSeconds: settings.retentionSeconds,
  localNetworks,
});

function countBatch(store: FlowStore, r: Int32Array, count: number, facts: RecordFacts): void {
  for (let i = 0; i < count; i++) {
    const at = i * REC_WORDS;
    const outcome = r[at + R_OUTCOME];
    if (outcome !== DECODED) {
      store.addUndecoded(outcome, r[at + R_WIRE_LENGTH] >>> 0, r[at + R_SECONDS]);
      continue;
    }
    const meta = r[at + R_META];
    const ports = r[at + R_PORTS];
    facts.ipVersion = meta >>> 8;
    facts.protocol = meta & 0xff;
    facts.srcPort = ports >>> 16;
    facts.dstPort = ports & 0xffff;
    facts.tcpFlags = r[at + R_TCP_FLAGS];
    const src = facts.srcAddr;
    const dst = facts.dstAddr;
    src[0] = r[at + R_SRC];
    src[1] = r[at + R_SRC + 1];
    src[2] = r[at + R_SRC + 2];
    src[3] = r[at + R_SRC + 3];
    dst[0] = r[at + R_DST];
    dst[1] = r[at + R_DST + 1];
    dst[2] = r[at + R_DST + 2];
    dst[3] = r[at + R_DST + 3];
    // The wire length is an unsigned 32-bit number in a signed word (packet-batch.ts).
    store.addPacket(facts, r[at + R_WIRE_LENGTH] >>> 0, r[at + R_SECONDS], r[at + R_NANOS], r[at + R_HASH]);
  }
}

function consumeAll(): void {
  const control = new Int32Array(settings.shared.control);
  const batches = [new Int32Array(settings.shared.batches[0]), new Int32Array(settings.shared.batches[1])];
  const facts = new RecordFacts();
  for (let b = 0; ; b ^= 1) {
    while (Atomics.load(control, b) === STATE_FREE) Atomics.wait(control, b, STATE_FREE);
    const state = Atomics.load(control, b);
    countBatch(store, batches[b], control[2 + b], facts);
    Atomics.store(control, b, STATE_FREE);
    Atomics.notify(control, b);
    if (state === STATE_LAST) return;
  }
}

try {
  consumeAll();
} catch (error) {
  // Wake the reading thread so it stops waiting for a batch that will never be emptied.
  const control = new Int32Array(settings.shared.control);
  Atomics.store(control, CONTROL_FAILED, 1);
  Atomics.notify(control, 0);
  Atomics.notify(control, 1);
  throw error;
}
store.closeAll();
port.postMessage({ type: 'counted' });
port.on('message', (request: AccountingRequest) => {
  if (request.type === 'query')
    port.postMessage({ type: 'report', id: request.id, report: queryTop(store, request.query) });
});
