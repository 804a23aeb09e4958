/**
 * One cluster of N members of one implementation, each its own process in the benchmark namespace.
 * Member n0 is the only seed. It starts first; when it is up, the other N-1 start at the same moment
 * (the "simultaneous join"). Serf's -join gives up when the seed does not answer, so the seed must be
 * up first for both implementations alike.
 */

import { SniffmeshError } from '../../src/util/errors.js';
import type { BenchNamespace } from './bench-namespace.js';
import { type MemberDriver, type MemberSpec, preciseNowMs, type RunningMember } from './member-driver.js';
import { listsAll, ViewTracker, type ViewWaitResult } from './view-tracker.js';

const GOSSIP_PORT_BASE = 20000;
const RPC_PORT_BASE = 30000;
/** Each cluster gets fresh ports (a block of 100), so nothing of the previous cluster can interfere. */
const PORT_BLOCK_SIZE = 100;
const PORT_BLOCKS = 20;
export const RPC_PORT_RANGE = {
  first: RPC_PORT_BASE,
  last: RPC_PORT_BASE + PORT_BLOCK_SIZE * PORT_BLOCKS - 1,
};
export const MAX_CLUSTER_SIZE = PORT_BLOCK_SIZE - 1;

/** The two halves of a partitioned cluster: own uid (for iptables owner matching) and own /24. */
export const PARTITION_GROUPS = [
  { uid: 64101, subnet: '127.0.1.0/24', hostPrefix: '127.0.1.' },
  { uid: 64102, subnet: '127.0.2.0/24', hostPrefix: '127.0.2.' },
] as const;

const SEED_UP_TIMEOUT_MS = 15_000;
const ALL_UP_BASE_TIMEOUT_MS = 20_000;
const ALL_UP_PER_MEMBER_TIMEOUT_MS = 500;

let nextPortBlock = 0;

export class ClusterError extends SniffmeshError {
  override name = 'ClusterError';
  constructor(message: string) {
    super('BENCH_CLUSTER_FAILED', message);
  }
}

export interface ClusterOptions {
  size: number;
  /** Lay the members out in two groups (addresses, uids) that a partition can cut apart. */
  twoGroups?: boolean;
}

export interface JoinTimes {
  /** When the N-1 joiners were started. */
  spawnMs: number;
  /** When the last member reported it was up (the join storm is complete from here on). */
  allUpMs: number;
  /** Result of waiting until every member lists all N. */
  converged: ViewWaitResult;
}

export class BenchCluster {
  readonly views = new ViewTracker();
  readonly specs: MemberSpec[];
  private readonly members = new Map<string, RunningMember>();
  /** Members we killed or told to leave; every other exit is a crash of the implementation. */
  private readonly stoppedOnPurpose = new Set<string>();
  readonly unexpectedExits: string[] = [];
  private readonly exitListeners = new Set<(name: string) => void>();

  constructor(
    private readonly namespace: BenchNamespace,
    readonly driver: MemberDriver,
    readonly options: ClusterOptions,
  ) {
    if (options.size < 2 || options.size > MAX_CLUSTER_SIZE)
      throw new ClusterError(`cluster size must be 2..${MAX_CLUSTER_SIZE}, got ${options.size}`);
    const block = nextPortBlock++ % PORT_BLOCKS;
    this.specs = Array.from({ length: options.size }, (_, index) => {
      const spec: MemberSpec = {
        name: `n${index}`,
        host: '127.0.0.1',
        gossipPort: GOSSIP_PORT_BASE + block * PORT_BLOCK_SIZE + index,
        rpcPort: RPC_PORT_BASE + block * PORT_BLOCK_SIZE + index,
      };
      if (options.twoGroups) {
        const group = PARTITION_GROUPS[this.groupOf(index)];
        spec.host = `${group.hostPrefix}${index + 1}`;
        spec.uid = group.uid;
      }
      return spec;
    });
  }

  get names(): string[] {
    return this.specs.map((spec) => spec.name);
  }

  /** 0 for the first half of the members, 1 for the second. */
  groupOf(index: number): 0 | 1 {
    return index < Math.floor(this.options.size / 2) ? 0 : 1;
  }

  /** Names still running (not crashed, not left, not exited). */
  runningNames(): string[] {
    return this.names.filter((name) => {
      const member = this.members.get(name);
      return member !== undefined && !member.hasExited() && !this.stoppedOnPurpose.has(name);
    });
  }

  /** Starts the seed, then all others at once; waits until all are up and (up to a cap) converged. */
  async start(convergeTimeoutMs: number): Promise<JoinTimes> {
    const seed = this.specs[0];
    this.launch(seed);
    const seedUp = await this.waitUntilUpOrExit([seed.name], SEED_UP_TIMEOUT_MS);
    if (seedUp.exited) throw this.failure(`seed ${seed.name} exited before it came up`, [seed.name]);
    if (!seedUp.upTimes)
      throw this.failure(`seed ${seed.name} did not come up within ${SEED_UP_TIMEOUT_MS / 1000} s`, [
        seed.name,
      ]);
    const spawnMs = preciseNowMs();
    for (const spec of this.specs.slice(1)) this.launch(spec);
    const upTimeoutMs = ALL_UP_BASE_TIMEOUT_MS + ALL_UP_PER_MEMBER_TIMEOUT_MS * this.options.size;
    const allUp = await this.waitUntilUpOrExit(this.names, upTimeoutMs);
    const notUp = this.names.filter((name) => this.views.upTime(name) === undefined);
    if (allUp.exited) {
      const exited = this.unexpectedExits.filter((name) => notUp.includes(name));
      throw this.failure(
        `${exited.length} member(s) exited before they came up (${exited.join(', ')}), ${notUp.length} not up`,
        exited,
      );
    }
    const upTimes = allUp.upTimes;
    if (!upTimes)
      throw this.failure(`${notUp.length} members did not come up within ${upTimeoutMs / 1000} s`, notUp);
    const converged = await this.views.waitForViews(this.names, listsAll(this.names), convergeTimeoutMs);
    return { spawnMs, allUpMs: Math.max(...upTimes), converged };
  }

  member(name: string): RunningMember {
    const member = this.members.get(name);
    if (!member) throw new ClusterError(`no member ${name}`);
    return member;
  }

  /** kill -9 of one member. */
  crash(name: string): void {
    this.stoppedOnPurpose.add(name);
    this.member(name).crash();
  }

  /** Graceful leave of one member (its own signal for it). */
  leave(name: string): void {
    this.stoppedOnPurpose.add(name);
    this.member(name).leave();
  }

  /** Kills every member (SIGKILL: nobody is left to observe) and waits until they are gone. */
  async stop(): Promise<void> {
    for (const name of this.names) this.stoppedOnPurpose.add(name);
    const members = [...this.members.values()];
    for (const member of members) member.crash();
    await Promise.race([
      Promise.all(members.map((member) => member.exited)),
      new Promise((resolve) => setTimeout(resolve, 5000)),
    ]);
  }

  private launch(spec: MemberSpec): void {
    const seeds = [this.specs[0]];
    const member = this.driver.start(this.namespace, spec, seeds, this.views);
    this.members.set(spec.name, member);
    void member.exited.then(() => {
      if (this.stoppedOnPurpose.has(spec.name)) return;
      this.unexpectedExits.push(spec.name);
      for (const listener of [...this.exitListeners]) listener(spec.name);
    });
  }

  /**
   * Waits until every name is up; gives up as soon as one of them exits before it came up (a member
   * that cannot start, e.g. a port in use, must not cost the whole start-up timeout).
   */
  private async waitUntilUpOrExit(
    names: readonly string[],
    timeoutMs: number,
  ): Promise<{ upTimes?: number[]; exited?: string }> {
    let listener: ((name: string) => void) | undefined;
    const exited = new Promise<{ exited: string }>((resolve) => {
      listener = (name) => {
        if (names.includes(name) && this.views.upTime(name) === undefined) resolve({ exited: name });
      };
      this.exitListeners.add(listener);
    });
    try {
      return await Promise.race([
        this.views.waitUntilUp(names, timeoutMs).then((upTimes) => ({ upTimes })),
        exited,
      ]);
    } finally {
      if (listener) this.exitListeners.delete(listener);
    }
  }

  /** The error for members that did not start; its first line ends with the first one's last output line. */
  private failure(message: string, names: readonly string[]): ClusterError {
    const outputs = names.slice(0, 2).map((name) => this.members.get(name)?.outputTail() || '');
    const lastLine = outputs[0]?.split('\n').filter(Boolean).at(-1);
    const details = names
      .slice(0, 2)
      .map((name, index) => `--- ${name} output:\n${outputs[index] || '(none)'}`)
      .join('\n');
    return new ClusterError(
      `${this.driver.id}, N=${this.options.size}: ${message}${lastLine ? `: ${lastLine}` : ''}\n${details}`,
    );
  }
}
