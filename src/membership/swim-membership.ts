import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { UsageError } from '../util/errors.js';
import { envelopeOverheadBytes } from './datagram-envelope.js';
import type { DatagramTransportFactory } from './datagram-transport.js';
import { EnvelopeTransport, type TransportCounters } from './envelope-transport.js';
import { formatHostPort, type HostPort, parseHostPort, resolveHost, resolveSeed } from './gossip-address.js';
import type { GossipKeyring } from './gossip-keyring.js';
import { udpGossipTransport } from './gossip-transport.js';
import { EventLoopStallWatch, LocalHealth } from './local-health.js';
import type { MemberInfo, MemberMetadata, MembershipEvent } from './member.js';
import { toWireMetadata, type WireMetadata } from './member-metadata.js';
import { memberInfoFromRecord, transitionEvents } from './member-view.js';
import type { Membership, MembershipListener } from './membership.js';
import {
  type MembershipConfig,
  pushPullIntervalFor,
  retransmitLimit,
  suspicionTimeoutMs,
} from './membership-config.js';
import { buildDigests, compareDigest, type DigestRow, hostHash } from './state-digest.js';
import { createSwim, type SwimInstance, type SwimMemberObject } from './swim-engine.js';
import {
  DIGEST_STATE_ALIVE,
  DIGEST_STATE_FAILED,
  DIGEST_STATE_LEFT,
  DIGEST_STATE_SUSPECT,
  type DigestMessage,
  encodeDigest,
  MalformedGossipError,
  MessageType,
  parseSwimPayload,
  type SwimRecord,
  SwimState,
} from './swim-wire.js';

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
  readonly localHealthScore: number;
}

/** How long the reap pass waits between runs. */
const REAP_CHECK_INTERVAL_MS = 10_000;

/**
 * Membership over UDP gossip, with swim 0.6 as the SWIM engine (probe rounds, suspicion, incarnations,
 * piggybacked dissemination) and these additions around it, each measured against swim alone in
 * shared/research/membership-swim-vs-serf.md:
 *  - our own socket (gossip-transport.ts): binds only the address asked for, authenticates (HMAC with
 *    rotating keys) and drops replays; swim's socket is never bound;
 *  - every inbound datagram parsed and validated (swim-wire.ts) before swim sees it;
 *  - graceful leave, broadcast directly to every member and then gossiped: peers see `left` within a
 *    round trip instead of failure detection 8-16 s later;
 *  - a gossip timer (changes pushed to 3 random members every 200 ms, only while there are changes), so
 *    joins and verdicts spread in log(N) rounds instead of riding one probe per second;
 *  - anti-entropy by digest with a random member, and periodic reconnect attempts to failed members and
 *    seeds, so missed updates are repaired and partitions heal;
 *  - joining retried with backoff until a seed answers; seeds may be DNS names;
 *  - incarnations start at the process start time in ms, so a restarted member outranks every record of
 *    its previous life and rejoins at once with its new metadata;
 *  - Lifeguard pieces: local health stretching probe timeouts, no verdicts during our own event-loop
 *    stalls, a suspicion timeout that scales with log(N) and is not restarted by later failed probes,
 *    suspects told about their suspicion with the probe (buddy system), relays that are not the target.
 */
export class SwimMembership implements Membership {
  private readonly config: MembershipConfig;
  private readonly transport: EnvelopeTransport;
  private swim: SwimInstance | undefined;
  private localHost = '';
  private metadata: WireMetadata;
  private readonly listeners = new Set<MembershipListener>();
  private readonly view = new Map<string, { info: MemberInfo; sinceMs: number }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly health: LocalHealth;
  private readonly stallWatch: EventLoopStallWatch;
  private seeds: HostPort[] = [];
  private joined = false;
  private running = false;
  private leaving = false;
  private eagerGossipPending = false;
  private lastEagerGossipMs = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private suspicionsRaised = 0;
  private refutations = 0;
  private verdictsSkippedForStall = 0;
  private pingRequestsRefused = 0;

  constructor(private readonly options: SwimMembershipOptions) {
    this.config = options.config;
    const startedAtMs = Date.now();
    this.metadata = toWireMetadata({
      ...options.metadata,
      id: randomBytes(8).toString('hex'),
      startedAtMs,
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
    this.seeds = seeds.map((seed) => parseHostPort(seed, '--seeds'));
    const { port: boundPort } = await this.transport.start((payload, from) => this.receive(payload, from));
    const advertise = this.options.advertise ?? { host: this.options.bind.host, port: boundPort };
    const advertiseHost = await resolveAdvertiseHost(advertise.host, this.socketFamily());
    this.localHost = formatHostPort(advertiseHost, advertise.port === 0 ? boundPort : advertise.port);
    this.swim = this.createEngine();
    this.running = true;
    await new Promise<void>((resolve, reject) => {
      this.swim?.bootstrap([], (error) => (error ? reject(error) : resolve()));
    });
    this.observe(this.swim.membership.local.data(), true);
    this.stallWatch.start();
    this.every(this.config.gossipIntervalMs, () => this.gossipRound());
    this.schedulePushPull();
    this.every(this.config.reconnectIntervalMs, () => this.reconnectRound());
    this.every(REAP_CHECK_INTERVAL_MS, () => this.reap());
    const others = this.seeds.filter((seed) => formatHostPort(seed.host, seed.port) !== this.localHost);
    if (others.length === 0) this.joined = true;
    else void this.joinLoop(others);
  }

  async leave(): Promise<void> {
    const swim = this.swim;
    if (!this.running || swim === undefined) return;
    const local = swim.membership.local;
    const leaveRecord: SwimRecord = {
      host: this.localHost,
      state: SwimState.Faulty,
      incarnation: local.incarnation + 1,
      meta: { ...this.metadata, l: Date.now() },
    };
    // From here on our own leave record, gossiped back to us, must not be refuted as an accusation.
    this.leaving = true;
    local.incarnation = leaveRecord.incarnation;
    for (let round = 0; round < this.config.leaveRepeats; round++) {
      if (round > 0) await sleep(this.config.leaveRepeatIntervalMs);
      for (const host of Object.keys(swim.membership.hostToMember)) {
        swim.net.sendMessages([{ type: MessageType.Update, data: leaveRecord }], host);
      }
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.length = 0;
    this.stallWatch.stop();
    if (this.swim !== undefined) {
      for (const timeout of Object.values(this.swim.membership.hostToSuspectTimeout)) clearTimeout(timeout);
      this.swim.leave();
    }
    this.transport.close();
  }

  members(): MemberInfo[] {
    return [...this.view.values()].map((entry) => entry.info);
  }

  self(): MemberInfo {
    const info = this.view.get(this.localHost)?.info;
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
    // swim bumps the incarnation and queues the record for dissemination.
    this.swim?.updateMeta(next);
  }

  onEvent(listener: MembershipListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  counters(): MembershipCounters {
    return {
      transport: this.transport.counters,
      suspicionsRaised: this.suspicionsRaised,
      refutations: this.refutations,
      verdictsSkippedForStall: this.verdictsSkippedForStall,
      pingRequestsRefused: this.pingRequestsRefused,
      localHealthScore: this.health.score,
    };
  }

  private socketFamily(): 4 | 6 {
    return isIP(this.options.bind.host) === 6 ? 6 : 4;
  }

  // ---- engine set-up -------------------------------------------------------------------------------

  private createEngine(): SwimInstance {
    const config = this.config;
    const swim = createSwim({
      local: { host: this.localHost, meta: this.metadata, incarnation: this.metadata.s },
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
        type: isIP(this.options.bind.host) === 6 ? 'udp6' : 'udp4',
        // swim packs up to this many payload bytes; the envelope comes on top. One byte of slack for
        // swim's compound size miscount (net.js:265).
        maxDgramSize: config.maxDatagramBytes - envelopeOverheadBytes(this.options.keyring) - 1,
      },
    });
    const { net, membership, failureDetector, disseminator } = swim;
    // Our transport owns the socket: swim's is never bound.
    net.listen = (callback) => callback();
    net.close = () => {};
    net.sendBuffer = (buffer, host) => this.transport.send(buffer, host);
    swim.on('error', () => {});

    disseminator.disseminationFormula = (_factor, size) => retransmitLimit(config, size);
    disseminator.updateDisseminationLimit();

    // Relays must not be the target (swim picks from all members, the target included), and probe
    // verdicts go through onProbeFailed (stall check, suspicion not restarted).
    failureDetector.pingReq = (member) => this.indirectProbe(member);
    const pingMember = failureDetector.pingMember.bind(failureDetector);
    failureDetector.pingMember = (member) => {
      // Buddy system: tell a suspect it is suspected with the probe itself, so it refutes at once.
      if (member !== undefined && member.state === SwimState.Suspect) {
        net.sendMessages([{ type: MessageType.Update, data: member.data() }], member.host);
      }
      pingMember(member);
    };
    const onAck = failureDetector.onAck.bind(failureDetector);
    failureDetector.ackListener = (data) => {
      if (failureDetector.seqToTimeout[data.seq] !== undefined) {
        this.health.probeSucceeded();
        this.applyHealth();
      }
      onAck(data);
    };

    membership.on('update', (data) => this.onSwimUpdate(data));
    membership.on('change', () => {
      membership.suspectTimeout = suspicionTimeoutMs(config, membership.size(true));
    });
    return swim;
  }

  private applyHealth(): void {
    const detector = this.swim?.failureDetector;
    if (detector === undefined) return;
    detector.pingTimeout = this.config.probeTimeoutMs * this.health.multiplier;
    detector.pingReqTimeout = this.config.indirectProbeTimeoutMs * this.health.multiplier;
  }

  // ---- probing ---------------------------------------------------------------------------------------

  private indirectProbe(member: SwimMemberObject): void {
    const swim = this.swim;
    if (swim === undefined) return;
    const detector = swim.failureDetector;
    const relays = pickRandom(
      Object.values(swim.membership.hostToMember).filter(
        (candidate) => candidate.host !== member.host && candidate.state === SwimState.Alive,
      ),
      this.config.indirectChecks,
    );
    const startedMs = performance.now();
    let answered = false;
    const verdict = setTimeout(() => {
      if (!answered) this.onProbeFailed(member, performance.now() - startedMs);
    }, detector.pingReqTimeout);
    const onAnswer = () => {
      answered = true;
      clearTimeout(verdict);
    };
    for (const relay of relays) detector.pingReqThroughMember(member, relay, onAnswer);
    // A second direct ping alongside the indirect ones: memberlist sends a TCP ping here; over UDP a
    // retry does the same job. A lost ping or ack then no longer makes a suspicion on its own.
    const seq = detector.seq;
    detector.seq += 1;
    detector.seqToTimeout[seq] = setTimeout(() => detector.clearSeq(seq), detector.pingReqTimeout);
    detector.seqToCallback[seq] = () => {
      detector.clearSeq(seq);
      onAnswer();
    };
    swim.net.sendMessages([{ type: MessageType.Ping, data: { seq } }], member.host);
  }

  private onProbeFailed(member: SwimMemberObject, elapsedMs: number): void {
    const swim = this.swim;
    if (swim === undefined || !this.running) return;
    const expectedMs = swim.failureDetector.pingReqTimeout;
    // Our own process did not run for a while: the ack may be sitting unread. No verdict this round;
    // the member is probed again in a later round.
    if (this.stallWatch.stallWithinOrLate(this.config.probeIntervalMs * 2, elapsedMs - expectedMs)) {
      this.verdictsSkippedForStall++;
      return;
    }
    const current = swim.membership.hostToMember[member.host];
    if (current === undefined) return;
    this.health.probeFailed();
    this.applyHealth();
    // swim restarts the suspicion timer on every failed probe, so with few members a dead one could stay
    // suspect forever; the first timer stands.
    if (swim.membership.hostToSuspectTimeout[member.host] !== undefined) return;
    this.suspicionsRaised++;
    swim.membership.suspectTimeout = suspicionTimeoutMs(this.config, swim.membership.size(true));
    swim.membership.onSuspect(current);
  }

  // ---- inbound -----------------------------------------------------------------------------------------

  private receive(payload: Buffer, from: string): void {
    const swim = this.swim;
    if (swim === undefined || !this.running) return;
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
          swim.net.emit('ping', { seq: message.seq }, from);
          break;
        case 'ack':
          swim.net.emit('ack', { seq: message.seq }, from);
          break;
        case 'ping-req':
          // Only probe members: otherwise anyone could make us send datagrams to any address.
          if (swim.membership.hostToMember[message.destination] === undefined) {
            this.pingRequestsRefused++;
            break;
          }
          swim.net.emit('pingreq', { seq: message.seq, destination: message.destination }, from);
          break;
        case 'sync':
        case 'update':
          this.receiveRecord(message.record, from);
          break;
        case 'digest':
          this.receiveDigest(message.digest);
          break;
      }
    }
  }

  private receiveRecord(record: SwimRecord, from: string): void {
    const swim = this.swim;
    if (swim === undefined) return;
    if (record.host === this.localHost) {
      const local = swim.membership.local;
      const accused =
        record.state !== SwimState.Alive
          ? record.incarnation >= local.incarnation
          : record.incarnation > local.incarnation;
      if (accused) this.refute(record.incarnation, from);
      return;
    }
    if (!this.joined) this.joined = true;
    swim.membership.onUpdate(record);
  }

  /** Someone holds a suspect/failed/newer record of us: raise our incarnation above it and say so, to
   * the accuser directly (it may be across a healed partition, out of reach of our gossip) and to all. */
  private refute(aboveIncarnation: number, accuser: string | undefined): void {
    const swim = this.swim;
    if (swim === undefined || this.leaving) return;
    const local = swim.membership.local;
    local.incarnation = Math.max(local.incarnation, aboveIncarnation) + 1;
    local.meta = this.metadata;
    this.refutations++;
    this.health.refutedSuspicion();
    this.applyHealth();
    swim.membership.emit('update', local.data());
    if (accuser !== undefined) {
      swim.net.sendMessages([{ type: MessageType.Update, data: local.data() }], accuser);
    }
  }

  // ---- view and events ---------------------------------------------------------------------------

  private onSwimUpdate(data: SwimRecord): void {
    const swim = this.swim;
    if (swim === undefined) return;
    this.scheduleEagerGossip();
    if (data.host === this.localHost) {
      this.observe(swim.membership.local.data(), true);
      return;
    }
    const record = swim.membership.hostToMember[data.host] ?? swim.membership.hostToFaulty[data.host];
    if (record !== undefined) this.observe(record.data(), false);
  }

  private observe(record: SwimRecord, local: boolean): void {
    const after = memberInfoFromRecord(record, local);
    const before = this.view.get(record.host);
    const events = transitionEvents(before?.info, after);
    if (before !== undefined && before.info.id === after.id && events.length === 0) {
      before.info = after;
      return;
    }
    if (before === undefined && events.length === 0 && !local) return;
    const nowMs = Date.now();
    this.view.set(record.host, {
      info: after,
      sinceMs: before !== undefined && before.info.state === after.state ? before.sinceMs : nowMs,
    });
    for (const type of events) this.emit({ type, timeMs: nowMs, member: after });
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

  // ---- timers: gossip, anti-entropy, reconnect, join, reap ------------------------------------------------

  private every(intervalMs: number, task: () => void): void {
    const timer = setInterval(() => {
      if (this.running) task();
    }, intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  /** Something new was queued: gossip it soon rather than at the next tick (eagerGossipSpacingMs). */
  private scheduleEagerGossip(): void {
    if (this.eagerGossipPending || !this.running) return;
    this.eagerGossipPending = true;
    const waitMs = Math.max(
      0,
      this.config.eagerGossipSpacingMs - (performance.now() - this.lastEagerGossipMs),
    );
    const timer = setTimeout(() => {
      this.eagerGossipPending = false;
      this.lastEagerGossipMs = performance.now();
      if (this.running) this.gossipRound();
    }, waitMs);
    timer.unref();
  }

  /** Push queued changes to a few random members; nothing is sent when nothing changed. */
  private gossipRound(): void {
    const swim = this.swim;
    if (swim === undefined) return;
    if (Object.keys(swim.disseminator.hostToAttempts).length === 0) return;
    const targets = pickRandom(Object.keys(swim.membership.hostToMember), this.config.gossipNodes);
    const budget = swim.net.udp.maxDgramSize - 3;
    for (const target of targets) {
      const updates = swim.disseminator.getUpdatesUpTo(budget);
      if (updates.length === 0) break;
      this.transport.send(swim.net.makeCompoundMessage(updates), target);
    }
  }

  private schedulePushPull(): void {
    const swim = this.swim;
    const interval = pushPullIntervalFor(this.config, swim ? swim.membership.size(true) : 1);
    // Jitter so members do not exchange in lock step.
    const timer = setTimeout(
      () => {
        if (!this.running) return;
        const target = pickRandom(aliveHosts(this.swim), 1)[0];
        if (target !== undefined) this.sendDigest(target, true);
        this.schedulePushPull();
      },
      interval * (0.5 + Math.random()),
    );
    timer.unref();
    this.timers.push(timer);
  }

  /** Try one failed member (a healed partition or a restarted node answers); while alone, the seeds. */
  private reconnectRound(): void {
    const swim = this.swim;
    if (swim === undefined) return;
    const failed = Object.values(swim.membership.hostToFaulty)
      .filter((member) => (member.meta as WireMetadata).l === undefined)
      .map((member) => member.host);
    const target = pickRandom(failed, 1)[0];
    if (target !== undefined) this.sendDigest(target, true);
    if (Object.keys(swim.membership.hostToMember).length === 0 && this.joined)
      void this.contactSeeds(this.seeds);
  }

  private async joinLoop(seeds: HostPort[]): Promise<void> {
    let delayMs = this.config.joinRetryInitialMs;
    while (this.running && !this.joined) {
      await this.contactSeeds(seeds);
      await sleep(delayMs);
      delayMs = Math.min(this.config.joinRetryMaxMs, delayMs * 2);
    }
  }

  private async contactSeeds(seeds: readonly HostPort[]): Promise<void> {
    for (const seed of seeds) {
      let address: string;
      try {
        address = await resolveSeed(seed, this.socketFamily());
      } catch {
        continue; // DNS not (yet) resolvable: retried on the next round.
      }
      if (address !== this.localHost && this.running) this.sendDigest(address, true);
    }
  }

  private digestRows(): DigestRow[] {
    const swim = this.swim;
    if (swim === undefined) return [];
    const rows: DigestRow[] = [];
    const local = swim.membership.local;
    rows.push({
      host: local.host,
      hostHash: hostHash(local.host),
      incarnation: local.incarnation,
      state: DIGEST_STATE_ALIVE,
    });
    for (const member of Object.values(swim.membership.hostToMember)) {
      rows.push({
        host: member.host,
        hostHash: hostHash(member.host),
        incarnation: member.incarnation,
        state: member.state === SwimState.Suspect ? DIGEST_STATE_SUSPECT : DIGEST_STATE_ALIVE,
      });
    }
    for (const member of Object.values(swim.membership.hostToFaulty)) {
      const left = (member.meta as WireMetadata).l !== undefined;
      rows.push({
        host: member.host,
        hostHash: hostHash(member.host),
        incarnation: member.incarnation,
        state: left ? DIGEST_STATE_LEFT : DIGEST_STATE_FAILED,
      });
    }
    return rows;
  }

  /** Our own record plus a digest of everything we know; `replyWanted` asks for the peer's digest back. */
  private sendDigest(target: string, replyWanted: boolean): void {
    const swim = this.swim;
    if (swim === undefined) return;
    swim.net.sendMessages([{ type: MessageType.Update, data: swim.membership.local.data() }], target);
    for (const digest of buildDigests(
      this.digestRows(),
      this.localHost,
      replyWanted,
      swim.net.udp.maxDgramSize,
    )) {
      this.transport.send(encodeDigest(digest), target);
    }
  }

  private receiveDigest(digest: DigestMessage): void {
    const swim = this.swim;
    if (swim === undefined || digest.sender === this.localHost) return;
    const rows = this.digestRows();
    const comparison = compareDigest(digest, rows, this.localHost);
    if (comparison.refuteAbove !== undefined) this.refute(comparison.refuteAbove, undefined);
    const records: Array<{ type: number; data: SwimRecord }> = [];
    for (const host of comparison.newerHere) {
      const member =
        host === this.localHost
          ? swim.membership.local
          : (swim.membership.hostToMember[host] ?? swim.membership.hostToFaulty[host]);
      if (member !== undefined) records.push({ type: MessageType.Update, data: member.data() });
    }
    if (records.length > 0) swim.net.sendMessages(records, digest.sender);
    if (digest.replyWanted) {
      const replies = buildDigests(rows, this.localHost, false, swim.net.udp.maxDgramSize).filter(
        (reply) => reply.rangeHigh >= digest.rangeLow && reply.rangeLow <= digest.rangeHigh,
      );
      for (const reply of replies) this.transport.send(encodeDigest(reply), digest.sender);
    }
  }

  /** Forget failed and left members after reapAfterMs (swim keeps them forever). */
  private reap(): void {
    const swim = this.swim;
    if (swim === undefined) return;
    const nowMs = Date.now();
    for (const [host, entry] of this.view) {
      const gone = entry.info.state === 'failed' || entry.info.state === 'left';
      if (!gone || entry.info.local || nowMs - entry.sinceMs < this.config.reapAfterMs) continue;
      if (swim.membership.hostToFaulty[host] !== undefined) delete swim.membership.hostToFaulty[host];
      this.view.delete(host);
    }
  }
}

function aliveHosts(swim: SwimInstance | undefined): string[] {
  if (swim === undefined) return [];
  return Object.values(swim.membership.hostToMember)
    .filter((member) => member.state === SwimState.Alive)
    .map((member) => member.host);
}

function pickRandom<T>(items: readonly T[], count: number): T[] {
  const pool = [...items];
  const picked: T[] = [];
  while (picked.length < count && pool.length > 0) {
    const index = Math.floor(Math.random() * pool.length);
    picked.push(pool[index] as T);
    pool[index] = pool[pool.length - 1] as T;
    pool.pop();
  }
  return picked;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The advertised host must be an IP literal (it is what peers send to); a wildcard bind address is
 * replaced by this host's first non-internal address of the same family. */
async function resolveAdvertiseHost(host: string, family: 4 | 6): Promise<string> {
  if (host === '0.0.0.0' || host === '::') {
    const familyName = family === 6 ? 'IPv6' : 'IPv4';
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) {
        if (!address.internal && address.family === familyName) return address.address;
      }
    }
    throw new UsageError(
      `--gossip binds ${host} but this host has no non-loopback ${familyName} address: give --advertise`,
    );
  }
  return resolveHost(host, family);
}
