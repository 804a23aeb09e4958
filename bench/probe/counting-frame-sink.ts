/**
 * A FrameSink that only counts: frames, bytes on the wire (originalLength), bytes captured, the size
 * range and the time span. It is the cheapest possible consumer, used to measure what a capture
 * source itself can deliver and to check capture sources against an exactly known input.
 */
import type { FrameSink } from '../../src/node/capture/frame-sink.js';

export interface FrameCounts {
  frames: number;
  /** Sum of originalLength: bytes on the wire. */
  originalBytes: number;
  /** Sum of capturedLength. */
  capturedBytes: number;
  /** Smallest and largest originalLength seen (0 when no frame). */
  minOriginalLength: number;
  maxOriginalLength: number;
  maxCapturedLength: number;
  /** LINKTYPE_* of the last frame (-1 when no frame). */
  linkType: number;
  /** Timestamps of the first and last frame, in milliseconds since the epoch (0 when no frame). */
  firstFrameEpochMs: number;
  lastFrameEpochMs: number;
}

export class CountingFrameSink implements FrameSink {
  private frames = 0;
  private originalBytes = 0;
  private capturedBytes = 0;
  private minOriginalLength = Number.MAX_SAFE_INTEGER;
  private maxOriginalLength = 0;
  private maxCapturedLength = 0;
  private linkType = -1;
  private firstFrameEpochMs = 0;
  private lastFrameEpochMs = 0;

  onFrame(
    linkType: number,
    tsSeconds: number,
    tsNanos: number,
    _data: Uint8Array,
    _offset: number,
    capturedLength: number,
    originalLength: number,
    _interfaceIndex: number,
  ): void {
    const epochMs = tsSeconds * 1000 + tsNanos / 1_000_000;
    if (this.frames === 0) this.firstFrameEpochMs = epochMs;
    this.lastFrameEpochMs = epochMs;
    this.frames++;
    this.originalBytes += originalLength;
    this.capturedBytes += capturedLength;
    if (originalLength < this.minOriginalLength) this.minOriginalLength = originalLength;
    if (originalLength > this.maxOriginalLength) this.maxOriginalLength = originalLength;
    if (capturedLength > this.maxCapturedLength) this.maxCapturedLength = capturedLength;
    this.linkType = linkType;
  }

  counts(): FrameCounts {
    return {
      frames: this.frames,
      originalBytes: this.originalBytes,
      capturedBytes: this.capturedBytes,
      minOriginalLength: this.frames === 0 ? 0 : this.minOriginalLength,
      maxOriginalLength: this.maxOriginalLength,
      maxCapturedLength: this.maxCapturedLength,
      linkType: this.linkType,
      firstFrameEpochMs: this.firstFrameEpochMs,
      lastFrameEpochMs: this.lastFrameEpochMs,
    };
  }
}
