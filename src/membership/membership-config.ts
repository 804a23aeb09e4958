/**
 * Gossip timing and limits, in one place. Two presets, as memberlist has: `lanConfig()` (the default,
 * for real networks) and `localConfig()` (loopback and tests: faster, and fine only where datagrams are
 * not lost to a congested network). swim's own defaults (20 ms probe interval, 4 ms ping timeout, 10 ms
 * suspicion) are never used: every timing swim reads is set from here.
 *
 * N below is the number of members. "Cost" says what raising / lowering a field trades.
 */
export interface MembershipConfig {
  readonly preset: 'lan' | 'local';
  /**
   * Every member probes one other member per interval (round robin over a shuffled list), so a dead
   * member is first probed within about N intervals in the worst case and 1 interval on average across
   * the cluster. Independent of N. Lower: faster detection, more packets (2 datagrams per member per
   * interval, ~150 B/s per member at 1 s with authentication). Higher: slower detection.
   */
  readonly probeIntervalMs: number;
  /**
   * How long a direct ping waits for its ack before asking others to probe indirectly. Must exceed the
   * network round trip at the 99th percentile (plus the other member's scheduling delay), or busy
   * members get probed indirectly for nothing. Lower: faster detection; too low: more suspicions.
   * Stretched by the local health multiplier when this process is itself slow (Lifeguard).
   */
  readonly probeTimeoutMs: number;
  /**
   * How long the indirect probe (ping-req through `indirectChecks` other members) waits before the member
   * becomes suspect. probeTimeoutMs + this should stay below probeIntervalMs so probes do not overlap.
   */
  readonly indirectProbeTimeoutMs: number;
  /**
   * How many members relay an indirect probe. More relays: fewer false suspicions under packet loss
   * (a suspicion needs every path to fail), more packets per failed probe. Independent of N.
   */
  readonly indirectChecks: number;
  /**
   * Suspicion timeout = suspicionMult x max(1, log10(N)) x probeIntervalMs (memberlist's formula): the
   * window a suspect member has to refute before it is declared failed. Grows slowly with N because a
   * refutation takes about log(N) gossip rounds to spread. Lower: faster failure verdicts, more false
   * ones under loss or CPU stalls. Higher: dead members linger as suspect (queries still skip them).
   */
  readonly suspicionMult: number;
  /**
   * A change (join, suspicion, failure, leave, new metadata) is sent retransmitMult x ceil(log10(N+1))
   * times before it is dropped from the queue; log(N) sends reach everyone with high probability.
   * Higher: more robust dissemination under loss, more bytes per change. Anti-entropy repairs misses.
   */
  readonly retransmitMult: number;
  /**
   * Changes are also pushed on their own timer (not only piggybacked on probes, which is all swim does):
   * every gossipIntervalMs to gossipNodes random members, and only while there is something to send,
   * so a quiet cluster pays nothing. This is what makes a join storm converge in about log(N) rounds.
   * Lower interval / more nodes: faster spread, more bursty traffic after changes.
   */
  readonly gossipIntervalMs: number;
  readonly gossipNodes: number;
  /**
   * A member that learns something new also gossips it at once instead of waiting for the next tick,
   * at most once per eagerGossipSpacingMs (so a join storm becomes a few bursts, not one datagram per
   * change). The number of sends per change is still capped by retransmitMult, so this costs no extra
   * bytes; it cuts each epidemic round from gossipIntervalMs to about a network round trip.
   */
  readonly eagerGossipSpacingMs: number;
  /**
   * Anti-entropy: every interval, exchange a digest of the whole membership (about 13 bytes per member)
   * with one random member and send each other only the records that differ. Repairs any change that
   * gossip lost (swim alone never repairs one). Scaled up with N above 32 members, as memberlist does,
   * so the bytes per member per second stay flat. Lower: faster repair, more bytes.
   */
  readonly pushPullIntervalMs: number;
  /**
   * Every interval, send a digest to one random failed member (and to the seeds while no other member is
   * alive). A member that answers comes back: this is how a healed partition re-merges and how a node
   * whose seeds started after it gets in. Lower: faster heal, more datagrams to dead addresses.
   */
  readonly reconnectIntervalMs: number;
  /** Joining retries the seeds with exponential backoff from joinRetryInitialMs up to joinRetryMaxMs
   * until one answers. Lower: a node started before its seeds joins sooner after they appear. */
  readonly joinRetryInitialMs: number;
  readonly joinRetryMaxMs: number;
  /** A graceful leave is sent directly to every member this many times, leaveRepeatIntervalMs apart (so
   * one lost datagram does not turn a leave into a failure), and then gossiped by the receivers. */
  readonly leaveRepeats: number;
  readonly leaveRepeatIntervalMs: number;
  /** Failed and left members are forgotten after this long (swim keeps them forever). Until then failed
   * members are retried by reconnect. Higher: longer partitions still heal on their own; more memory with
   * churning addresses (containers). */
  readonly reapAfterMs: number;
  /** Largest datagram sent (memberlist's 1400: fits a 1500-byte MTU with IP/UDP headers). swim's 512
   * default cuts metadata. Larger updates are split over several datagrams. */
  readonly maxDatagramBytes: number;
  /**
   * Lifeguard local health: each failed probe of ours raises a score (up to localHealthMax), each
   * successful one lowers it; probe timeouts are multiplied by (1 + score). A member whose own network or
   * CPU is the problem then accuses others more slowly. Higher max: fewer false accusations from a sick
   * member, slower detection while it is sick.
   */
  readonly localHealthMax: number;
  /** An event-loop stall longer than this (timers firing late) means our own process was not running:
   * a probe that timed out during it is retried instead of raising a suspicion, and local health drops. */
  readonly eventLoopStallMs: number;
  /** Authenticated datagrams older than this (by the sender's clock) are dropped as replays, as are
   * repeats of a recent one. Clocks of members must agree within this. */
  readonly replayWindowMs: number;
}

/** Real networks: memberlist's DefaultLANConfig timings (1 s probes, 500 ms timeout, 200 ms gossip). */
export function lanConfig(): MembershipConfig {
  return {
    preset: 'lan',
    probeIntervalMs: 1000,
    probeTimeoutMs: 500,
    indirectProbeTimeoutMs: 450,
    indirectChecks: 3,
    suspicionMult: 4,
    retransmitMult: 4,
    gossipIntervalMs: 200,
    gossipNodes: 3,
    eagerGossipSpacingMs: 20,
    pushPullIntervalMs: 30_000,
    reconnectIntervalMs: 10_000,
    joinRetryInitialMs: 500,
    joinRetryMaxMs: 30_000,
    leaveRepeats: 2,
    leaveRepeatIntervalMs: 100,
    reapAfterMs: 6 * 3600_000,
    maxDatagramBytes: 1400,
    localHealthMax: 8,
    eventLoopStallMs: 200,
    replayWindowMs: 10 * 60_000,
  };
}

/** Loopback and tests: LAN with faster probing, gossip and repair (memberlist's DefaultLocalConfig idea). */
export function localConfig(): MembershipConfig {
  return {
    ...lanConfig(),
    preset: 'local',
    probeIntervalMs: 500,
    probeTimeoutMs: 200,
    indirectProbeTimeoutMs: 250,
    suspicionMult: 3,
    gossipIntervalMs: 100,
    eagerGossipSpacingMs: 10,
    pushPullIntervalMs: 5_000,
    reconnectIntervalMs: 2_000,
    joinRetryInitialMs: 100,
    joinRetryMaxMs: 2_000,
    reapAfterMs: 10 * 60_000,
  };
}

export function configForPreset(preset: string): MembershipConfig {
  if (preset === 'lan') return lanConfig();
  if (preset === 'local') return localConfig();
  throw new RangeError(`unknown timing preset '${preset}' (expected lan or local)`);
}

/** memberlist's suspicion timeout: mult x max(1, log10(N)) x probe interval. */
export function suspicionTimeoutMs(config: MembershipConfig, memberCount: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, memberCount)));
  return Math.round(config.suspicionMult * nodeScale * config.probeIntervalMs);
}

/** How many times one change is sent: retransmitMult x ceil(log10(N + 1)). */
export function retransmitLimit(config: MembershipConfig, memberCount: number): number {
  return config.retransmitMult * Math.ceil(Math.log10(memberCount + 1));
}

/** memberlist's push/pull scaling: the interval grows with log2(N) above PUSH_PULL_SCALE_THRESHOLD_MEMBERS. */
export function pushPullIntervalFor(config: MembershipConfig, memberCount: number): number {
  const threshold = PUSH_PULL_SCALE_THRESHOLD_MEMBERS;
  if (memberCount <= threshold) return config.pushPullIntervalMs;
  const multiplier = Math.ceil(Math.log2(memberCount) - Math.log2(threshold)) + 1;
  return config.pushPullIntervalMs * multiplier;
}

// ---- Fixed limits: the same in every preset ---------------------------------------------------------
// (Wire-format sizes live with the format they describe: datagram-envelope.ts, swim-wire.ts,
// member-metadata.ts.)

/**
 * Bounded incarnations. A member's incarnation starts at its start time in ms (so a restart outranks
 * every record of its previous life) and grows by one per refutation, metadata update or leave; a
 * refutation jumps to one above the accusation. A record whose incarnation is more than this ahead of
 * the receiver's clock cannot have come from its owner: it is dropped and counted
 * (`impossible-incarnation`), never applied, so no datagram can push an incarnation to where its owner
 * cannot outrank it (swim compares incarnations only: one forged "faulty at 2^53-1" evicted a member
 * for good). One day, in ms: far above any clock skew members can have (they must agree within
 * replayWindowMs), far below where ms counts stop being safe integers.
 */
export const MAX_INCARNATION_AHEAD_MS = 24 * 3600_000;
/**
 * An accusation (a suspect or faulty record about another member) must stay this much further below
 * the bound, so the accused's refutation (one above the accusation) is still within the bound of every
 * member whose clock runs up to this much behind the accuser's. One hour, in ms: above replayWindowMs
 * of every preset (the clock agreement members need anyway). A member judging an accusation of itself
 * uses the plain bound, so it refutes whatever any member with a faster clock could have accepted.
 */
export const ACCUSATION_HEADROOM_MS = 3600_000;
/** Largest datagram accepted on receipt (a jumbo frame); anything larger is dropped unread as oversized.
 * Far above maxDatagramBytes, so only foreign or forged datagrams hit it. */
export const MAX_INBOUND_DATAGRAM_BYTES = 9216;
/** The anti-entropy interval stays flat up to this many members, then grows with log2(N) (memberlist). */
export const PUSH_PULL_SCALE_THRESHOLD_MEMBERS = 32;
/** How often the reap pass looks for failed and left members older than reapAfterMs. */
export const REAP_CHECK_INTERVAL_MS = 10_000;
/** The event-loop stall watch ticks this often; a tick later than eventLoopStallMs is a stall. */
export const STALL_WATCH_INTERVAL_MS = 50;
/** A probe that timed out within this many probe intervals after a stall of our own event loop gives no
 * verdict (the ack may have sat unread in our socket buffer). */
export const STALL_VERDICT_PROBE_INTERVALS = 2;
/** Replay protection: per sender, sequence numbers this far below the highest seen are judged by a
 * bitmap (IPsec's anti-replay window); reordering within it is fine, duplicates are not. */
export const REPLAY_WINDOW_DATAGRAMS = 64;
/** Replay protection remembers this many senders (least recently heard forgotten first), so random
 * sender ids cannot grow memory; a forgotten sender is still covered by the replayWindowMs clock check. */
export const REPLAY_MAX_SENDERS = 4096;
