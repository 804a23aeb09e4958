import { afterEach, describe, expect, it } from 'vitest';
import {
  type GossipKeyring,
  generateGossipKey,
  makeGossipKeyring,
  parseGossipKey,
} from '../../src/membership/gossip-keyring.js';
import {
  InMemoryDatagramNetwork,
  type InMemoryDatagramNetworkOptions,
} from '../../src/membership/in-memory-datagram-network.js';
import { EventLoopStallWatch } from '../../src/membership/local-health.js';
import type { MemberState } from '../../src/membership/member.js';
import {
  localConfig,
  type MembershipConfig,
  pushPullIntervalFor,
  STALL_VERDICT_PROBE_INTERVALS,
  suspicionTimeoutMs,
} from '../../src/membership/membership-config.js';
import { SwimMembership } from '../../src/membership/swim-membership.js';
import { aliveNames, describeMembershipContract, NO_CAPTURE, waitUntil } from './membership-contract.js';

/**
 * SwimMembership on the in-memory datagram network: the production protocol code (engine, anti-entropy,
 * envelope, wire parsing), with only the socket replaced, so hundreds of members fit in one process and
 * loss and partitions are a function call.
 */

const GOSSIP_PORT = 7946;
/** A join storm of 200 drains in about 10 s on 2 cores. */
const QUIET_TIMEOUT_MS = 60_000;
const DEADLINE_CHECK_MS = 100;

function address(index: number): string {
  return `10.0.${Math.floor(index / 250)}.${(index % 250) + 1}:${GOSSIP_PORT}`;
}

function simulatedMember(
  network: InMemoryDatagramNetwork,
  name: string,
  at: string,
  options: { config?: MembershipConfig; keyring?: GossipKeyring } = {},
): SwimMembership {
  const [host] = at.split(':');
  return new SwimMembership({
    bind: { host: host as string, port: GOSSIP_PORT },
    metadata: { name, ...NO_CAPTURE },
    config: options.config ?? localConfig(),
    transport: network.transport,
    ...(options.keyring === undefined ? {} : { keyring: options.keyring }),
  });
}

describeMembershipContract('swim over the in-memory datagram network', () => {
  const network = new InMemoryDatagramNetwork({ seed: 11 });
  let next = 0;
  return {
    settleMs: 5000,
    create(name, at) {
      const gossip = at ?? address(next++);
      return { membership: simulatedMember(network, name, gossip), address: gossip };
    },
    crash: (membership) => membership.stop(),
    joinAttempts: (membership) => (membership as SwimMembership).counters().seedContacts,
  };
});

/**
 * Every member's view of every other, kept from membership events (no polling of 200 x 200 members),
 * and waits that resolve the moment a condition over those views holds.
 *
 * Waits are bounded in protocol time. Lifeguard gives no verdict during a stall of our own event loop
 * or within STALL_VERDICT_PROBE_INTERVALS probe intervals after it (the ack may sit unread), so on a
 * machine too busy to run this process each stall extends a bound by its length, those intervals and
 * one probe round to try again. Stalls are measured with the production stall watch at the config's
 * threshold; on an idle machine the allowance is 0 and the bound is the config's alone.
 */
class ClusterWatch {
  readonly states: Array<Map<string, MemberState>>;
  private readonly alive: number[];
  private readonly checks = new Set<() => void>();
  private readonly stallWatch: EventLoopStallWatch;
  private stallAllowanceMs = 0;

  constructor(members: readonly SwimMembership[], config: MembershipConfig) {
    this.states = members.map(() => new Map());
    this.alive = members.map(() => 0);
    members.forEach((member, index) => {
      member.onEvent((event) => {
        if (event.member.local) return;
        const view = this.states[index] as Map<string, MemberState>;
        const before = view.get(event.member.gossip);
        view.set(event.member.gossip, event.member.state);
        this.alive[index] =
          (this.alive[index] as number) + Number(event.member.state === 'alive') - Number(before === 'alive');
        for (const check of this.checks) check();
      });
    });
    const perStallMs = (STALL_VERDICT_PROBE_INTERVALS + 1) * config.probeIntervalMs;
    this.stallWatch = new EventLoopStallWatch(config.eventLoopStallMs, (stallMs) => {
      this.stallAllowanceMs += stallMs + perStallMs;
    });
    this.stallWatch.start();
  }

  close(): void {
    this.stallWatch.stop();
  }

  /** Other members `index` sees alive. */
  aliveSeenBy(index: number): number {
    return this.alive[index] as number;
  }

  stateSeenBy(index: number, gossip: string): MemberState | undefined {
    return this.states[index]?.get(gossip);
  }

  /**
   * Resolves once `condition` holds (checked after every event) with the time it took and the stall
   * allowance earned meanwhile; rejects once boundMs plus that allowance has passed.
   */
  until(condition: () => boolean, boundMs: number, what: string): Promise<Wait> {
    const startedMs = performance.now();
    const allowanceAtStart = this.stallAllowanceMs;
    const wait = (): Wait => ({
      elapsedMs: Math.round(performance.now() - startedMs),
      stallAllowanceMs: Math.round(this.stallAllowanceMs - allowanceAtStart),
    });
    if (condition()) return Promise.resolve(wait());
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearInterval(deadline);
        this.checks.delete(check);
      };
      const deadline = setInterval(() => {
        const sofar = wait();
        if (sofar.elapsedMs <= boundMs + sofar.stallAllowanceMs) return;
        finish();
        reject(
          new Error(
            `not ${what} after ${sofar.elapsedMs} ms (bound ${boundMs} ms + stall allowance ${sofar.stallAllowanceMs} ms)`,
          ),
        );
      }, DEADLINE_CHECK_MS);
      const check = () => {
        if (!condition()) return;
        finish();
        resolve(wait());
      };
      this.checks.add(check);
    });
  }
}

interface Wait {
  readonly elapsedMs: number;
  readonly stallAllowanceMs: number;
}

/**
 * How long until every survivor holds one crashed member failed, from the config alone:
 *  - first probe: each of the N-1 survivors probes every member once per N-1 rounds, in random order,
 *    so after k probe intervals nobody has probed the dead one with probability about e^-k; k = 10
 *    (5e-5);
 *  - the probe's verdict: direct plus indirect timeout, stretched by the largest local-health
 *    multiplier (1 + localHealthMax);
 *  - the suspicion timeout for N members (suspicionTimeoutMs);
 *  - the verdict's spread: about log_gossipNodes(N) gossip rounds, twice that allowed.
 * For the local preset and N = 200: 5000 + 4050 + 3452 + 1000 = 13 502 ms.
 */
function detectionBoundMs(config: MembershipConfig, memberCount: number): number {
  const firstProbeMs = 10 * config.probeIntervalMs;
  const verdictMs = (config.probeTimeoutMs + config.indirectProbeTimeoutMs) * (1 + config.localHealthMax);
  const spreadRounds = 2 * Math.ceil(Math.log(memberCount) / Math.log(config.gossipNodes));
  return (
    firstProbeMs +
    verdictMs +
    suspicionTimeoutMs(config, memberCount) +
    spreadRounds * config.gossipIntervalMs
  );
}

/**
 * Convergence through one seed is gossip (every join spreads in about log N rounds), backed by
 * anti-entropy: every member pulls what it lacks from a random member once per pushPullIntervalFor(N)
 * (jittered by up to 1.5x). One such interval is the bound (20 s x 1.5 for the local preset at 200).
 */
function convergenceBoundMs(config: MembershipConfig, memberCount: number): number {
  return 1.5 * pushPullIntervalFor(config, memberCount);
}

/**
 * A quiet cluster sends about 2 datagrams per member per probe interval (its ping and an ack). Right
 * after a join storm, each of the N joins is still being retransmitted (retransmitLimit sends each, by
 * every member that learnt it): several times more, for about 10 s at N = 200. The 200-member crash test
 * waits for the quiet, so the detection it times is failure detection, not the join storm's tail (whose
 * CPU load on 2 cores stalls the event loop, and Lifeguard gives no verdicts during stalls). Polls once
 * per probe interval.
 */
async function quiet(network: InMemoryDatagramNetwork, memberCount: number, config: MembershipConfig) {
  const quietDatagrams = 1.5 * 2 * memberCount;
  const deadlineMs = performance.now() + QUIET_TIMEOUT_MS;
  for (;;) {
    const before = network.counters.sent;
    await new Promise((resolve) => setTimeout(resolve, config.probeIntervalMs));
    if (network.counters.sent - before <= quietDatagrams) return;
    if (performance.now() > deadlineMs) throw new Error(`no quiet after ${QUIET_TIMEOUT_MS} ms`);
  }
}

function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] as number);
}

describe('SwimMembership at scale on the in-memory network', () => {
  const running: SwimMembership[] = [];
  const watches: ClusterWatch[] = [];
  afterEach(async () => {
    for (const watch of watches) watch.close();
    watches.length = 0;
    await Promise.all(running.map((member) => member.stop()));
    running.length = 0;
  });

  async function startCluster(
    network: InMemoryDatagramNetwork,
    count: number,
    config: MembershipConfig,
  ): Promise<{ members: SwimMembership[]; watch: ClusterWatch; converged: Wait }> {
    const members = Array.from({ length: count }, (_, index) =>
      simulatedMember(network, `m${index}`, address(index), { config }),
    );
    running.push(...members);
    const watch = new ClusterWatch(members, config);
    watches.push(watch);
    await Promise.all(members.map((member, index) => member.start(index === 0 ? [] : [address(0)])));
    const converged = await watch.until(
      () => members.every((_, index) => watch.aliveSeenBy(index) === count - 1),
      convergenceBoundMs(config, count),
      `all ${count} members see ${count} alive`,
    );
    return { members, watch, converged };
  }

  it('200 members in one process converge, and every survivor detects a crashed member within the config-derived bound', async () => {
    const count = 200;
    const config = localConfig();
    // The path carries no datagram above the configured size: at 200 members digests and piggybacked
    // updates must still be split to fit.
    const network = new InMemoryDatagramNetwork({ seed: 200, maxDatagramBytes: config.maxDatagramBytes });
    const { members, watch, converged } = await startCluster(network, count, config);
    for (const member of members) expect(member.members()).toHaveLength(count);
    await quiet(network, count, config);

    const victimIndex = 137;
    const victim = members[victimIndex] as SwimMembership;
    const survivors = members.map((_, index) => index).filter((index) => index !== victimIndex);
    const detectedAtMs: number[] = [];
    const crashedMs = performance.now();
    for (const index of survivors) {
      (members[index] as SwimMembership).onEvent((event) => {
        if (event.type === 'failed' && event.member.gossip === victim.address) {
          detectedAtMs.push(performance.now() - crashedMs);
        }
      });
    }
    await victim.stop();
    const boundMs = detectionBoundMs(config, count);
    const detected = await watch.until(
      () => survivors.every((index) => watch.stateSeenBy(index, victim.address) === 'failed'),
      boundMs,
      `all ${survivors.length} survivors hold the crashed member failed`,
    );
    expect(detectedAtMs).toHaveLength(survivors.length);
    expect(network.counters.oversized).toBe(0);
    // Nobody else was declared failed on the way: the survivors still see each other alive.
    for (const index of survivors) {
      expect(watch.stateSeenBy(index, victim.address)).toBe('failed');
      expect(watch.aliveSeenBy(index)).toBe(count - 2);
    }
    console.log(
      `200 members: converged after ${converged.elapsedMs} ms (stall allowance ${converged.stallAllowanceMs} ms); ` +
        `crash detected by the first survivor after ${percentile(detectedAtMs, 0)} ms, by half after ` +
        `${percentile(detectedAtMs, 0.5)} ms, by all after ${percentile(detectedAtMs, 1)} ms (bound ${boundMs} ms, ` +
        `stall allowance ${detected.stallAllowanceMs} ms); ${network.counters.sent} datagrams`,
    );
  });

  it('with 10 % loss on every link 30 members converge, detect a crash, and keep no false failure', async () => {
    const count = 30;
    const config = localConfig();
    const conditions: InMemoryDatagramNetworkOptions = { seed: 10, lossProbability: 0.1 };
    const network = new InMemoryDatagramNetwork(conditions);
    const { members, watch, converged } = await startCluster(network, count, config);
    const victim = members[count - 1] as SwimMembership;
    const survivors = members.slice(0, -1);
    await victim.stop();
    const detected = await watch.until(
      () => survivors.every((_, index) => watch.stateSeenBy(index, victim.address) === 'failed'),
      // The bound has room for loss: a probe fails only when the direct ping, the second ping and all
      // relay paths fail, and a lost verdict is repeated by the next prober.
      detectionBoundMs(config, count),
      'every survivor holds the crashed member failed',
    );
    // A lost ack can still make a suspicion; it must be refuted, never end as a failure.
    await watch.until(
      () => survivors.every((_, index) => watch.aliveSeenBy(index) === count - 2),
      suspicionTimeoutMs(config, count) * 2,
      'every survivor sees every other survivor alive',
    );
    const suspicions = survivors.reduce((sum, member) => sum + member.counters().suspicionsRaised, 0);
    expect(network.counters.lost).toBeGreaterThan(0);
    console.log(
      `${count} members at 10 % loss: converged after ${converged.elapsedMs} ms, crash detected by all ` +
        `after ${detected.elapsedMs} ms; ` +
        `${suspicions} suspicions raised, ${network.counters.lost} of ${network.counters.sent} datagrams lost`,
    );
  });

  it('a partition into two halves fails each half on the other, and the heal makes one membership again', async () => {
    const count = 20;
    const config = localConfig();
    const network = new InMemoryDatagramNetwork({ seed: 40 });
    const { members, watch } = await startCluster(network, count, config);
    const half = count / 2;
    const sideA = members.slice(0, half);
    const sideB = members.slice(half);
    network.partition([sideA.map((member) => member.address)]);
    const sideOf = (index: number) => (index < half ? sideB : sideA);
    const split = await watch.until(
      () =>
        members.every((_, index) =>
          sideOf(index).every((other) => watch.stateSeenBy(index, other.address) === 'failed'),
        ),
      // Every member probes each other one within N - 1 rounds (its round-robin list) at the latest.
      (count - 1) * config.probeIntervalMs + detectionBoundMs(config, count),
      'each half holds the other failed',
    );
    for (const [index] of members.entries()) expect(watch.aliveSeenBy(index)).toBe(half - 1);

    network.heal();
    const healed = await watch.until(
      () => members.every((_, index) => watch.aliveSeenBy(index) === count - 1),
      // Every reconnect interval each member sends a digest to one random failed member; within N/2
      // reconnect rounds every member of the other side has had one, and refutes at once.
      half * config.reconnectIntervalMs,
      'one membership of all members again',
    );
    for (const member of members) expect(aliveNames(member)).toHaveLength(count);
    console.log(
      `${count} members: each half failed the other ${split.elapsedMs} ms after the cut, one membership ` +
        `${healed.elapsedMs} ms after the heal`,
    );
  });

  it('a keyed cluster on the network keeps out a member with the wrong key, whose datagrams are counted as dropped', async () => {
    const network = new InMemoryDatagramNetwork({ seed: 3 });
    const key = makeGossipKeyring(parseGossipKey(generateGossipKey(), 'cluster'));
    const members = [0, 1, 2].map((index) =>
      simulatedMember(network, `k${index}`, address(index), { keyring: key }),
    );
    const intruder = simulatedMember(network, 'intruder', address(3), {
      keyring: makeGossipKeyring(parseGossipKey(generateGossipKey(), 'wrong')),
    });
    running.push(...members, intruder);
    await Promise.all(members.map((member, index) => member.start(index === 0 ? [] : [address(0)])));
    await intruder.start([address(0)]);
    const seed = members[0] as SwimMembership;
    await waitUntil(
      () => members.every((member) => aliveNames(member).length === 3),
      5000,
      'the three keyed members converge',
    );
    // The intruder's join attempts reach the seed and are dropped there, one by one.
    await waitUntil(
      () => seed.counters().transport.dropped['unknown-key'] >= 3,
      5000,
      'three of the intruder’s datagrams dropped',
    );
    for (const member of members) expect(aliveNames(member)).toEqual(['k0', 'k1', 'k2']);
    expect(aliveNames(intruder)).toEqual(['intruder']);
  });
});
