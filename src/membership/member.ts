/**
 * What the rest of sniffmesh knows about a cluster member. Plain data: safe to copy, compare and
 * serialise (the gRPC `Members` answer is built from it).
 */

/** alive: answering probes. suspect: a probe failed, the member has a window to refute. failed: declared
 * dead by failure detection. left: announced a graceful leave. */
export type MemberState = 'alive' | 'suspect' | 'failed' | 'left';

/** What a member says about itself; gossiped with its record, so keep it small (every byte is sent on
 * every anti-entropy exchange and every change). */
export interface MemberMetadata {
  /** Unique per process start (random), so a restart on the same address is a new member. */
  readonly id: string;
  /** Human name (--name; default the host name). Not required to be unique, but it should be. */
  readonly name: string;
  /** host:port of the member's gRPC query service ('' when it serves none). */
  readonly grpc: string;
  /** sniffmesh version of the member. */
  readonly version: string;
  /** Capture interface ('' when not capturing, 'file:NAME' when replaying a capture file). */
  readonly captureInterface: string;
  /** Capture filter in tcpdump syntax ('' = none). */
  readonly captureFilter: string;
  /** When the process started, ms since the epoch. */
  readonly startedAtMs: number;
  /**
   * The networks whose traffic this member counts as its own (its --local-net blocks and, when capturing
   * live, its non-loopback, non-link-local interface addresses). Cluster queries use them so a packet
   * between two members is counted once (README, "Counting rule"). Empty when it captures nothing.
   */
  readonly networks: readonly string[];
}

export interface MemberInfo extends MemberMetadata {
  /** host:port this member's gossip is reached at (its advertised address). */
  readonly gossip: string;
  readonly state: MemberState;
  /** SWIM incarnation: raised by the member itself to refute a suspicion or to publish new metadata. */
  readonly incarnation: number;
  /** True for the member this process runs. */
  readonly local: boolean;
}

/**
 * joined: first seen (or seen again with a new id after a restart). suspect: a probe failed.
 * failed: declared dead. recovered: back to alive from suspect or failed (same id). left: announced
 * leave. updated: same member, new metadata.
 */
export type MembershipEventType = 'joined' | 'suspect' | 'failed' | 'recovered' | 'left' | 'updated';

export interface MembershipEvent {
  readonly type: MembershipEventType;
  /** When this process observed the change, ms since the epoch. */
  readonly timeMs: number;
  readonly member: MemberInfo;
}
