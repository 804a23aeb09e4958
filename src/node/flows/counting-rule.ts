import { KEY_DST, KEY_META, KEY_SRC } from './flow-facts.js';
import type { LocalNetworks } from './local-networks.js';

/**
 * The cluster's counting rule: a packet between two capturing mesh members counts once cluster-wide, at
 * its sender. With d = the flow's direction on this node (bit 1: source local, bit 2: destination local;
 * 0 for every flow when the node knows no local addresses) and "member" = an address in the networks of
 * another capturing member answering the same query:
 * - d has bit 1 (sent, or both ends local): counted.
 * - d = 2 (received): counted unless a member holds the source (that member counts it as sent).
 * - d = 0 (transit): skipped when a member holds either end (that member counts it); otherwise not
 *   counted here but listed as transit, because several nodes may see the same transit flow and the
 *   coordinator merges those observations by max, not by sum.
 */

export const VERDICT_COUNT = 0;
export const VERDICT_SKIP = 1;
export const VERDICT_TRANSIT = 2;
export type CountingVerdict = typeof VERDICT_COUNT | typeof VERDICT_SKIP | typeof VERDICT_TRANSIT;

/** Direction bits of a flow on this node (flow-table.ts direction()). */
export const DIRECTION_SOURCE_LOCAL = 1;
export const DIRECTION_DESTINATION_LOCAL = 2;

/**
 * The rule itself, as a pure function of the flow's direction and whether another member holds its
 * source or its destination.
 */
export function countingRule(
  direction: number,
  sourceIsMember: boolean,
  destinationIsMember: boolean,
): CountingVerdict {
  if ((direction & DIRECTION_SOURCE_LOCAL) !== 0) return VERDICT_COUNT;
  if (direction === DIRECTION_DESTINATION_LOCAL) return sourceIsMember ? VERDICT_SKIP : VERDICT_COUNT;
  return sourceIsMember || destinationIsMember ? VERDICT_SKIP : VERDICT_TRANSIT;
}

/**
 * countingRule for the flow whose key is at records[k...] (flow-facts.ts layout), looking up only the
 * addresses the verdict depends on (none for a sent flow, the source for a received one). `scratch`
 * (4 words) is where addresses are copied for LocalNetworks.contains, which reads from index 0.
 * Allocates nothing.
 */
export function countingVerdict(
  direction: number,
  members: LocalNetworks | null,
  records: Int32Array,
  k: number,
  scratch: Uint32Array,
): CountingVerdict {
  if ((direction & DIRECTION_SOURCE_LOCAL) !== 0 || members === null) {
    return countingRule(direction, false, false);
  }
  const version = records[k + KEY_META] >>> 8;
  const sourceIsMember = inNetworks(members, records, k + KEY_SRC, version, scratch);
  const destinationIsMember =
    direction === 0 && !sourceIsMember && inNetworks(members, records, k + KEY_DST, version, scratch);
  return countingRule(direction, sourceIsMember, destinationIsMember);
}

function inNetworks(
  networks: LocalNetworks,
  records: Int32Array,
  at: number,
  version: number,
  scratch: Uint32Array,
): boolean {
  scratch[0] = records[at];
  scratch[1] = records[at + 1];
  scratch[2] = records[at + 2];
  scratch[3] = records[at + 3];
  return networks.contains(version, scratch);
}
