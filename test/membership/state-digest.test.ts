import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildDigests,
  compareDigest,
  DIGEST_STATE_ALIVE,
  DIGEST_STATE_FAILED,
  DIGEST_STATE_LEFT,
  DIGEST_STATE_SUSPECT,
  type DigestRow,
  hostHash,
} from '../../src/membership/state-digest.js';
import {
  type DigestEntry,
  type DigestMessage,
  digestBytes,
  encodeDigest,
  parseSwimPayload,
} from '../../src/membership/swim-wire.js';

const UINT32_MAX = 0xffffffff;
const SENDER = '127.0.0.1:7946';

describe('hostHash', () => {
  // Published FNV-1a 32-bit test vectors (Fowler/Noll/Vo reference test suite).
  const vectors: ReadonlyArray<[text: string, hash: number]> = [
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['b', 0xe70c2de5],
    ['foobar', 0xbf9cf968],
  ];
  for (const [text, hash] of vectors) {
    it(`hashes '${text}' to 0x${hash.toString(16)}`, () => {
      expect(hostHash(text)).toBe(hash);
    });
  }

  it('returns an unsigned 32-bit integer for any address', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (text) => {
        const hash = hostHash(text);
        return Number.isInteger(hash) && hash >= 0 && hash <= UINT32_MAX;
      }),
    );
  });

  it('tells apart addresses that differ only in the port', () => {
    expect(hostHash('127.0.0.1:7946')).not.toBe(hostHash('127.0.0.1:7947'));
  });
});

function row(host: string, incarnation: number, state: number, hash = hostHash(host)): DigestRow {
  return { host, hostHash: hash, incarnation, state };
}

describe('buildDigests', () => {
  it('sends one digest covering every hash when there are no rows', () => {
    expect(buildDigests([], SENDER, true, 1400)).toEqual([
      { sender: SENDER, replyWanted: true, rangeLow: 0, rangeHigh: UINT32_MAX, entries: [] },
    ]);
  });

  it('splits rows by hash into contiguous ranges when the payload limit is small', () => {
    const rows = [row('d', 1, 0, 400), row('a', 1, 0, 100), row('c', 2, 1, 300), row('b', 1, 0, 200)];
    // Room for exactly two entries per message.
    const limit = digestBytes(SENDER.length, 2);
    const digests = buildDigests(rows, SENDER, false, limit);
    expect(digests.map((d) => [d.rangeLow, d.rangeHigh, d.entries.map((e) => e.hostHash)])).toEqual([
      [0, 200, [100, 200]],
      [201, UINT32_MAX, [300, 400]],
    ]);
  });

  it('never splits rows with the same hash over two messages', () => {
    const rows = [row('a', 1, 0, 7), row('b', 2, 0, 7), row('c', 3, 0, 7), row('d', 1, 0, 9)];
    const digests = buildDigests(rows, SENDER, false, digestBytes(SENDER.length, 1));
    for (const digest of digests) {
      const sevens = digest.entries.filter((entry) => entry.hostHash === 7).length;
      expect([0, 3]).toContain(sevens);
    }
  });

  const rowsArbitrary = fc.array(
    fc.record({
      host: fc.string({ minLength: 1, maxLength: 8 }),
      // Mostly spread over the whole space, sometimes crowded into a few values to force collisions.
      hostHash: fc.oneof(fc.integer({ min: 0, max: UINT32_MAX }), fc.constantFrom(0, 1, 2, UINT32_MAX)),
      incarnation: fc.nat({ max: 1000 }),
      state: fc.constantFrom(
        DIGEST_STATE_ALIVE,
        DIGEST_STATE_SUSPECT,
        DIGEST_STATE_FAILED,
        DIGEST_STATE_LEFT,
      ),
    }),
    { maxLength: 120 },
  );
  const limitArbitrary = fc.integer({ min: 0, max: 400 });

  it('covers 0..2^32-1 without gaps or overlaps and lists every row exactly once (property)', () => {
    fc.assert(
      fc.property(rowsArbitrary, limitArbitrary, fc.boolean(), (rows, limit, replyWanted) => {
        const digests = buildDigests(rows, SENDER, replyWanted, limit);
        expect(digests.length).toBeGreaterThan(0);
        expect(digests[0]?.rangeLow).toBe(0);
        expect(digests.at(-1)?.rangeHigh).toBe(UINT32_MAX);
        let expectedLow = 0;
        const listed: DigestEntry[] = [];
        for (const digest of digests) {
          expect(digest.sender).toBe(SENDER);
          expect(digest.replyWanted).toBe(replyWanted);
          expect(digest.rangeLow).toBe(expectedLow);
          expect(digest.rangeLow).toBeLessThanOrEqual(digest.rangeHigh);
          for (const entry of digest.entries) {
            expect(entry.hostHash).toBeGreaterThanOrEqual(digest.rangeLow);
            expect(entry.hostHash).toBeLessThanOrEqual(digest.rangeHigh);
          }
          listed.push(...digest.entries);
          expectedLow = digest.rangeHigh + 1;
        }
        const key = (entry: DigestEntry): string => `${entry.hostHash}/${entry.incarnation}/${entry.state}`;
        expect(listed.map(key).sort()).toEqual(rows.map(key).sort());
      }),
      { numRuns: 500 },
    );
  });

  it('fits every message in the payload limit and each one parses back (property)', () => {
    const distinctRows = fc.uniqueArray(
      fc.record({
        host: fc.constant('h'),
        hostHash: fc.integer({ min: 0, max: UINT32_MAX }),
        incarnation: fc.nat({ max: 1000 }),
        state: fc.constantFrom(
          DIGEST_STATE_ALIVE,
          DIGEST_STATE_SUSPECT,
          DIGEST_STATE_FAILED,
          DIGEST_STATE_LEFT,
        ),
      }),
      { selector: (r) => r.hostHash, maxLength: 200 },
    );
    const roomy = fc.integer({ min: digestBytes(SENDER.length, 1), max: 1400 });
    fc.assert(
      fc.property(distinctRows, roomy, (rows, limit) => {
        for (const digest of buildDigests(rows, SENDER, false, limit)) {
          const encoded = encodeDigest(digest);
          expect(encoded.length).toBeLessThanOrEqual(limit);
          expect(parseSwimPayload(encoded)).toEqual([{ kind: 'digest', digest }]);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** A digest over [rangeLow, rangeHigh] listing the given hosts (hashed as hostHash does). */
function digestOf(
  entries: ReadonlyArray<[host: string, incarnation: number, state: number]>,
  rangeLow = 0,
  rangeHigh = UINT32_MAX,
): DigestMessage {
  return {
    sender: '127.0.0.1:9000',
    replyWanted: false,
    rangeLow,
    rangeHigh,
    entries: entries.map(([host, incarnation, state]) => ({ hostHash: hostHash(host), incarnation, state })),
  };
}

const LOCAL = '127.0.0.1:7946';
const PEER = '127.0.0.1:7947';
const A = DIGEST_STATE_ALIVE;
const S = DIGEST_STATE_SUSPECT;
const F = DIGEST_STATE_FAILED;
const L = DIGEST_STATE_LEFT;

describe('compareDigest about other members', () => {
  const table: ReadonlyArray<
    [
      description: string,
      ours: [incarnation: number, state: number],
      theirs: [number, number] | undefined,
      offered: boolean,
    ]
  > = [
    ['we have a newer incarnation', [3, A], [2, A], true],
    ['we have a newer incarnation even if they say suspect', [3, A], [2, S], true],
    ['they have a newer incarnation', [2, A], [3, A], false],
    ['they have a newer incarnation and a weaker state', [2, L], [3, A], false],
    ['same incarnation, suspect here over alive there', [4, S], [4, A], true],
    ['same incarnation, left here over suspect there', [4, L], [4, S], true],
    ['same incarnation, left here over alive there', [4, L], [4, A], true],
    ['same incarnation, left here over failed there', [4, L], [4, F], true],
    ['same incarnation and state', [4, S], [4, S], false],
    ['same incarnation, alive here and suspect there', [4, A], [4, S], false],
    ['same incarnation, suspect here and left there', [4, S], [4, L], false],
    ['they do not know the member', [0, A], undefined, true],
    ['they do not know a member that left', [1, L], undefined, true],
    ['failed here with a newer incarnation', [9, F], [1, A], false],
    ['failed here and unknown there', [9, F], undefined, false],
    ['failed here over suspect there at the same incarnation', [4, F], [4, S], false],
  ];
  for (const [description, [ourIncarnation, ourState], theirs, offered] of table) {
    it(`${offered ? 'offers' : 'does not offer'} the record when ${description}`, () => {
      const digest = digestOf(theirs === undefined ? [] : [[PEER, theirs[0], theirs[1]]]);
      const comparison = compareDigest(
        digest,
        [row(LOCAL, 0, A), row(PEER, ourIncarnation, ourState)],
        LOCAL,
      );
      expect(comparison.newerHere.includes(PEER)).toBe(offered);
      expect(comparison.refuteAbove).toBeUndefined();
    });
  }

  it('ignores rows whose hash lies outside the digest range', () => {
    const peerHash = hostHash(PEER);
    const below = compareDigest(digestOf([], peerHash + 1, UINT32_MAX), [row(PEER, 5, A)], LOCAL);
    const above = compareDigest(digestOf([], 0, peerHash - 1), [row(PEER, 5, A)], LOCAL);
    expect(below.newerHere).toEqual([]);
    expect(above.newerHere).toEqual([]);
    const exact = compareDigest(digestOf([], peerHash, peerHash), [row(PEER, 5, A)], LOCAL);
    expect(exact.newerHere).toEqual([PEER]);
  });

  it('compares a colliding hash with the highest incarnation listed under it', () => {
    const colliding: DigestMessage = {
      ...digestOf([]),
      entries: [
        { hostHash: 42, incarnation: 1, state: A },
        { hostHash: 42, incarnation: 5, state: A },
      ],
    };
    expect(compareDigest(colliding, [row(PEER, 3, A, 42)], LOCAL).newerHere).toEqual([]);
    expect(compareDigest(colliding, [row(PEER, 6, A, 42)], LOCAL).newerHere).toEqual([PEER]);
  });

  it('offers several members at once, in the order of our rows', () => {
    const other = '127.0.0.1:7948';
    const digest = digestOf([
      [PEER, 1, A],
      [other, 1, A],
    ]);
    const comparison = compareDigest(
      digest,
      [row(PEER, 2, A), row(other, 1, A), row('10.0.0.9:1', 0, A)],
      LOCAL,
    );
    expect(comparison.newerHere).toEqual([PEER, '10.0.0.9:1']);
  });
});

describe('compareDigest about the local member', () => {
  const table: ReadonlyArray<
    [
      description: string,
      theirs: [incarnation: number, state: number] | undefined,
      refuteAbove: number | undefined,
    ]
  > = [
    ['they think we are suspect at our incarnation', [5, S], 5],
    ['they think we failed at our incarnation', [5, F], 5],
    ['they think we left at our incarnation', [5, L], 5],
    ['they hold a higher incarnation of us, alive', [7, A], 7],
    ['they hold a higher incarnation of us, suspect', [8, S], 8],
    ['they agree we are alive', [5, A], undefined],
    ['they do not know us', undefined, undefined],
  ];
  for (const [description, theirs, refuteAbove] of table) {
    it(`${refuteAbove === undefined ? 'does not refute' : `refutes above ${refuteAbove}`} when ${description}`, () => {
      const digest = digestOf(theirs === undefined ? [] : [[LOCAL, theirs[0], theirs[1]]]);
      const comparison = compareDigest(digest, [row(LOCAL, 5, A)], LOCAL);
      expect(comparison.refuteAbove).toBe(refuteAbove);
    });
  }

  it('offers our own record when they do not know us, or when we must refute', () => {
    expect(compareDigest(digestOf([]), [row(LOCAL, 5, A)], LOCAL).newerHere).toEqual([LOCAL]);
    expect(compareDigest(digestOf([[LOCAL, 5, S]]), [row(LOCAL, 5, A)], LOCAL).newerHere).toEqual([LOCAL]);
    expect(compareDigest(digestOf([[LOCAL, 5, A]]), [row(LOCAL, 5, A)], LOCAL).newerHere).toEqual([]);
  });

  it('does not refute about the local member outside the digest range', () => {
    const localHash = hostHash(LOCAL);
    const digest: DigestMessage = {
      ...digestOf([]),
      rangeLow: localHash + 1,
      entries: [{ hostHash: localHash + 1, incarnation: 9, state: F }],
    };
    const comparison = compareDigest(digest, [row(LOCAL, 5, A)], LOCAL);
    expect(comparison.refuteAbove).toBeUndefined();
    expect(comparison.newerHere).toEqual([]);
  });

  // newerHere is documented as "hosts whose record we hold newer than the digest sender": our own record
  // at incarnation 6 is newer than their copy at 4 (e.g. our refutation or metadata update was lost),
  // but compareDigest only offers the local record when they lack it or when it must refute.
  it('offers our own record when they hold an older incarnation of us', () => {
    for (const theirState of [A, S, F, L]) {
      const comparison = compareDigest(digestOf([[LOCAL, 4, theirState]]), [row(LOCAL, 6, A)], LOCAL);
      expect(comparison.refuteAbove).toBeUndefined();
      expect(comparison.newerHere).toEqual([LOCAL]);
    }
  });
});
