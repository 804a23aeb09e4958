import { isIP } from 'node:net';
import { UsageError } from '../util/errors.js';
import { AntiEntropy } from './anti-entropy.js';
import { envelopeOverheadBytes } from './datagram-envelope.js';
import type { DatagramTransportFactory } from './datagram-transport.js';
import { EnvelopeTransport, type TransportCounters } from './envelope-transport.js';
import { formatHostPort, type HostPort, parseHostPort, resolveAdvertiseHost } from './gossip-address.js';
import type { GossipKeyring } from './gossip-keyring.js';
import { GossipPump } from './gossip-pump.js';
import { udpGossipTransport } from './gossip-transport.js';
import { EventLoopStallWatch, LocalHealth } from './local-health.js';
import type { MemberInfo, MemberMetadata } from './member.js';
import { newMemberId, toWireMetadata, type WireMetadata } from './member-metadata.js';
import { checkMemberName } from './member-name.js';
import { MemberTable } from './member-view.js';
import type { Membership, MembershipListener } from './membership.js';
import {
  type MembershipConfig,
  REAP_CHECK_INTERVAL_MS,
  STALL_VERDICT_PROBE_INTERVALS,
} from './membership-config.js';
import {
  highestAdmissibleIncarnation,
  judgeRecord,
  newRecordDropCounters,
  type RecordDropCounters,
} from './record-admission.js';
import { SwimEngine } from './swim-engine.js';
import {
  type DigestMessage,
  MalformedGossipError,
  parseSwimPayload,
  type SwimRecord,
  SwimState,
} from './swim-wire.js';
import { sleep, TimerGroup } from './timer-group.js';

export interface SwimMembershipOptions {
  /** Address the gossip socket binds (an IP literal; port 0 = any free port). */
  readonly bind: HostPort;
  /** Address other members reach us at (NAT, containers). Default: the bind address, or the first
   * non-loopback address of this host when binding a wildcard address. */
  readonly advertise?: HostPort;
  readonly metadata: Omit<MemberMetadata, 'id' | 'startedAtMs'>;
  readonly config: MembershipConfig;
  /** Authenticate every datagram (HMAC-SHA256); without it the cluster is open to anyone on the network. */
  readonly keyring?: GossipKeyring;
  /** The datagram transport gossip runs over, built for the bind address: UDP by default
   * (udpGossipTransport), or an in-memory network's endpoints for tests and simulation. Authentication
   * and replay protection wrap whatever it builds. */
  readonly transport?: DatagramTransportFactory;
}

/** Counters for `stats` and tests. */
export interface MembershipCounters {
  readonly transport: TransportCounters;
  /** Probes of ours that ended in a suspicion. */
  readonly suspicionsRaised: number;
  /** Times this member refuted a suspicion (or a failure verdict) about itself. */
  readonly refutations: number;
  /** Probe verdicts skipped because our own event loop had stalled. */
  readonly verdictsSkippedForStall: number;
  /** Ping-req messages refused because the destination is not a member. */
  readonly pingRequestsRefused: number;
  /** Digests sent to seeds: join attempts, and retries while no other member is alive. */
  readonly seedContacts: number;
  readonly localHealthScore: number;
  /** Well-formed records (and digest entries) dropped for what they claim, by reason
   * (record-admission.ts); the rest of their datagram still counted. */
  readonly recordsDropped: Readonly<RecordDropCounters>;
  /** Members told directly that a record received about them says they failed (so a live one refutes
   * at once: it gets no gossip while others hold it failed). */
  readonly accusedTold: number;
}

/**
 * Membership over datagram gossip, with swim 0.6 as the SWIM engine (probe rounds, suspicion,
 * incarnations, piggybacked dissemination; swim-engine.ts owns its internals) and these additions around
 * it, each measured against swim alone in shared/research/membership-swim-vs-serf.md:
 *  - our own transport: UDP by default (gossip-transport.ts binds only the address asked for), wrapped in
 *    authentication (HMAC with rotating keys) and replay protection (envelope-transport.ts);
 *  - every inbound datagram parsed and validated (swim-wire.ts) before swim sees it;
 *  - graceful leave, broadcast directly to every member and then gossiped: peers see `left` within a
 *    round trip instead of failure detection 8-16 s later;
 *  - a gossip timer (changes pushed to 3 random members every 200 ms, only while there are changes), so
 *    joins and verdicts spread in log(N) rounds instead of riding one probe per second;
 *  - anti-entropy by digest with a random member, periodic reconnect attempts to failed members and seeds,
 *    and joining retried with backoff until a seed answers (anti-entropy.ts); seeds may be DNS names;
 *  - incarnations start at the process start time in ms, so a restarted member outranks every record of
 *    its previous life and rejoins at once with its new metadata; a record with an incarnation its owner
 *    cannot have (more than a day ahead of our clock), an invalid name or network is dropped and counted
 *    (record-admission.ts), so no datagram can push a member where it cannot refute;
 *  - a member that receives a record saying another failed tells the accused directly, and a member
 *    that learns it is held suspect, failed or left always refutes (after a restart too), so one
 *    forged datagram cannot evict a live member: it is alive again everywhere within a round trip;
 *  - Lifeguard pieces: local health stretching probe timeouts, no verdicts during our own event-loop
 *    stalls, a suspicion timeout that scales with log(N) and is not restarted by later failed probes,
 *    suspects told about their suspicion with the probe (buddy system), relays that are not the target.
 */
export class SwimMembership implements Membership {
  private readonly config: MembershipConfig;
  private readonly transport: EnvelopeTransport;
  private engine: SwimEngine | undefined;
  private antiEntropy: AntiEntropy | undefined;
  private gossip: GossipPump | undefined;
  private readonly table = new MemberTable();
  private readonly timers = new TimerGroup();
  private readonly health: LocalHealth;
  private readonly stallWatch: EventLoopStallWatch;
  private localHost = '';
  private metadata: WireMetadata;
  private joined = false;
  private running = false;
  private leaving = false;
  private stopped = false;
  private suspicionsRaised = 0;
  private refutations = 0;
  private verdictsSkippedForStall = 0;
  private pingRequestsRefused = 0;
  private accusedTold = 0;
  private readonly recordsDropped = newRecordDropCounters();
  private readonly send = (payload: Buffer, to: string): void => this.transport.send(payload, to);

  constructor(private readonly options: SwimMembershipOptions) {
    checkMemberName(options.metadata.name, 'membership: the name');
    this.config = options.config;
    this.metadata = toWireMetadata({
      ...options.metadata,
      id: newMemberId(),
      startedAtMs: Date.now(),
    });
    this.health = new LocalHealth(this.config.localHealthMax);
    this.stallWatch = new EventLoopStallWatch(this.config.eventLoopStallMs, () => {
      this.health.stalled();
      this.applyHealth();
    });
    this.transport = new EnvelopeTransport((options.transport ?? udpGossipTransport)(options.bind), {
      keyring: options.keyring,
      replayWindowMs: this.config.replayWindowMs,
    });
  }

  async start(seeds: readonly string[]): Promise<void> {
    if (this.running || this.stopped) throw new UsageError('membership: start() may be called once');
    const seedAddresses = seeds.map((seed) => parseHostPort(seed, '--seeds'));
    const { port: boundPort } = await this.transport.start((payload, from) => this.receive(payload, from));
    const advertise = this.options.advertise ?? { host: this.options.bind.host, port: boundPort };
    const advertiseHost = await resolveAdvertiseHost(advertise.host, this.family());
    this.localHost = formatHostPort(advertiseHost, advertise.port === 0 ? boundPort : advertise.port);
    const engine = new SwimEngine({
      local: {
        host: this.localHost,
        state: SwimState.Alive,
        meta: this.metadata,
        incarnation: this.metadata.s,
      },
      config: this.config,
      family: this.family(),
      maxPayloadBytes: this.config.maxDatagramBytes - envelopeOverheadBytes(this.options.keyring),
      send: this.send,
      hooks: {
        onUpdate: (host) => this.onEngineUpdate(host),
        onProbeAnswered: () => {
          this.health.probeSucceeded();
          this.applyHealth();
        },
        onProbeUnanswered: (host, lateMs) => this.onProbeUnanswered(host, lateMs),
      },
    });
    this.engine = engine;
    this.antiEntropy = new AntiEntropy({
      engine,
      config: this.config,
      localHost: this.localHost,
      family: this.family(),
      seeds: seedAddresses,
      timers: this.timers,
      send: this.send,
      refute: (above) => this.refute(above, undefined),
      isRunning: () => this.running,
      hasJoined: () => this.joined,
    });
    this.gossip = new GossipPump(engine, this.config, this.timers, this.send);
    this.running = true;
    await engine.start();
    this.table.observe(engine.localRecord(), true);
    this.stallWatch.start();
    this.gossip.start();
    this.antiEntropy.start();
    this.timers.every(REAP_CHECK_INTERVAL_MS, () => this.reap());
    const others = seedAddresses.filter((seed) => formatHostPort(seed.host, seed.port) !== this.localHost);
    if (others.length === 0) this.joined = true;
    else void this.antiEntropy.join(others);
  }

  async leave(): Promise<void> {
    const engine = this.engine;
    if (!this.running || engine === undefined) return;
    const leaveRecord: SwimRecord = {
      host: this.localHost,
      state: SwimState.Faulty,
      incarnation: engine.localIncarnation + 1,
      meta: { ...this.metadata, l: Date.now() },
    };
    // From here on our own leave record, gossiped back to us, must not be refuted as an accusation.
    this.leaving = true;
    engine.setLocal(leaveRecord.incarnation);
    for (let round = 0; round < this.config.leaveRepeats; round++) {
      if (round > 0) await sleep(this.config.leaveRepeatIntervalMs);
      for (const host of engine.memberHosts()) engine.sendRecords([leaveRecord], host);
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    this.timers.stop();
    this.stallWatch.stop();
    this.engine?.stop();
    this.transport.close();
  }

  members(): MemberInfo[] {
    return this.table.members();
  }

  self(): MemberInfo {
    const info = this.table.get(this.localHost);
    if (info === undefined) throw new UsageError('membership: not started');
    return info;
  }

  /** The gossip address other members reach this one at. */
  get address(): string {
    return this.localHost;
  }

  /** True once a seed answered (or when there were no seeds). */
  get hasJoined(): boolean {
    return this.joined;
  }

  updateMetadata(change: Partial<Omit<MemberMetadata, 'id' | 'startedAtMs'>>): void {
    if (change.name !== undefined) checkMemberName(change.name, 'membership: the name');
    const next = toWireMetadata({
      id: this.metadata.i,
      startedAtMs: this.metadata.s,
      name: change.name ?? this.metadata.n,
      grpc: change.grpc ?? this.metadata.g,
      version: change.version ?? this.metadata.v,
      captureInterface: change.captureInterface ?? this.metadata.c,
      captureFilter: change.captureFilter ?? this.metadata.f,
      networks: change.networks ?? this.metadata.a ?? [],
    });
    this.metadata = next;
    this.engine?.updateMeta(next);
  }

  onEvent(listener: MembershipListener): () => void {
    return this.table.onEvent(listener);
  }

  counters(): MembershipCounters {
    return {
      transport: this.transport.counters,
      suspicionsRaised: this.suspicionsRaised,
      refutations: this.refutations,
      verdictsSkippedForStall: this.verdictsSkippedForStall,
      pingRequestsRefused: this.pingRequestsRefused,
      seedContacts: this.antiEntropy?.seedContacts ?? 0,
      localHealthScore: this.health.score,
      recordsDropped: { ...this.recordsDropped },
      accusedTold: this.accusedTold,
    };
  }

  private family(): 4 | 6 {
    return isIP(this.options.bind.host) === 6 ? 6 : 4;
  }

  // ---- failure detection: verdicts and local health ------------------------------------------------------

  private applyHealth(): void {
    this.engine?.stretchProbeTimeouts(this.health.multiplier);
  }

  private onProbeUnanswered(host: string, lateMs: number): void {
    const engine = this.engine;
    if (engine === undefined || !this.running) return;
    // Our own process did not run for a while: the ack may be sitting unread. No verdict this round;
    // the member is probed again in a later round.
    const stallWindowMs = this.config.probeIntervalMs * STALL_VERDICT_PROBE_INTERVALS;
    if (this.stallWatch.stallWithinOrLate(stallWindowMs, lateMs)) {
      this.verdictsSkippedForStall++;
      return;
    }
    if (!engine.isMember(host)) return;
    this.health.probeFailed();
    this.applyHealth();
    if (engine.suspect(host)) this.suspicionsRaised++;
  }

  // ---- inbound ---------------------------------------------------------------------------------------------

  private receive(payload: Buffer, from: string): void {
    const engine = this.engine;
    if (engine === undefined || !this.running) return;
    let messages: ReturnType<typeof parseSwimPayload>;
    try {
      messages = parseSwimPayload(payload);
    } catch (error) {
      if (error instanceof MalformedGossipError) {
        this.transport.countMalformed();
        return;
      }
      throw error;
    }
    for (const message of messages) {
      switch (message.kind) {
        case 'ping':
          engine.deliverPing(message.seq, from);
          break;
        case 'ack':
          engine.deliverAck(message.seq, from);
          break;
        case 'ping-req':
          if (!engine.deliverPingReq(message.seq, message.destination, from)) this.pingRequestsRefused++;
          break;
        case 'sync':
        case 'update':
          this.receiveRecord(message.record, from);
          break;
        case 'digest':
          this.antiEntropy?.receive(this.admitDigest(message.digest));
          break;
      }
    }
  }

  private receiveRecord(record: SwimRecord, from: string): void {
    const engine = this.engine;
    if (engine === undefined) return;
    const aboutSelf = record.host === this.localHost;
    const dropReason = judgeRecord(record, Date.now(), aboutSelf);
    if (dropReason !== undefined) {
      this.recordsDropped[dropReason]++;
      return;
    }
    if (aboutSelf) {
      const incarnation = engine.localIncarnation;
      const accused =
        record.state !== SwimState.Alive
          ? record.incarnation >= incarnation
          : record.incarnation > incarnation;
      if (accused) this.refute(record.incarnation, from);
      return;
    }
    if (!this.joined) this.joined = true;
    const wasMember = engine.isMember(record.host);
    engine.applyRecord(record);
    // Held failed, the accused gets no more gossip or probes from us: tell it now, so a live one refutes
    // within a round trip (memberlist gossips to the dead for the same reason). Only on the change, so
    // at most one datagram per member and verdict; never when the record came from the member itself.
    if (wasMember && !engine.isMember(record.host) && from !== record.host) {
      this.accusedTold++;
      engine.sendRecords([record], record.host);
    }
  }

  /** A digest without the entries whose incarnation nobody can have yet (counted): such an entry about
   * us would make us refute past the bound, and about others it would only hide a repair. */
  private admitDigest(digest: DigestMessage): DigestMessage {
    const highest = highestAdmissibleIncarnation(Date.now(), false);
    const entries = digest.entries.filter((entry) => entry.incarnation <= highest);
    if (entries.length === digest.entries.length) return digest;
    this.recordsDropped['impossible-incarnation'] += digest.entries.length - entries.length;
    return { ...digest, entries };
  }

  /** Someone holds a suspect/failed/newer record of us: raise our incarnation above it and say so, to
   * the accuser directly (it may be across a healed partition, out of reach of our gossip) and to all. */
  private refute(aboveIncarnation: number, accuser: string | undefined): void {
    const engine = this.engine;
    if (engine === undefined || this.leaving) return;
    engine.setLocal(Math.max(engine.localIncarnation, aboveIncarnation) + 1, this.metadata);
    this.refutations++;
    this.health.refutedSuspicion();
    this.applyHealth();
    engine.announceLocal();
    if (accuser !== undefined) engine.sendRecords([engine.localRecord()], accuser);
  }

  /** swim changed a record: update the view (and tell listeners), and gossip the change soon. */
  private onEngineUpdate(host: string): void {
    const record = this.engine?.record(host);
    if (this.running) this.gossip?.soon();
    if (record !== undefined) this.table.observe(record, host === this.localHost);
  }

  /** Forget failed and left members after reapAfterMs (swim keeps them forever). */
  private reap(): void {
    for (const host of this.table.reap(Date.now(), this.config.reapAfterMs)) this.engine?.forget(host);
  }
}
