import type { FrameSink } from '../../src/node/capture/frame-sink.js';

/** One delivered frame, with its bytes copied out of the source's reused buffer. */
export interface CollectedFrame {
  linkType: number;
  seconds: number;
  nanos: number;
  capturedLength: number;
  originalLength: number;
  interfaceIndex: number;
  data: Buffer;
}

/** A FrameSink that keeps a copy of every frame, for tests that compare what was delivered. */
export class FrameCollector implements FrameSink {
  readonly frames: CollectedFrame[] = [];

  onFrame(
    linkType: number,
    tsSeconds: number,
    tsNanos: number,
    data: Uint8Array,
    offset: number,
    capturedLength: number,
    originalLength: number,
    interfaceIndex: number,
  ): void {
    this.frames.push({
      linkType,
      seconds: tsSeconds,
      nanos: tsNanos,
      capturedLength,
      originalLength,
      interfaceIndex,
      data: Buffer.from(data.subarray(offset, offset + capturedLength)),
    });
  }
}
