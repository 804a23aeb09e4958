import { parseAddress } from '../util/ip-address.js';
import { isValidMemberName } from './member-name.js';
import { ACCUSATION_HEADROOM_MS, MAX_INCARNATION_AHEAD_MS } from './membership-config.js';
import { type SwimRecord, SwimState } from './swim-wire.js';

/**
 * Which well-formed records a member takes in. swim-wire.ts already dropped every datagram that is not
 * well formed (types, lengths, safe integers); this judges each record on what it claims, and a record
 * that fails is dropped on its own and counted by reason, while the other messages of its datagram
 * (pings, acks, other records) still count: a record poisoned elsewhere must not make its innocent
 * carriers look dead.
 */
export type RecordDropReason =
  /** Incarnation beyond what its owner can have by the receiver's clock (membership-config.ts:
   * MAX_INCARNATION_AHEAD_MS, ACCUSATION_HEADROOM_MS), or below the owner's own start time. */
  | 'impossible-incarnation'
  /** The member name breaks the rule (member-name.ts). */
  | 'invalid-name'
  /** A network is not an IP address with an optional prefix length (cluster queries compile them). */
  | 'invalid-network';

export type RecordDropCounters = Record<RecordDropReason, number>;

export function newRecordDropCounters(): RecordDropCounters {
  return { 'impossible-incarnation': 0, 'invalid-name': 0, 'invalid-network': 0 };
}

/**
 * The highest incarnation a record may carry at `nowMs` (the receiver's clock). Accusations of another
 * member get ACCUSATION_HEADROOM_MS less, so the accused's refutation fits under everyone's bound; a
 * record about ourselves (an accusation to refute, or a newer record of us) gets the full bound.
 */
export function highestAdmissibleIncarnation(nowMs: number, accusation: boolean): number {
  return nowMs + MAX_INCARNATION_AHEAD_MS - (accusation ? ACCUSATION_HEADROOM_MS : 0);
}

/** Undefined when the record may be applied; else why it is dropped. */
export function judgeRecord(
  record: SwimRecord,
  nowMs: number,
  aboutSelf: boolean,
): RecordDropReason | undefined {
  const accusation = record.state !== SwimState.Alive && !aboutSelf;
  if (record.incarnation > highestAdmissibleIncarnation(nowMs, accusation)) return 'impossible-incarnation';
  // Incarnations start at the start time and only grow.
  if (record.incarnation < record.meta.s) return 'impossible-incarnation';
  if (!isValidMemberName(record.meta.n)) return 'invalid-name';
  if (record.meta.a !== undefined && !record.meta.a.every(isNetworkText)) return 'invalid-network';
  return undefined;
}

/** `10.0.0.0/8`, `2001:db8::/32` or a bare address, as cluster queries' filters accept them. */
export function isNetworkText(text: string): boolean {
  const slash = text.indexOf('/');
  const parsed = parseAddress(slash === -1 ? text : text.slice(0, slash));
  if (parsed === null) return false;
  if (slash === -1) return true;
  const prefix = text.slice(slash + 1);
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (parsed.version === 4 ? 32 : 128);
}
