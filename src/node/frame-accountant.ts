import type { FrameSink } from './capture/frame-sink.js';
import { DECODED } from './decode/decode-outcome.js';
import { PacketDecoder } from './decode/packet-decoder.js';
import type { FlowStore } from './flows/flow-store.js';

/**
 * The per-frame path of a node: decode the frame, then count it in the flow store, either under its
 * flow or under the reason it could not be decoded. Bytes are the frame's length on the wire as the
 * capture says it (pcap/pcapng orig_len, an unsigned 32-bit number; tshark's frame.len), never the
 * captured length. Allocates nothing per frame.
 */
export class FrameAccountant implements FrameSink {
  private readonly decoder = new PacketDecoder();
  /** Kept as a plain number (never null) so updating it per frame allocates nothing. */
  private newestTimestamp = Number.NEGATIVE_INFINITY;

  constructor(readonly store: FlowStore) {}

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
    const decoder = this.decoder;
    const outcome = decoder.decode(linkType, data, offset, capturedLength);
    // The original length as the file says, also when it is below the captured length (some writers
    // leave it so): tshark's frame.len is orig_len, and so are our bytes (README, "What is counted").
    if (outcome === DECODED) this.store.addPacket(decoder, originalLength, tsSeconds, tsNanos);
    else this.store.addUndecoded(outcome, originalLength, tsSeconds);
    const ts = tsSeconds + tsNanos * 1e-9;
    if (ts > this.newestTimestamp) this.newestTimestamp = ts;
  }

  /** Timestamp of the newest frame seen (seconds, with fraction); null before the first frame. */
  get lastTimestamp(): number | null {
    return this.newestTimestamp === Number.NEGATIVE_INFINITY ? null : this.newestTimestamp;
  }
}
