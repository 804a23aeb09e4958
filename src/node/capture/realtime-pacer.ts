import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordParser } from './record-parser.js';

/**
 * Replays a capture at the speed it was recorded: the first frame goes out at once and anchors the
 * capture clock to the wall clock; every later frame is held back until its timestamp, relative to
 * the first frame's, has elapsed. Frames whose timestamps go backwards go out at once.
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

export class RealtimePacer {
  private anchored = false;
  private anchorSeconds = 0;
  private anchorNanos = 0;
  private anchorWallMs = 0;

  /** @param nowMs a monotonic clock in milliseconds (injectable for tests). */
  constructor(private readonly nowMs: () => number = () => performance.now()) {}

  /** Lets through every frame that is due now. Before the first frame, holds everything back. */
  openGate(parser: RecordParser): void {
    if (!this.anchored) {
      parser.setGate(Number.NEGATIVE_INFINITY, 0);
      return;
    }
    const elapsedNanos = Math.floor((this.nowMs() - this.anchorWallMs + GATE_LOOKAHEAD_MS) * NANOS_PER_MS);
    const totalNanos = this.anchorNanos + elapsedNanos;
    const carrySeconds = Math.floor(totalNanos / NANOS_PER_SECOND);
    parser.setGate(this.anchorSeconds + carrySeconds, totalNanos - carrySeconds * NANOS_PER_SECOND);
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
    const dueMs =
      this.anchorWallMs + (seconds - this.anchorSeconds) * 1000 + (nanos - this.anchorNanos) / NANOS_PER_MS;
    const delayMs = dueMs - this.nowMs();
    if (delayMs <= 0) return;
    try {
      await sleep(Math.max(1, Math.ceil(delayMs)), undefined, { signal });
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  }
}
