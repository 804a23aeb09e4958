import type { MemberInfo, MemberMetadata, MembershipEvent } from './member.js';

export type MembershipListener = (event: MembershipEvent) => void;

/**
 * The one interface the rest of sniffmesh uses for cluster membership. Two implementations pass the
 * same contract suite (test/membership/membership-contract.ts): `SwimMembership` (UDP gossip through
 * the `swim` package) and `InMemoryMembership` (a fake for tests of the layers above).
 */
export interface Membership {
  /**
   * Starts gossip and joins through `seeds` (host:port; DNS names allowed). Resolves once the local
   * member is running: joining goes on in the background (retried with backoff until a seed answers),
   * so a node may be started before its seeds. No seeds = a cluster of one, until others join it.
   */
  start(seeds: readonly string[]): Promise<void>;
  /** Announces a graceful leave to the cluster, then stops. Peers see `left`, not `failed`. */
  leave(): Promise<void>;
  /** Stops without announcing anything (peers will detect a failure). Idempotent. */
  stop(): Promise<void>;
  /** Every member known, the local one included, in every state (failed and left ones until reaped). */
  members(): MemberInfo[];
  /** The local member. */
  self(): MemberInfo;
  /** Publishes new local metadata (fields not given keep their value). */
  updateMetadata(change: Partial<Omit<MemberMetadata, 'id' | 'startedAtMs'>>): void;
  /** Subscribes to membership changes; returns the unsubscribe function. */
  onEvent(listener: MembershipListener): () => void;
}
