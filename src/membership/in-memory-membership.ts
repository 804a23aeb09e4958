import { UsageError } from '../util/errors.js';
import type { MemberInfo, MemberMetadata, MembershipEvent } from './member.js';
import { newMemberId } from './member-metadata.js';
import { checkMemberName } from './member-name.js';
import { transitionEvents } from './member-view.js';
import type { Membership, MembershipListener } from './membership.js';

/**
 * An in-memory stand-in for gossip, for tests of the layers above membership (the query fan-out, the
 * CLI): members on one `InMemoryNetwork` see each other without sockets or timing, but with the same
 * observable behaviour as `SwimMembership` (the contract suite in test/membership checks both): joining
 * through seeds (retried until a seed exists), `left` on leave, suspect then failed after a crash,
 * metadata updates, restarts on the same address, partitions.
 */
export interface InMemoryNetworkOptions {
  /** How long after a crash (stop without leave) the others first suspect the member. */
  readonly suspectAfterMs?: number;
  /** How long after the suspicion they declare it failed. */
  readonly failAfterMs?: number;
  /** Join retry period of a member whose seeds are not (yet) there. */
  readonly joinRetryMs?: number;
}

/** The fake's default timing: fast, as it has no network to wait for. */
const DEFAULT_SUSPECT_AFTER_MS = 100;
const DEFAULT_FAIL_AFTER_MS = 200;
const DEFAULT_JOIN_RETRY_MS = 50;

export class InMemoryNetwork {
  readonly suspectAfterMs: number;
  readonly failAfterMs: number;
  readonly joinRetryMs: number;
  private readonly running = new Map<string, InMemoryMembership>();
  /** address -> partition group; members in different groups cannot reach each other. */
  private readonly groups = new Map<string, number>();

  constructor(options: InMemoryNetworkOptions = {}) {
    this.suspectAfterMs = options.suspectAfterMs ?? DEFAULT_SUSPECT_AFTER_MS;
    this.failAfterMs = options.failAfterMs ?? DEFAULT_FAIL_AFTER_MS;
    this.joinRetryMs = options.joinRetryMs ?? DEFAULT_JOIN_RETRY_MS;
  }

  /** Splits the network: members of `group` reach only each other (and the rest only the rest). */
  partition(group: readonly string[]): void {
    for (const address of group) this.groups.set(address, 1);
    for (const member of this.running.values()) member.connectivityChanged();
  }

  heal(): void {
    this.groups.clear();
    for (const member of this.running.values()) member.connectivityChanged();
  }

  /** @internal */
  reachable(from: string, to: string): boolean {
    return (this.groups.get(from) ?? 0) === (this.groups.get(to) ?? 0) && this.running.has(to);
  }

  /** @internal */
  register(member: InMemoryMembership): void {
    if (this.running.has(member.address)) {
      throw new UsageError(`in-memory network: ${member.address} is already in use`);
    }
    this.running.set(member.address, member);
  }

  /** @internal */
  unregister(member: InMemoryMembership, crashed: boolean): void {
    if (this.running.get(member.address) !== member) return;
    this.running.delete(member.address);
    if (crashed) for (const other of this.running.values()) other.peerCrashed(member.address);
  }

  /** @internal Delivers a record to every reachable member (asynchronously, as a network would). */
  broadcast(from: string, record: MemberInfo): void {
    for (const member of this.running.values()) {
      if (member.address !== from && this.reachable(from, member.address)) {
        setImmediate(() => member.receive(record));
      }
    }
  }

  /** @internal */
  get(address: string): InMemoryMembership | undefined {
    return this.running.get(address);
  }
}

export class InMemoryMembership implements Membership {
  private readonly listeners = new Set<MembershipListener>();
  private readonly view = new Map<string, MemberInfo>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private local: MemberInfo;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private attempts = 0;

  constructor(
    private readonly network: InMemoryNetwork,
    readonly address: string,
    metadata: Omit<MemberMetadata, 'id' | 'startedAtMs'>,
  ) {
    checkMemberName(metadata.name, 'membership: the name');
    const startedAtMs = Date.now();
    this.local = {
      ...metadata,
      id: newMemberId(),
      startedAtMs,
      gossip: address,
      state: 'alive',
      incarnation: startedAtMs,
      local: true,
    };
  }

  async start(seeds: readonly string[]): Promise<void> {
    if (this.state !== 'new') throw new UsageError('membership: start() may be called once');
    this.network.register(this);
    this.state = 'running';
    this.apply(this.local);
    const others = seeds.filter((seed) => seed !== this.address);
    if (others.length > 0) this.tryJoin(others);
  }

  async leave(): Promise<void> {
    if (this.state !== 'running') return;
    this.local = { ...this.local, state: 'left', incarnation: this.local.incarnation + 1 };
    this.network.broadcast(this.address, { ...this.local, local: false });
    this.shutdown(false);
  }

  async stop(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'stopped';
      return;
    }
    this.shutdown(true);
  }

  members(): MemberInfo[] {
    return [...this.view.values()];
  }

  self(): MemberInfo {
    return this.local;
  }

  updateMetadata(change: Partial<Omit<MemberMetadata, 'id' | 'startedAtMs'>>): void {
    if (change.name !== undefined) checkMemberName(change.name, 'membership: the name');
    const defined = Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined));
    this.local = { ...this.local, ...defined, incarnation: this.local.incarnation + 1 };
    this.apply(this.local);
    if (this.state === 'running') this.network.broadcast(this.address, { ...this.local, local: false });
  }

  onEvent(listener: MembershipListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @internal A record arrived from another member. */
  receive(record: MemberInfo, direct = false): void {
    if (this.state !== 'running') return;
    if (record.gossip === this.address) return;
    const known = this.view.get(record.gossip);
    // `direct`: the member itself answered (a healed partition), which in SWIM is a refutation.
    const refuted =
      direct &&
      known !== undefined &&
      known.id === record.id &&
      known.state !== 'alive' &&
      known.state !== 'left';
    if (known === undefined || record.incarnation > known.incarnation || refuted) {
      this.apply({ ...record, local: false });
      // A member new to us learns about us in return (what the anti-entropy exchange does for real).
      if ((known === undefined || known.id !== record.id) && record.state === 'alive') {
        const peer = this.network.get(record.gossip);
        if (peer !== undefined && this.network.reachable(this.address, record.gossip)) {
          const self = { ...this.local, local: false };
          setImmediate(() => peer.receive(self));
        }
      }
    }
  }

  /** @internal */
  peerCrashed(address: string): void {
    if (this.state !== 'running') return;
    this.later(this.network.suspectAfterMs, () => {
      const known = this.view.get(address);
      if (known === undefined || known.state !== 'alive' || this.network.reachable(this.address, address))
        return;
      this.apply({ ...known, state: 'suspect' });
      this.later(this.network.failAfterMs, () => {
        const still = this.view.get(address);
        if (still === undefined || still.state !== 'suspect' || still.id !== known.id) return;
        this.apply({ ...still, state: 'failed' });
      });
    });
  }

  /** @internal Partition or heal: unreachable live members fail; reachable ones exchange records. */
  connectivityChanged(): void {
    if (this.state !== 'running') return;
    for (const member of this.view.values()) {
      if (member.local) continue;
      const reachable = this.network.reachable(this.address, member.gossip);
      if (!reachable && (member.state === 'alive' || member.state === 'suspect'))
        this.peerCrashed(member.gossip);
      if (reachable) {
        const peer = this.network.get(member.gossip);
        if (peer !== undefined) setImmediate(() => this.receive({ ...peer.self(), local: false }, true));
      }
    }
  }

  /** Times this member tried to reach its seeds. */
  get joinAttempts(): number {
    return this.attempts;
  }

  private tryJoin(seeds: readonly string[]): void {
    if (this.state !== 'running') return;
    this.attempts++;
    const seed = seeds.map((address) => this.network.get(address)).find((member) => member !== undefined);
    if (seed === undefined || !this.network.reachable(this.address, seed.address)) {
      this.later(this.network.joinRetryMs, () => this.tryJoin(seeds));
      return;
    }
    // Pull the seed's view, push ours to everyone reachable (what anti-entropy plus gossip achieve).
    for (const member of seed.members()) {
      if (member.state === 'alive' || member.state === 'suspect') setImmediate(() => this.receive(member));
    }
    this.network.broadcast(this.address, { ...this.local, local: false });
  }

  private apply(next: MemberInfo): void {
    const before = this.view.get(next.gossip);
    this.view.set(next.gossip, next);
    const events = transitionEvents(before, next);
    const timeMs = Date.now();
    for (const type of events) this.emit({ type, timeMs, member: next });
  }

  private emit(event: MembershipEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's bug must not break the fake either.
      }
    }
  }

  private later(ms: number, task: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.state === 'running') task();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private shutdown(crashed: boolean): void {
    this.state = 'stopped';
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.network.unregister(this, crashed);
  }
}
