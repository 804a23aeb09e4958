/**
 * The hand-off between the two threads of an offline analysis: the reading thread decodes frames into
 * fixed-size int32 records in one of two shared batches, the accounting thread counts them. Two batches
 * let both threads run at once (double buffering); Atomics.wait/notify hand a batch over when it is full
 * or free, so nothing is copied through messages and nothing is allocated per frame.
 *
 * Record layout (REC_WORDS int32 words): outcome (decode-outcome.ts), wire length (a uint32 stored as
 * its bit pattern: read it back with `>>> 0`), timestamp seconds,
 * nanoseconds, TCP flags, ipVersion << 8 | protocol, srcPort << 16 | dstPort, source address (4 words),
 * destination address (4 words), flow hash. Undecoded frames use only the first four words.
 */
export const REC_WORDS = 16;
export const R_OUTCOME = 0;
export const R_WIRE_LENGTH = 1;
export const R_SECONDS = 2;
export const R_NANOS = 3;
export const R_TCP_FLAGS = 4;
export const R_META = 5;
export const R_PORTS = 6;
export const R_SRC = 7;
export const R_DST = 11;
/** FlowTable.hashFacts of the flow, computed on the reading side to balance the two threads. */
export const R_HASH = 15;

/** Records per batch: 64k records of 64 bytes (4 MiB), large enough that hand-overs are rare. */
export const BATCH_RECORDS = 65_536;

/** Control words (int32), per batch b: state at b, record count at 2 + b; then the failure flag. */
export const CONTROL_WORDS = 5;
/** Set (and notified on both batch states) by the accounting thread when it failed: stop waiting. */
export const CONTROL_FAILED = 4;
export const STATE_FREE = 0;
export const STATE_FULL = 1;
/** The reading side is done: no more batches after this one (its count may be 0). */
export const STATE_LAST = 2;

export interface SharedBatches {
  control: SharedArrayBuffer;
  batches: [SharedArrayBuffer, SharedArrayBuffer];
}

export function createSharedBatches(): SharedBatches {
  return {
    control: new SharedArrayBuffer(CONTROL_WORDS * 4),
    batches: [
      new SharedArrayBuffer(BATCH_RECORDS * REC_WORDS * 4),
      new SharedArrayBuffer(BATCH_RECORDS * REC_WORDS * 4),
    ],
  };
}
