import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordParser } from './record-parser.js';

/**
 * Replays a capture at the speed it was recorded, or `speed` times faster: the first frame goes out at
 * once and anchors the capture clock to the wall clock; every later frame is held back until its
 * timestamp, relative to the first frame's and divided by `speed`, has elapsed. Frames whose
 * timestamps go backwards go out at once.
 *
 * Mechanism: before each parse the pacer sets the parser's gate to the capture time that is due now
 * (plus GATE_LOOKAHEAD_MS, so a frame due within the timer's resolution is not slept for). The parser
 * stops before the first frame past the gate; the pacer then sleeps on a timer (no busy-waiting) until
 * that frame is due. Accuracy is the timer's, about 1 ms.
 */

/** Frames due within this many milliseconds are released now rather than slept for. */
const GATE_LOOKAHEAD_MS = 1;
const NANOS_PER_SECOND = 1_000_000_000;
const NANOS_PER_MS = 1_000_000;
const MS_PER_SECOND = 1000;

export class RealtimePacer {
  private anchored = false;
  private anchorSeconds = 0;
  private anchorNanos = 0;
  private anchorWallMs = 0;

  /**
   * @param nowMs a monotonic clock in milliseconds (injectable for tests).
   * @param speed capture seconds replayed per wall-clock second (> 0; 1 = as recorded).
   */
  constructor(
    private readonly nowMs: () => number = () => performance.now(),
    readonly speed = 1,
  ) {}

  /** Lets through every frame that is due now. Before the first frame, holds everything back. */
  openGate(parser: RecordParser): void {
    if (!this.anchored) {
      parser.setGate(Number.NEGATIVE_INFINITY, 0);
      return;
    }
    // Whole seconds and the nanosecond rest kept apart: at high speeds the capture time elapsed soon
    // exceeds 2^53 ns, where a single nanosecond count stops being exact.
    const elapsedCaptureMs = (this.nowMs() - this.anchorWallMs + GATE_LOOKAHEAD_MS) * this.speed;
    const elapsedSeconds = Math.floor(elapsedCaptureMs / MS_PER_SECOND);
    const elapsedNanos = Math.floor((elapsedCaptureMs - elapsedSeconds * MS_PER_SECOND) * NANOS_PER_MS);
    const totalNanos = this.anchorNanos + elapsedNanos;
    const carrySeconds = Math.floor(totalNanos / NANOS_PER_SECOND);
    parser.setGate(
      this.anchorSeconds + elapsedSeconds + carrySeconds,
      totalNanos - carrySeconds * NANOS_PER_SECOND,
    );
  }

  /**
   * Waits until the frame held back at (seconds, nanos) is due; the first frame anchors the clock and
   * is due at once. Returns early, without error, when `signal` aborts.
   */
  async waitFor(seconds: number, nanos: number, signal: AbortSignal | undefined): Promise<void> {
    if (!this.anchored) {
      this.anchored = true;
      this.anchorSeconds = seconds;
      this.anchorNanos = nanos;
      this.anchorWallMs = this.nowMs();
      return;
    }
    const captureElapsedMs =
      (seconds - this.anchorSeconds) * MS_PER_SECOND + (nanos - this.anchorNanos) / NANOS_PER_MS;
    const dueMs = this.anchorWallMs + captureElapsedMs / this.speed;
    const delayMs = dueMs - this.nowMs();
    if (delayMs <= 0) return;
    try {
      await sleep(Math.max(1, Math.ceil(delayMs)), undefined, { signal });
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  }
}
