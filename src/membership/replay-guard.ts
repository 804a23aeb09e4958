import { REPLAY_MAX_SENDERS, REPLAY_WINDOW_DATAGRAMS } from './membership-config.js';

/**
 * Drops authenticated datagrams that were sent before (a replay of a captured datagram) or too long ago.
 * Every sender stamps its datagrams with a random per-process sender id, a sequence number and its clock;
 * per sender we keep the highest sequence seen and a REPLAY_WINDOW_DATAGRAMS-entry bitmap below it
 * (IPsec's anti-replay window), so reordering within the window is fine and duplicates are not. At most
 * REPLAY_MAX_SENDERS senders are remembered (least recently heard forgotten first).
 */
const WINDOW_SIZE = REPLAY_WINDOW_DATAGRAMS;
const WINDOW_MASK = (1n << BigInt(WINDOW_SIZE)) - 1n;

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
      if (this.senders.size >= REPLAY_MAX_SENDERS) {
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
      window.seen = shift >= WINDOW_SIZE ? 1n : ((window.seen << BigInt(shift)) | 1n) & WINDOW_MASK;
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
