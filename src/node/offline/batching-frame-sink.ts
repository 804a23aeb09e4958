import type { FrameSink } from '../capture/frame-sink.js';
import { DECODED } from '../decode/decode-outcome.js';
import { PacketDecoder } from '../decode/packet-decoder.js';
import { FlowTable } from '../flows/flow-table.js';
import {
  BATCH_RECORDS,
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
  STATE_FULL,
  STATE_LAST,
} from './packet-batch.js';

/**
 * The reading thread's sink: decodes each frame (the same decoder and wire length, orig_len, as
 * FrameAccountant) into the current shared batch, and hands full batches to the accounting thread.
 * Blocks (Atomics.wait) only when both batches are full, i.e. when counting is the slower side.
 */
export class BatchingFrameSink implements FrameSink {
  private readonly decoder = new PacketDecoder();
  private readonly control: Int32Array;
  private readonly batches: [Int32Array, Int32Array];
  private current = 0;
  private records: Int32Array;
  private count = 0;

  constructor(shared: SharedBatches) {
    this.control = new Int32Array(shared.control);
    this.batches = [new Int32Array(shared.batches[0]), new Int32Array(shared.batches[1])];
    this.records = this.batches[0];
  }

  onFrame(
    linkType: number,
    tsSeconds: number,
    tsNanos: number,
    data: Uint8Array,
    offset: number,
    capturedLength: number,
    originalLength: number,
    _interfaceIndex: number,
  ): void {
    const d = this.decoder;
    const outcome = d.decode(linkType, data, offset, capturedLength);
    const r = this.records;
    const at = this.count * REC_WORDS;
    r[at + R_OUTCOME] = outcome;
    // Stored as the uint32's bit pattern (lengths of 2^31 and more look negative in the int32 word);
    // the accounting thread reads it back with >>> 0.
    r[at + R_WIRE_LENGTH] = originalLength;
    r[at + R_SECONDS] = tsSeconds;
    r[at + R_NANOS] = tsNanos;
    if (outcome === DECODED) {
      r[at + R_TCP_FLAGS] = d.tcpFlags;
      r[at + R_META] = (d.ipVersion << 8) | d.protocol;
      r[at + R_PORTS] = (d.srcPort << 16) | d.dstPort;
      const src = d.srcAddr;
      const dst = d.dstAddr;
      r[at + R_SRC] = src[0];
      r[at + R_SRC + 1] = src[1];
      r[at + R_SRC + 2] = src[2];
      r[at + R_SRC + 3] = src[3];
      r[at + R_DST] = dst[0];
      r[at + R_DST + 1] = dst[1];
      r[at + R_DST + 2] = dst[2];
      r[at + R_DST + 3] = dst[3];
      r[at + R_HASH] = FlowTable.hashFacts(d);
    }
    if (++this.count === BATCH_RECORDS) this.handOver(STATE_FULL);
  }

  /** Hands over what is buffered and tells the accounting thread that nothing follows. */
  finish(): void {
    this.handOver(STATE_LAST);
  }

  private handOver(state: number): void {
    const control = this.control;
    const b = this.current;
    control[2 + b] = this.count;
    Atomics.store(control, b, state);
    Atomics.notify(control, b);
    if (state === STATE_LAST) return;
    this.current = b ^ 1;
    // Wait until the accounting thread has emptied the other batch.
    while (Atomics.load(control, this.current) !== STATE_FREE) {
      if (Atomics.load(control, CONTROL_FAILED) !== 0) throw new Error('the accounting thread failed');
      Atomics.wait(control, this.current, STATE_FULL, 1000);
    }
    this.records = this.batches[this.current];
    this.count = 0;
  }
}
