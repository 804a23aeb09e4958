import type { FrameSink } from './frame-sink.js';

/**
 * The contract between the capture-file reader (which owns the buffer and the I/O) and a format parser
 * (classic pcap, pcapng). The reader hands the parser a window of bytes; the parser consumes whole
 * records only, delivers their frames to the sink and says why it stopped:
 *
 * - `damage` set: the record at the returned position is corrupt; every earlier frame was delivered;
 * - `pausedAtGate` set: the next frame is later than the real-time gate (pacing), nothing is wrong;
 * - otherwise: the window ends inside the record at the returned position, which needs `bytesNeeded`
 *   bytes in total (known from its header; the header size when the header itself is incomplete).
 *
 * Parsers keep their own state (file header read, section byte order, interfaces) between calls.
 */
export interface RecordParser {
  /** Frames delivered so far. */
  readonly frames: number;
  /** Why the record at the position parse() returned is unreadable; null while the file is sound. */
  readonly damage: string | null;
  /** See the interface comment: bytes the record at the returned position needs in total. */
  readonly bytesNeeded: number;
  /** Timestamp of the frame that parse() held back at the gate (valid when `pausedAtGate`). */
  readonly pausedSeconds: number;
  readonly pausedNanos: number;
  /** True when the last parse() stopped at the real-time gate. */
  readonly pausedAtGate: boolean;

  /**
   * Frames later than (gateSeconds, gateNanos) are held back. Infinity (the default) disables the gate
   * at the cost of one comparison per frame.
   */
  setGate(gateSeconds: number, gateNanos: number): void;

  /** Parses whole records in `data[start, end)`; returns the offset of the first byte not consumed. */
  parse(data: Uint8Array, start: number, end: number, sink: FrameSink): number;

  /**
   * The reason to report when the input ends `availableBytes` into the record that starts at `start`
   * (after a parse() that stopped there for lack of data). `data` holds the record's first
   * min(availableBytes, header size) bytes from `start`.
   */
  describeTruncation(data: Uint8Array, start: number, availableBytes: number): string;
}
