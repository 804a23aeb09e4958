import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayGuard, type ReplayVerdict } from '../../src/membership/replay-guard.js';

const WINDOW_MS = 60_000;
const NOW_MS = 1_700_000_000_000;
/** The anti-replay bitmap length and the sender bound documented in replay-guard.ts. */
const WINDOW_SEQUENCES = 64;
const MAX_SENDERS = 4096;

function freshGuard(): ReplayGuard {
  return new ReplayGuard(WINDOW_MS);
}

describe('ReplayGuard verdicts', () => {
  it('accepts the first datagram of a sender and calls its repeat a duplicate', () => {
    const guard = freshGuard();
    expect(guard.check('a', 5, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 5, NOW_MS, NOW_MS)).toBe('duplicate');
  });

  it('keeps senders apart: the same sequence from another sender is fresh', () => {
    const guard = freshGuard();
    expect(guard.check('a', 5, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('b', 5, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('b', 5, NOW_MS, NOW_MS)).toBe('duplicate');
  });

  it('accepts increasing sequences, including large jumps', () => {
    const guard = freshGuard();
    for (const sequence of [1, 2, 3, 10, 1_000, 1_000_000, 0xffffffff]) {
      expect(guard.check('a', sequence, NOW_MS, NOW_MS)).toBe('fresh');
    }
  });

  it('accepts datagrams reordered inside the 64-sequence window exactly once', () => {
    const guard = freshGuard();
    expect(guard.check('a', 100, NOW_MS, NOW_MS)).toBe('fresh');
    // 37..99 are all within 63 of the highest (100): each arrives late, once, then again.
    for (let sequence = 99; sequence > 100 - WINDOW_SEQUENCES; sequence--) {
      expect(guard.check('a', sequence, NOW_MS, NOW_MS)).toBe('fresh');
    }
    for (let sequence = 100; sequence > 100 - WINDOW_SEQUENCES; sequence--) {
      expect(guard.check('a', sequence, NOW_MS, NOW_MS)).toBe('duplicate');
    }
  });

  it('calls a sequence 64 or more below the highest stale', () => {
    const guard = freshGuard();
    expect(guard.check('a', 100, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 100 - WINDOW_SEQUENCES + 1, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 100 - WINDOW_SEQUENCES, NOW_MS, NOW_MS)).toBe('stale');
    expect(guard.check('a', 0, NOW_MS, NOW_MS)).toBe('stale');
  });

  it('remembers what it saw before the window slid by less than 64', () => {
    const guard = freshGuard();
    expect(guard.check('a', 10, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 8, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 40, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 10, NOW_MS, NOW_MS)).toBe('duplicate');
    expect(guard.check('a', 8, NOW_MS, NOW_MS)).toBe('duplicate');
    expect(guard.check('a', 9, NOW_MS, NOW_MS)).toBe('fresh');
  });

  it('calls everything stale after the window slid by 64 or more', () => {
    const guard = freshGuard();
    expect(guard.check('a', 10, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 10 + WINDOW_SEQUENCES, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 10, NOW_MS, NOW_MS)).toBe('stale');
    expect(guard.check('a', 11, NOW_MS, NOW_MS)).toBe('fresh');
  });

  const timeTable: ReadonlyArray<[description: string, sentAtMs: number, verdict: ReplayVerdict]> = [
    ['sent now', NOW_MS, 'fresh'],
    ['sent exactly one window ago', NOW_MS - WINDOW_MS, 'fresh'],
    ['sent exactly one window ahead', NOW_MS + WINDOW_MS, 'fresh'],
    ['sent one ms more than a window ago', NOW_MS - WINDOW_MS - 1, 'stale'],
    ['sent one ms more than a window ahead', NOW_MS + WINDOW_MS + 1, 'stale'],
    ['sent at the epoch', 0, 'stale'],
    ['sent an hour in the future', NOW_MS + 3_600_000, 'stale'],
  ];
  for (const [description, sentAtMs, verdict] of timeTable) {
    it(`calls a first datagram ${description} ${verdict}`, () => {
      expect(freshGuard().check('a', 1, sentAtMs, NOW_MS)).toBe(verdict);
    });
  }

  it('does not let a stale-by-time datagram move the window', () => {
    const guard = freshGuard();
    expect(guard.check('a', 1_000, NOW_MS - 2 * WINDOW_MS, NOW_MS)).toBe('stale');
    expect(guard.check('a', 1, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('a', 2, NOW_MS, NOW_MS)).toBe('fresh');
  });
});

describe('ReplayGuard memory bound', () => {
  it(`forgets the least recently heard sender beyond ${MAX_SENDERS} senders, without throwing`, () => {
    const guard = freshGuard();
    for (let index = 0; index <= MAX_SENDERS; index++) {
      expect(guard.check(`sender-${index}`, 7, NOW_MS, NOW_MS)).toBe('fresh');
    }
    // sender-0 was pushed out by sender-4096: its repeat is no longer recognised (time still guards it).
    expect(guard.check('sender-0', 7, NOW_MS, NOW_MS)).toBe('fresh');
    // The newest sender is still remembered.
    expect(guard.check(`sender-${MAX_SENDERS}`, 7, NOW_MS, NOW_MS)).toBe('duplicate');
  });

  it('keeps a sender that was heard recently even if it was added first', () => {
    const guard = freshGuard();
    for (let index = 0; index < MAX_SENDERS; index++) guard.check(`sender-${index}`, 7, NOW_MS, NOW_MS);
    // Hearing sender-0 again makes sender-1 the least recently heard.
    expect(guard.check('sender-0', 8, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('sender-new', 1, NOW_MS, NOW_MS)).toBe('fresh');
    expect(guard.check('sender-0', 7, NOW_MS, NOW_MS)).toBe('duplicate');
    expect(guard.check('sender-1', 7, NOW_MS, NOW_MS)).toBe('fresh');
  });

  it('stays usable with 20 000 distinct senders', () => {
    const guard = freshGuard();
    for (let index = 0; index < 20_000; index++) {
      expect(guard.check(`s${index}`, index, NOW_MS, NOW_MS)).toBe('fresh');
    }
    expect(guard.check('s19999', 19_999, NOW_MS, NOW_MS)).toBe('duplicate');
  });
});

/**
 * A reference model written from the description (not the bitmap): per sender, the highest accepted
 * sequence and the set of accepted sequences. Fresh = new sender, above the highest, or within 63 below
 * it and not accepted before.
 */
class ReplayModel {
  private readonly senders = new Map<string, { highest: number; accepted: Set<number> }>();

  check(sender: string, sequence: number): ReplayVerdict {
    const state = this.senders.get(sender);
    if (state === undefined) {
      this.senders.set(sender, { highest: sequence, accepted: new Set([sequence]) });
      return 'fresh';
    }
    if (sequence > state.highest) {
      state.highest = sequence;
      state.accepted.add(sequence);
      return 'fresh';
    }
    if (state.highest - sequence >= WINDOW_SEQUENCES) return 'stale';
    if (state.accepted.has(sequence)) return 'duplicate';
    state.accepted.add(sequence);
    return 'fresh';
  }
}

describe('ReplayGuard properties', () => {
  const datagrams = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 200 })), {
    maxLength: 400,
  });

  it('accepts each distinct (sender, sequence) pair at most once', () => {
    fc.assert(
      fc.property(datagrams, (pairs) => {
        const guard = freshGuard();
        const accepted = new Set<string>();
        for (const [sender, sequence] of pairs) {
          if (guard.check(sender, sequence, NOW_MS, NOW_MS) !== 'fresh') continue;
          const key = `${sender}/${sequence}`;
          expect(accepted.has(key)).toBe(false);
          accepted.add(key);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same verdict as a set-based reference model', () => {
    fc.assert(
      fc.property(datagrams, (pairs) => {
        const guard = freshGuard();
        const model = new ReplayModel();
        for (const [sender, sequence] of pairs) {
          expect(guard.check(sender, sequence, NOW_MS, NOW_MS)).toBe(model.check(sender, sequence));
        }
      }),
      { numRuns: 300 },
    );
  });
});
