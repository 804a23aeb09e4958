import type { MemberInfo, MemberState, MembershipEventType } from './member.js';
import { fromWireMetadata, type WireMetadata } from './member-metadata.js';
import type { SwimRecord } from './swim-wire.js';

/** The MemberInfo for a swim record. A faulty record carrying a leave time is a graceful leave. */
export function memberInfoFromRecord(record: SwimRecord, local: boolean): MemberInfo {
  const meta = record.meta as WireMetadata;
  let state: MemberState;
  if (record.state === 0) state = 'alive';
  else if (record.state === 1) state = 'suspect';
  else state = meta.l !== undefined ? 'left' : 'failed';
  return {
    ...fromWireMetadata(meta),
    gossip: record.host,
    state,
    incarnation: record.incarnation,
    local,
  };
}

function sameMetadata(a: MemberInfo, b: MemberInfo): boolean {
  return (
    a.name === b.name &&
    a.grpc === b.grpc &&
    a.version === b.version &&
    a.captureInterface === b.captureInterface &&
    a.captureFilter === b.captureFilter &&
    a.networks.length === b.networks.length &&
    a.networks.every((network, i) => network === b.networks[i])
  );
}

/**
 * The events one change of a member's record means (before = undefined: never seen). A new id at a
 * known address is a restarted process: it is `joined`, whatever the old one's state was.
 */
export function transitionEvents(before: MemberInfo | undefined, after: MemberInfo): MembershipEventType[] {
  if (before === undefined || before.id !== after.id) {
    if (after.state === 'alive') return ['joined'];
    if (after.state === 'suspect') return ['joined', 'suspect'];
    // A failed or left record of a member never seen alive: nothing happened that users care about.
    return [];
  }
  const events: MembershipEventType[] = [];
  if (before.state !== after.state) {
    if (after.state === 'alive') events.push('recovered');
    else if (after.state === 'suspect') {
      // From failed or left straight to suspect: it came back (higher incarnation), then got suspected.
      if (before.state !== 'alive') events.push('recovered');
      events.push('suspect');
    } else if (after.state === 'failed') events.push('failed');
    else events.push('left');
  }
  if (!sameMetadata(before, after)) events.push('updated');
  return events;
}
