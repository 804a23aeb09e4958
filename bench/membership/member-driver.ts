/**
 * What the scenarios need from an implementation (Serf or sniffmesh): start one member as a process
 * in the benchmark namespace and report, per member, every change of its view of the cluster with a
 * wall-clock time. Both drivers translate their tool's output into these observations.
 */

import type { BenchNamespace } from './bench-namespace.js';

export type ImplementationId = 'sniffmesh' | 'serf';
export const ALL_IMPLEMENTATIONS: readonly ImplementationId[] = ['sniffmesh', 'serf'];

/** A member's state in one observer's view; `suspect` is still a member. */
export type MemberState = 'alive' | 'suspect' | 'failed' | 'left';

export interface MemberSpec {
  name: string;
  /** Address the member binds and advertises. */
  host: string;
  gossipPort: number;
  /** Serf's RPC listener (unused by sniffmesh). */
  rpcPort: number;
  /** Run as this uid (the partition scenario's way to tell groups apart); undefined = root. */
  uid?: number;
}

export interface ObservedChange {
  observer: string;
  subject: string;
  /** `removed` = the subject is gone from the view (Serf's reap). */
  state: MemberState | 'removed';
  /** Epoch milliseconds, fractional. */
  timeMs: number;
}

export interface ObservedSuspicion {
  observer: string;
  subject: string;
  timeMs: number;
  /**
   * What makes two suspicion observations one suspicion: sniffmesh's (subject, incarnation), or for
   * Serf (which only logs the probes that failed) one key per logged probe failure.
   */
  key: string;
}

export interface MemberObserver {
  /** The member is running and bound (sniffmesh `started`; Serf "agent running"). */
  up(name: string, timeMs: number): void;
  change(change: ObservedChange): void;
  suspicion(suspicion: ObservedSuspicion): void;
}

export interface RunningMember {
  spec: MemberSpec;
  /** Graceful leave (Serf: SIGINT; sniffmesh: SIGTERM). */
  leave(): void;
  /** kill -9. */
  crash(): void;
  hasExited(): boolean;
  exited: Promise<unknown>;
  /** Last lines of stderr/log, for error messages. */
  outputTail(): string;
}

export interface MemberDriver {
  id: ImplementationId;
  /** One line for the report: version and timing profile. */
  describe(): string;
  /** Throws a readable error when the implementation cannot run here. */
  checkAvailable(): void;
  start(
    namespace: BenchNamespace,
    spec: MemberSpec,
    seeds: readonly MemberSpec[],
    observer: MemberObserver,
  ): RunningMember;
}

/** Epoch milliseconds with sub-millisecond resolution (Date.now() has only whole ms). */
export function preciseNowMs(): number {
  return performance.timeOrigin + performance.now();
}
