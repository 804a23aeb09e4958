import { STALL_WATCH_INTERVAL_MS } from './membership-config.js';

/**
 * Lifeguard's local health awareness (memberlist's awareness.go), plus an event-loop stall watch.
 * A member that cannot get its own probes answered, has to refute suspicions about itself, or whose
 * event loop stalls is more likely sick itself than surrounded by dead peers: it stretches its probe
 * timeouts by (1 + score) and so accuses others more slowly. Pure state, no I/O; the watch uses a timer.
 */
export class LocalHealth {
  private current = 0;

  constructor(private readonly max: number) {}

  get score(): number {
    return this.current;
  }

  /** Multiplier for probe timeouts. */
  get multiplier(): number {
    return 1 + this.current;
  }

  /** An ack arrived for one of our probes: evidence we are fine. */
  probeSucceeded(): void {
    this.adjust(-1);
  }

  /** A probe of ours got no answer at all (direct and indirect). */
  probeFailed(): void {
    this.adjust(1);
  }

  /** Somebody suspected us: our answers are not getting through. */
  refutedSuspicion(): void {
    this.adjust(1);
  }

  /** Our event loop stalled: timeouts measured during the stall mean nothing. */
  stalled(): void {
    this.adjust(2);
  }

  private adjust(delta: number): void {
    this.current = Math.min(this.max, Math.max(0, this.current + delta));
  }
}

/**
 * Notices when this process's event loop did not run for a while (a GC pause, CPU starvation, a
 * blocking call): a timer that should fire every STALL_WATCH_INTERVAL_MS fires late. Probe timeouts that
 * expire during or right after such a stall are not evidence against the probed member: its ack may be
 * waiting in our socket buffer, unread, because Node runs expired timers before it polls sockets.
 */
export class EventLoopStallWatch {
  private timer: NodeJS.Timeout | undefined;
  private lastTickMs: number;
  private lastStallEndMs = Number.NEGATIVE_INFINITY;

  /** `now` is the clock (ms, monotonic); tests drive one of their own through tick(). */
  constructor(
    private readonly stallThresholdMs: number,
    private readonly onStall: (stallMs: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastTickMs = now();
  }

  start(): void {
    this.lastTickMs = this.now();
    this.timer = setInterval(() => this.tick(), STALL_WATCH_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One tick of the watch timer (start() runs it every STALL_WATCH_INTERVAL_MS). */
  tick(): void {
    const now = this.now();
    const late = now - this.lastTickMs - STALL_WATCH_INTERVAL_MS;
    this.lastTickMs = now;
    if (late > this.stallThresholdMs) {
      this.lastStallEndMs = now;
      this.onStall(late);
    }
  }

  /**
   * True if the loop stalled within the last `periodMs`, or is stalling right now (this check itself
   * runs late: the watch timer has not fired for longer than the threshold).
   */
  stalledWithin(periodMs: number): boolean {
    const now = this.now();
    if (now - this.lastTickMs - STALL_WATCH_INTERVAL_MS > this.stallThresholdMs) return true;
    return now - this.lastStallEndMs <= periodMs;
  }

  /** stalledWithin(periodMs), or the caller's own timer fired more than the stall threshold late. */
  stallWithinOrLate(periodMs: number, timerLateMs: number): boolean {
    return timerLateMs > this.stallThresholdMs || this.stalledWithin(periodMs);
  }
}
