import type { MembershipConfig } from './membership-config.js';
import { pickRandom } from './random-pick.js';
import type { SwimEngine } from './swim-engine.js';
import type { TimerGroup } from './timer-group.js';

/**
 * Pushes queued changes to gossipNodes random members on a timer (every gossipIntervalMs, swim only
 * piggybacks on one probe per interval) and, when something new is queued, soon after (at most once per
 * eagerGossipSpacingMs): each epidemic round then takes about a network round trip instead of a tick.
 * The sends per change stay capped by the retransmit limit, so eager rounds cost no extra bytes.
 */
export class GossipPump {
  private eagerPending = false;
  private lastEagerMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly engine: SwimEngine,
    private readonly config: MembershipConfig,
    private readonly timers: TimerGroup,
    private readonly send: (payload: Buffer, to: string) => void,
  ) {}

  start(): void {
    this.timers.every(this.config.gossipIntervalMs, () => this.round());
  }

  /** Something new was queued: gossip it soon rather than at the next tick. */
  soon(): void {
    if (this.eagerPending) return;
    this.eagerPending = true;
    const sinceLastMs = performance.now() - this.lastEagerMs;
    this.timers.after(Math.max(0, this.config.eagerGossipSpacingMs - sinceLastMs), () => {
      this.eagerPending = false;
      this.lastEagerMs = performance.now();
      this.round();
    });
  }

  /** One datagram of queued changes to each of a few random members; nothing when nothing changed. */
  private round(): void {
    const hosts = this.engine.memberHosts();
    // A datagram is taken only for a target that gets it: each take counts against the changes' sends.
    let datagram = hosts.length > 0 ? this.engine.nextGossip() : undefined;
    if (datagram === undefined) return;
    const targets = pickRandom(hosts, this.config.gossipNodes);
    for (const [index, target] of targets.entries()) {
      this.send(datagram, target);
      if (index + 1 === targets.length) break;
      datagram = this.engine.nextGossip();
      if (datagram === undefined) break;
    }
  }
}
