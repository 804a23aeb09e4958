/**
 * Drops authenticated datagrams that were sent before (a replay of a captured datagram) or too long ago.
 * Every sender stamps its datagrams with a random per-process sender id, a sequence number and its clock;
 * per sender we keep the highest sequence seen and a 64-entry bitmap below it (IPsec's anti-replay
 * window), so reordering within 64 datagrams is fine and duplicates are not.
 */
const WINDOW_SIZE = 64;
/** Senders remembered (least recently heard forgotten first); a forgotten sender is still covered by the
 * time check. Bounded so random sender ids cannot grow memory. */
const MAX_SENDERS = 4096;

export type ReplayVerdict = 'fresh' | 'duplicate' | 'stale';

interface SenderWindow {
  highest: number;
  /** bit i set = sequence (highest - i) was seen. */
  seen: bigint;
}

export class ReplayGuard {
  private readonly senders = new Map<string, SenderWindow>();

  constructor(private readonly windowMs: number) {}

  check(senderId: string, sequence: number, sentAtMs: number, nowMs: number): ReplayVerdict {
    if (Math.abs(nowMs - sentAtMs) > this.windowMs) return 'stale';
    const window = this.senders.get(senderId);
    if (window === undefined) {
      if (this.senders.size >= MAX_SENDERS) {
        const oldest = this.senders.keys().next().value;
        if (oldest !== undefined) this.senders.delete(oldest);
      }
      this.senders.set(senderId, { highest: sequence, seen: 1n });
      return 'fresh';
    }
    // Most recently heard last: Map keeps insertion order.
    this.senders.delete(senderId);
    this.senders.set(senderId, window);
    if (sequence > window.highest) {
      const shift = sequence - window.highest;
      window.seen = shift >= WINDOW_SIZE ? 1n : ((window.seen << BigInt(shift)) | 1n) & ((1n << 64n) - 1n);
      window.highest = sequence;
      return 'fresh';
    }
    const offset = window.highest - sequence;
    if (offset >= WINDOW_SIZE) return 'stale';
    const bit = 1n << BigInt(offset);
    if ((window.seen & bit) !== 0n) return 'duplicate';
    window.seen |= bit;
    return 'fresh';
  }
}
