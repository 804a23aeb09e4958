import { type HostPort, resolveSeed } from './gossip-address.js';
import { type MembershipConfig, pushPullIntervalFor } from './membership-config.js';
import { pickRandom } from './random-pick.js';
import { buildDigests, compareDigest, type DigestRow, hostHash } from './state-digest.js';
import type { SwimEngine, SwimRecordView } from './swim-engine.js';
import {
  DIGEST_STATE_ALIVE,
  DIGEST_STATE_FAILED,
  DIGEST_STATE_LEFT,
  DIGEST_STATE_SUSPECT,
  type DigestMessage,
  encodeDigest,
  type SwimRecord,
  SwimState,
} from './swim-wire.js';
import { sleep, type TimerGroup } from './timer-group.js';

export interface AntiEntropyOptions {
  readonly engine: SwimEngine;
  readonly config: MembershipConfig;
  /** Our gossip address (digests name it as their sender). */
  readonly localHost: string;
  /** Address family of our socket, for resolving seed names. */
  readonly family: 4 | 6;
  readonly seeds: readonly HostPort[];
  readonly timers: TimerGroup;
  /** Sends one payload through the member's transport. */
  readonly send: (payload: Buffer, to: string) => void;
  /** A digest says we are suspect, failed or left, or holds a newer record of us: raise our
   * incarnation above this and say so. */
  readonly refute: (aboveIncarnation: number) => void;
  readonly isRunning: () => boolean;
  /** True once some member answered (or there were no seeds to join through). */
  readonly hasJoined: () => boolean;
}

/**
 * Anti-entropy and reconnection (swim has neither). Every push/pull interval a random alive member
 * gets a digest of everything we hold (13 bytes per member, state-digest.ts) and answers with its own;
 * each side then sends only the records the other lacks or holds older, so a change whose gossip was
 * lost is repaired. Every reconnect interval a random failed member gets one too: a healed partition or
 * a restarted node answers and comes back. Joining is the same exchange with the seeds, retried with
 * backoff until someone answers.
 */
export class AntiEntropy {
  private contacts = 0;

  constructor(private readonly options: AntiEntropyOptions) {}

  /** Digests sent to seeds so far (join attempts, and retries while alone). */
  get seedContacts(): number {
    return this.contacts;
  }

  /** Starts the push/pull and reconnect timers. */
  start(): void {
    this.schedulePushPull();
    this.options.timers.every(this.options.config.reconnectIntervalMs, () => this.reconnectRound());
  }

  /** Contacts the seeds, backing off from joinRetryInitialMs to joinRetryMaxMs, until joined. */
  async join(seeds: readonly HostPort[]): Promise<void> {
    const { config, isRunning, hasJoined } = this.options;
    let delayMs = config.joinRetryInitialMs;
    while (isRunning() && !hasJoined()) {
      await this.contactSeeds(seeds);
      await sleep(delayMs);
      delayMs = Math.min(config.joinRetryMaxMs, delayMs * 2);
    }
  }

  /** Our own record plus a digest of everything we know; `replyWanted` asks for the peer's digest back. */
  sendDigest(target: string, replyWanted: boolean): void {
    const { engine, localHost, send } = this.options;
    engine.sendRecords([engine.localRecord()], target);
    for (const digest of buildDigests(this.digestRows(), localHost, replyWanted, engine.maxPayloadBytes)) {
      send(encodeDigest(digest), target);
    }
  }

  /** Sends the peer what it lacks, refutes what it holds against us, answers with our digest if asked. */
  receive(digest: DigestMessage): void {
    const { engine, localHost, send } = this.options;
    if (digest.sender === localHost) return;
    const rows = this.digestRows();
    const comparison = compareDigest(digest, rows, localHost);
    if (comparison.refuteAbove !== undefined) this.options.refute(comparison.refuteAbove);
    const records: SwimRecord[] = [];
    for (const host of comparison.newerHere) {
      const record = engine.record(host);
      if (record !== undefined) records.push(record);
    }
    if (records.length > 0) engine.sendRecords(records, digest.sender);
    if (digest.replyWanted) {
      const replies = buildDigests(rows, localHost, false, engine.maxPayloadBytes).filter(
        (reply) => reply.rangeHigh >= digest.rangeLow && reply.rangeLow <= digest.rangeHigh,
      );
      for (const reply of replies) send(encodeDigest(reply), digest.sender);
    }
  }

  private schedulePushPull(): void {
    const { config, engine, timers } = this.options;
    const intervalMs = pushPullIntervalFor(config, engine.memberCount());
    // Jitter so members do not exchange in lock step.
    timers.after(intervalMs * (0.5 + Math.random()), () => {
      const target = pickRandom(engine.aliveHosts(), 1)[0];
      if (target !== undefined) this.sendDigest(target, true);
      this.schedulePushPull();
    });
  }

  /** Try one failed member (a healed partition or a restarted node answers); while alone, the seeds. */
  private reconnectRound(): void {
    const { engine } = this.options;
    const { members, faulty } = engine.records();
    const failed = faulty.filter((member) => member.meta.l === undefined).map((member) => member.host);
    const target = pickRandom(failed, 1)[0];
    if (target !== undefined) this.sendDigest(target, true);
    if (members.length === 0 && this.options.hasJoined()) void this.contactSeeds(this.options.seeds);
  }

  private async contactSeeds(seeds: readonly HostPort[]): Promise<void> {
    for (const seed of seeds) {
      let address: string;
      try {
        address = await resolveSeed(seed, this.options.family);
      } catch {
        continue; // DNS not (yet) resolvable: retried on the next round.
      }
      if (address === this.options.localHost || !this.options.isRunning()) continue;
      this.contacts++;
      this.sendDigest(address, true);
    }
  }

  private digestRows(): DigestRow[] {
    const { local, members, faulty } = this.options.engine.records();
    return [
      row(local, DIGEST_STATE_ALIVE),
      ...members.map((member) =>
        row(member, member.state === SwimState.Suspect ? DIGEST_STATE_SUSPECT : DIGEST_STATE_ALIVE),
      ),
      ...faulty.map((member) =>
        row(member, member.meta.l !== undefined ? DIGEST_STATE_LEFT : DIGEST_STATE_FAILED),
      ),
    ];
  }
}

function row(record: SwimRecordView, state: number): DigestRow {
  return { host: record.host, hostHash: hostHash(record.host), incarnation: record.incarnation, state };
}
