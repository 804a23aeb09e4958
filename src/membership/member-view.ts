import type { MemberInfo, MemberState, MembershipEvent, MembershipEventType } from './member.js';
import { fromWireMetadata, type WireMetadata } from './member-metadata.js';
import type { MembershipListener } from './membership.js';
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

/**
 * What this member knows of the cluster, as the rest of sniffmesh sees it: one MemberInfo per gossip
 * address, and an event to every listener for each change (transitionEvents). Fed with swim's records
 * by the adapter; holds failed and left members until they are reaped.
 */
export class MemberTable {
  private readonly rows = new Map<string, { info: MemberInfo; sinceMs: number }>();
  private readonly listeners = new Set<MembershipListener>();

  /** Takes in the current record of a member and tells the listeners what changed. */
  observe(record: SwimRecord, local: boolean): void {
    const after = memberInfoFromRecord(record, local);
    const before = this.rows.get(record.host);
    const events = transitionEvents(before?.info, after);
    if (before !== undefined && before.info.id === after.id && events.length === 0) {
      before.info = after;
      return;
    }
    if (before === undefined && events.length === 0 && !local) return;
    const nowMs = Date.now();
    this.rows.set(record.host, {
      info: after,
      sinceMs: before !== undefined && before.info.state === after.state ? before.sinceMs : nowMs,
    });
    for (const type of events) this.emit({ type, timeMs: nowMs, member: after });
  }

  members(): MemberInfo[] {
    return [...this.rows.values()].map((row) => row.info);
  }

  get(host: string): MemberInfo | undefined {
    return this.rows.get(host)?.info;
  }

  onEvent(listener: MembershipListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Removes the members failed or left for at least `afterMs` (never the local one); returns their
   * gossip addresses. */
  reap(nowMs: number, afterMs: number): string[] {
    const reaped: string[] = [];
    for (const [host, row] of this.rows) {
      const gone = row.info.state === 'failed' || row.info.state === 'left';
      if (!gone || row.info.local || nowMs - row.sinceMs < afterMs) continue;
      this.rows.delete(host);
      reaped.push(host);
    }
    return reaped;
  }

  private emit(event: MembershipEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's bug must not break gossip.
      }
    }
  }
}
