/**
 * The seam between a capture source (live or file) and whatever consumes frames.
 *
 * Every argument is a primitive so that delivering a frame allocates nothing. `data` is a large,
 * reused buffer: the frame occupies `data[offset, offset + capturedLength)` and is valid only during
 * the call (the same contract as gopacket's DecodingLayerParser): a sink that needs bytes later must
 * copy them.
 */
export interface FrameSink {
  onFrame(
    /** LINKTYPE_* value of the interface the frame came from (1 = Ethernet, 113 = SLL, ...). */
    linkType: number,
    /** Capture timestamp, whole seconds since the Unix epoch. */
    tsSeconds: number,
    /** Capture timestamp, nanoseconds within the second (0..999,999,999). */
    tsNanos: number,
    data: Uint8Array,
    offset: number,
    /** Bytes actually captured (may be less than the frame's length on the wire). */
    capturedLength: number,
    /** The frame's length on the wire (pcap orig_len, tshark's frame.len). */
    originalLength: number,
    /** Index of the interface within the capture (pcapng IDB index; 0 for pcap and live). */
    interfaceIndex: number,
  ): void;
}

/** Counters every capture source keeps. */
export interface CaptureCounters {
  /** Frames delivered to the sink. */
  frames: number;
  /** Bytes of input consumed (file bytes after decompression; captured bytes for live). */
  bytesRead: number;
  /** Frames the kernel dropped before we could read them; null when the source cannot know. */
  kernelDrops: number | null;
}

/** A stream of frames. A file source ends at end of file; a live source when stopped. */
export interface CaptureSource {
  /** Human-readable description for status lines ("file foo.pcap", "live eth0 'tcp port 80'"). */
  readonly description: string;
  /**
   * Deliver frames to `sink` until the source ends or `signal` aborts. Rejects with a typed
   * SniffmeshError (CaptureFileError, LiveCaptureError) after delivering every good frame.
   */
  run(sink: FrameSink, signal?: AbortSignal): Promise<void>;
  counters(): CaptureCounters;
}
