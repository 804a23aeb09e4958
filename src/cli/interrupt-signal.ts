/** An abort signal for commands that run until the user stops them (`--watch`). */
export interface Interruption {
  readonly signal: AbortSignal;
  /** Restores the default Ctrl-C handling (a second Ctrl-C after this kills the process). */
  dispose(): void;
}

/**
 * Turns the first Ctrl-C (SIGINT) or SIGTERM into an abort, so a watch ends cleanly (exit 0) after
 * cancelling its stream instead of dying mid-line.
 */
export function interruptOnSignal(): Interruption {
  const controller = new AbortController();
  const stop = () => {
    dispose();
    controller.abort();
  };
  const dispose = () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return { signal: controller.signal, dispose };
}
