/**
 * Polls `condition` every 10 ms until it holds; resolves with the milliseconds it took, or rejects
 * naming `what` after `timeoutMs`. Used by the demo and the membership tests.
 */
export async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}
