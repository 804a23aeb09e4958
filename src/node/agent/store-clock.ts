import type { FlowStore } from '../flows/flow-store.js';

/**
 * How often finished seconds are closed when no packet does it: 50 ms, so windows keep moving on a quiet
 * link and the tables of recent questions are rebuilt soon after a second ends (prewarm).
 */
export const STORE_CLOCK_TICK_MS = 50;

/**
 * The clock of a capturing node's flow store: closes every second that has ended by the wall clock, so
 * queries (which never close seconds themselves) find the seconds they pin closed. `onClosed` is called
 * when the newest closed second changed since the last call (by this clock or by the packet path, which
 * closes a second with the first frame of the next one). The first tick runs at once. Returns the function
 * that stops the clock.
 */
export function startStoreClock(
  store: FlowStore,
  onClosed: (second: number | null) => void = () => {},
  nowMs: () => number = Date.now,
  tickMs = STORE_CLOCK_TICK_MS,
): () => void {
  let reported: number | null = null;
  const tick = () => {
    store.advanceTo(Math.floor(nowMs() / 1000));
    const closed = store.lastClosedSecond;
    if (closed === reported) return;
    reported = closed;
    onClosed(closed);
  };
  // Every second that has already ended is closed now, not a tick later: a query asked right after the
  // clock starts finds them closed (a store filled before its clock started, as in tests and benchmarks).
  tick();
  const timer = setInterval(tick, tickMs);
  return () => clearInterval(timer);
}
