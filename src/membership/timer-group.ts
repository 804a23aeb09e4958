/**
 * The timers of one member, stopped together. None of them keeps the process alive (unref), and none
 * runs after stop(): a stopped member sends nothing.
 */
export class TimerGroup {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  /** Runs `task` every `intervalMs` until stop(). */
  every(intervalMs: number, task: () => void): void {
    if (this.stopped) return;
    const timer = setInterval(() => {
      if (!this.stopped) task();
    }, intervalMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Runs `task` once after `delayMs`, unless stop() comes first. */
  after(delayMs: number, task: () => void): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) task();
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

/** Resolves after `ms` (keeps the process alive meanwhile: a leave in progress finishes). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
