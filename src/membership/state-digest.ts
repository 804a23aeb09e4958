import {
  DIGEST_ENTRY_BYTES,
  DIGEST_STATE_ALIVE,
  DIGEST_STATE_FAILED,
  DIGEST_STATE_LEFT,
  DIGEST_STATE_SUSPECT,
  type DigestEntry,
  type DigestMessage,
  digestBytes,
} from './swim-wire.js';

/**
 * Anti-entropy by digest (pure functions; the swim adapter does the I/O). swim has no anti-entropy at
 * all: a change whose retransmissions were all lost is never repaired. memberlist repairs by pushing the
 * whole state over TCP; we exchange a digest (13 bytes per member: host hash, incarnation, state) and
 * then send each other only the records that differ, so a quiet cluster pays ~13 B per member per
 * exchange instead of ~120.
 */

export interface DigestRow {
  readonly host: string;
  readonly hostHash: number;
  readonly incarnation: number;
  readonly state: number;
}

/** FNV-1a, 32 bits, over the gossip address: stable across processes and versions. */
export function hostHash(host: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < host.length; index++) {
    hash ^= host.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const UINT32_MAX = 0xffffffff;

/**
 * Splits the rows (any order) into digest messages that each fit `maxPayloadBytes`, together covering
 * host hashes 0..2^32-1 without gaps, so "absent from a digest whose range covers it" means "not known".
 */
export function buildDigests(
  rows: readonly DigestRow[],
  sender: string,
  replyWanted: boolean,
  maxPayloadBytes: number,
): DigestMessage[] {
  const sorted = [...rows].sort((a, b) => a.hostHash - b.hostHash);
  const perMessage = Math.max(
    1,
    Math.floor((maxPayloadBytes - digestBytes(sender.length, 0)) / DIGEST_ENTRY_BYTES),
  );
  const messages: DigestMessage[] = [];
  let start = 0;
  let rangeLow = 0;
  do {
    let end = Math.min(sorted.length, start + perMessage);
    // Rows with equal hashes must not straddle two messages (ranges are inclusive on hashes).
    while (end < sorted.length && end > start && sorted[end]?.hostHash === sorted[end - 1]?.hostHash) end++;
    const last = end >= sorted.length;
    const rangeHigh = last ? UINT32_MAX : (sorted[end - 1]?.hostHash ?? UINT32_MAX);
    messages.push({
      sender,
      replyWanted,
      rangeLow,
      rangeHigh,
      entries: sorted.slice(start, end).map((row) => ({
        hostHash: row.hostHash,
        incarnation: row.incarnation,
        state: row.state,
      })),
    });
    start = end;
    rangeLow = rangeHigh + 1;
  } while (start < sorted.length && rangeLow <= UINT32_MAX);
  return messages;
}

/** Same incarnation: which state wins. Failed records are never pushed, so they rank only for refuting. */
function stateRank(state: number): number {
  if (state === DIGEST_STATE_ALIVE) return 0;
  if (state === DIGEST_STATE_SUSPECT) return 1;
  if (state === DIGEST_STATE_FAILED) return 2;
  return 3;
}

export interface DigestComparison {
  /** Hosts whose record we hold newer than the digest sender, or that it does not know: send them. */
  readonly newerHere: string[];
  /** Set when the digest says the local member is suspect, failed or left, or holds a newer record of
   * it: the local member must refute with an incarnation above this. */
  readonly refuteAbove: number | undefined;
}

/**
 * Compares a received digest with our rows. Failed rows of ours are never offered (a failure verdict is
 * each member's own; pushing it would spread stale deaths after a partition heals).
 */
export function compareDigest(
  digest: DigestMessage,
  ours: readonly DigestRow[],
  localHost: string,
): DigestComparison {
  const theirs = new Map<number, DigestEntry[]>();
  for (const entry of digest.entries) {
    const list = theirs.get(entry.hostHash);
    if (list === undefined) theirs.set(entry.hostHash, [entry]);
    else list.push(entry);
  }
  const newerHere: string[] = [];
  let refuteAbove: number | undefined;
  for (const row of ours) {
    if (row.hostHash < digest.rangeLow || row.hostHash > digest.rangeHigh) continue;
    const candidates = theirs.get(row.hostHash);
    // Hash collisions: compare with the entry closest to ours (the max incarnation), a rare miss only
    // delays a repair to the next exchange.
    let their: DigestEntry | undefined;
    for (const entry of candidates ?? []) {
      if (their === undefined || entry.incarnation > their.incarnation) their = entry;
    }
    if (row.host === localHost) {
      if (
        their !== undefined &&
        (their.incarnation > row.incarnation ||
          (their.incarnation === row.incarnation && their.state !== DIGEST_STATE_ALIVE))
      ) {
        refuteAbove = their.incarnation;
        newerHere.push(row.host);
      } else if (their === undefined || their.incarnation < row.incarnation) {
        // They do not know us, or hold an older record of us (a lost refutation or metadata update).
        newerHere.push(row.host);
      }
      continue;
    }
    if (row.state === DIGEST_STATE_FAILED) continue;
    if (
      their === undefined ||
      row.incarnation > their.incarnation ||
      (row.incarnation === their.incarnation && stateRank(row.state) > stateRank(their.state))
    ) {
      newerHere.push(row.host);
    }
  }
  return { newerHere, refuteAbove };
}

export { DIGEST_STATE_ALIVE, DIGEST_STATE_FAILED, DIGEST_STATE_LEFT, DIGEST_STATE_SUSPECT };
