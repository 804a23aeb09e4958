import type { WireMetadata } from './member-metadata.js';
import { type MembershipConfig, retransmitLimit, suspicionTimeoutMs } from './membership-config.js';
import { pickRandom } from './random-pick.js';
import {
  createSwim,
  type SwimInstance,
  type SwimMemberObject,
  type SwimQueuedUpdate,
} from './swim-internals.js';
import { COMPOUND_HEADER_BYTES, MessageType, type SwimRecord, SwimState } from './swim-wire.js';

/** swim miscounts a compound message's size by one byte (net.js:265): it may pack one byte too many. */
const SWIM_SIZE_MISCOUNT_BYTES = 1;

/** What the engine tells the adapter (swim-membership.ts). */
export interface SwimEngineHooks {
  /** swim changed the record of `host` (the local member's included): new member, new state, refuted
   * suspicion, new metadata. The change is queued for dissemination. */
  onUpdate(host: string): void;
  /** An ack arrived for a ping of ours (a probe or a relayed one). */
  onProbeAnswered(): void;
  /** Neither the direct probe, its relays nor the second direct ping were answered. `lateMs`: how much
   * later than its timeout this verdict ran (our own event loop's delay). */
  onProbeUnanswered(host: string, lateMs: number): void;
}

export interface SwimEngineOptions {
  readonly local: SwimRecord;
  readonly config: MembershipConfig;
  readonly family: 4 | 6;
  /** Largest payload the transport carries in one datagram (its envelope already taken off). */
  readonly maxPayloadBytes: number;
  /** swim's socket, replaced: every datagram swim sends goes here. */
  readonly send: (payload: Buffer, to: string) => void;
  readonly hooks: SwimEngineHooks;
}

/** A look at one of swim's member records without copying it; valid until swim replaces it. */
export interface SwimRecordView {
  readonly host: string;
  readonly state: SwimRecord['state'];
  readonly incarnation: number;
  readonly meta: WireMetadata;
}

/**
 * swim 0.6 as the SWIM engine (probe rounds, suspicion, incarnations, piggybacked dissemination), driven
 * through its internals: this class and swim-internals.ts (the declared shape) are the only code that
 * touches them. What it changes in swim, and why:
 *  - the socket: swim never binds one; every datagram goes through `send` (our transport), and inbound
 *    messages, validated elsewhere (swim-wire.ts), are handed in by `deliver*` and `applyRecord`;
 *  - retransmissions per change: retransmitLimit (memberlist's formula), not swim's;
 *  - each queued change is encoded once, not once per datagram it could ride on (swim re-encodes every
 *    queued change for every ping and ack: at 200 members most of the CPU went there);
 *  - indirect probes: relays are never the target (swim picks from all members), a second direct ping
 *    goes with them, and with no relays the member is still suspected (swim then never suspects);
 *  - the verdict of an unanswered probe goes to the adapter (stall check, local health) and a suspicion
 *    timer, once started, is not restarted by later failed probes (swim restarts it every time, so with
 *    few members a dead one could stay suspect forever);
 *  - a suspect is told about its suspicion with the probe itself (Lifeguard's buddy system);
 *  - the suspicion timeout follows the member count (suspicionTimeoutMs).
 */
export class SwimEngine {
  private readonly swim: SwimInstance;
  private readonly verdictTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: SwimEngineOptions) {
    const { config, local } = options;
    this.swim = createSwim({
      local: { host: local.host, meta: local.meta, incarnation: local.incarnation },
      codec: 'msgpack',
      disseminationFactor: config.retransmitMult,
      interval: config.probeIntervalMs,
      pingTimeout: config.probeTimeoutMs,
      pingReqTimeout: config.indirectProbeTimeoutMs,
      pingReqGroupSize: config.indirectChecks,
      suspectTimeout: suspicionTimeoutMs(config, 1),
      // swim otherwise adopts the metadata of an older incarnation (a restart loses its new metadata).
      preferCurrentMeta: true,
      udp: {
        type: options.family === 6 ? 'udp6' : 'udp4',
        maxDgramSize: options.maxPayloadBytes - SWIM_SIZE_MISCOUNT_BYTES,
      },
    });
    this.patch();
  }

  /** Starts probing; the socket is ours, so nothing is bound. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.swim.bootstrap([], (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Stops every timer of swim's and ours. */
  stop(): void {
    for (const timer of this.verdictTimers) clearTimeout(timer);
    this.verdictTimers.clear();
    for (const timeout of Object.values(this.swim.membership.hostToSuspectTimeout)) clearTimeout(timeout);
    this.swim.leave();
  }

  /** Largest payload swim packs into one datagram. */
  get maxPayloadBytes(): number {
    return this.swim.net.udp.maxDgramSize;
  }

  // ---- records -------------------------------------------------------------------------------------

  localRecord(): SwimRecord {
    return this.swim.membership.local.data();
  }

  get localIncarnation(): number {
    return this.swim.membership.local.incarnation;
  }

  /** Sets our own incarnation (and metadata); call announceLocal() to gossip it. */
  setLocal(incarnation: number, meta?: WireMetadata): void {
    const local = this.swim.membership.local;
    local.incarnation = incarnation;
    if (meta !== undefined) local.meta = meta;
  }

  /** Queues our own record for dissemination (as swim does for its own changes). */
  announceLocal(): void {
    this.swim.membership.emit('update', this.localRecord());
  }

  /** New metadata: swim bumps the incarnation and queues the record. */
  updateMeta(meta: WireMetadata): void {
    this.swim.updateMeta(meta);
  }

  /** A copy of the record held for `host` (alive, suspect or faulty; our own too). */
  record(host: string): SwimRecord | undefined {
    const membership = this.swim.membership;
    if (host === membership.local.host) return membership.local.data();
    return (membership.hostToMember[host] ?? membership.hostToFaulty[host])?.data();
  }

  /** Alive or suspect. */
  isMember(host: string): boolean {
    return this.swim.membership.hostToMember[host] !== undefined;
  }

  /** Members known alive or suspect, ourselves included (swim's size). */
  memberCount(): number {
    return this.swim.membership.size(true);
  }

  /** Hosts of alive and suspect members (not our own). */
  memberHosts(): string[] {
    return Object.keys(this.swim.membership.hostToMember);
  }

  aliveHosts(): string[] {
    return Object.values(this.swim.membership.hostToMember)
      .filter((member) => member.state === SwimState.Alive)
      .map((member) => member.host);
  }

  /** Every record held, uncopied: ours, the alive and suspect members, the faulty ones. */
  records(): { local: SwimRecordView; members: SwimRecordView[]; faulty: SwimRecordView[] } {
    const membership = this.swim.membership;
    return {
      local: view(membership.local),
      members: Object.values(membership.hostToMember).map(view),
      faulty: Object.values(membership.hostToFaulty).map(view),
    };
  }

  /** Drops a faulty record (reaped): swim keeps them forever. */
  forget(host: string): void {
    delete this.swim.membership.hostToFaulty[host];
  }

  // ---- inbound (validated by swim-wire.ts) --------------------------------------------------------

  deliverPing(seq: number, from: string): void {
    this.swim.net.emit('ping', { seq }, from);
  }

  deliverAck(seq: number, from: string): void {
    this.swim.net.emit('ack', { seq }, from);
  }

  /** Relays a probe for `from`; false (nothing sent) when the destination is not a member, so nobody can
   * make us send datagrams to any address. */
  deliverPingReq(seq: number, destination: string, from: string): boolean {
    if (!this.isMember(destination)) return false;
    this.swim.net.emit('pingreq', { seq, destination }, from);
    return true;
  }

  /** A record about another member, as swim merges it (incarnation and state precedence). */
  applyRecord(record: SwimRecord): void {
    this.swim.membership.onUpdate(record);
  }

  // ---- outbound ---------------------------------------------------------------------------------------

  /** Sends records as updates, packed into as few datagrams as fit. */
  sendRecords(records: readonly SwimRecord[], to: string): void {
    this.swim.net.sendMessages(
      records.map((data) => ({ type: MessageType.Update, data })),
      to,
    );
  }

  /** The next datagram of queued changes (each send counts against the change's limit), if any. */
  nextGossip(): Buffer | undefined {
    const updates = this.swim.disseminator.getUpdatesUpTo(this.maxPayloadBytes - COMPOUND_HEADER_BYTES);
    return updates.length === 0 ? undefined : this.swim.net.makeCompoundMessage(updates);
  }

  // ---- failure detection ----------------------------------------------------------------------------

  /** Lifeguard: probe timeouts stretched by the local health multiplier. */
  stretchProbeTimeouts(multiplier: number): void {
    const detector = this.swim.failureDetector;
    detector.pingTimeout = this.options.config.probeTimeoutMs * multiplier;
    detector.pingReqTimeout = this.options.config.indirectProbeTimeoutMs * multiplier;
  }

  /** Suspects a member whose probe went unanswered; false when it is no member or its suspicion timer
   * already runs (the first timer stands). */
  suspect(host: string): boolean {
    const membership = this.swim.membership;
    const current = membership.hostToMember[host];
    if (current === undefined || membership.hostToSuspectTimeout[host] !== undefined) return false;
    membership.suspectTimeout = suspicionTimeoutMs(this.options.config, membership.size(true));
    membership.onSuspect(current);
    return true;
  }

  // ---- the changes to swim ------------------------------------------------------------------------------

  private patch(): void {
    const { net, membership, failureDetector, disseminator } = this.swim;
    const { config, hooks } = this.options;
    net.listen = (callback) => callback();
    net.close = () => {};
    net.sendBuffer = (buffer, host) => this.options.send(buffer, host);
    this.swim.on('error', () => {});

    disseminator.disseminationFormula = (_factor, size) => retransmitLimit(config, size);
    disseminator.updateDisseminationLimit();
    const serialize = disseminator.serializeUpdate.bind(disseminator);
    const encoded = new WeakMap<SwimQueuedUpdate, Buffer>();
    disseminator.serializeUpdate = (update) => {
      let buffer = encoded.get(update);
      if (buffer === undefined) {
        buffer = serialize(update);
        encoded.set(update, buffer);
      }
      return buffer;
    };

    failureDetector.pingReq = (member) => this.indirectProbe(member);
    const pingMember = failureDetector.pingMember.bind(failureDetector);
    failureDetector.pingMember = (member) => {
      if (member !== undefined && member.state === SwimState.Suspect) {
        net.sendMessages([{ type: MessageType.Update, data: member.data() }], member.host);
      }
      pingMember(member);
    };
    const onAck = failureDetector.onAck.bind(failureDetector);
    failureDetector.ackListener = (data) => {
      if (failureDetector.seqToTimeout[data.seq] !== undefined) hooks.onProbeAnswered();
      onAck(data);
    };

    membership.on('update', (data) => hooks.onUpdate(data.host));
    membership.on('change', () => {
      membership.suspectTimeout = suspicionTimeoutMs(config, membership.size(true));
    });
  }

  /** swim's pingReq, replaced: relays that are not the target, plus a second direct ping. */
  private indirectProbe(member: SwimMemberObject): void {
    const detector = this.swim.failureDetector;
    const relays = pickRandom(
      Object.values(this.swim.membership.hostToMember).filter(
        (candidate) => candidate.host !== member.host && candidate.state === SwimState.Alive,
      ),
      this.options.config.indirectChecks,
    );
    const timeoutMs = detector.pingReqTimeout;
    const startedMs = performance.now();
    let answered = false;
    const verdict = setTimeout(() => {
      this.verdictTimers.delete(verdict);
      if (!answered)
        this.options.hooks.onProbeUnanswered(member.host, performance.now() - startedMs - timeoutMs);
    }, timeoutMs);
    this.verdictTimers.add(verdict);
    const onAnswer = () => {
      answered = true;
      clearTimeout(verdict);
      this.verdictTimers.delete(verdict);
    };
    for (const relay of relays) detector.pingReqThroughMember(member, relay, onAnswer);
    // memberlist sends a TCP ping here; over UDP a retry does the same job. A lost ping or ack then no
    // longer makes a suspicion on its own.
    const seq = detector.seq;
    detector.seq += 1;
    detector.seqToTimeout[seq] = setTimeout(() => detector.clearSeq(seq), timeoutMs);
    detector.seqToCallback[seq] = () => {
      detector.clearSeq(seq);
      onAnswer();
    };
    this.swim.net.sendMessages([{ type: MessageType.Ping, data: { seq } }], member.host);
  }
}

function view(member: SwimMemberObject): SwimRecordView {
  return member as SwimRecordView;
}
