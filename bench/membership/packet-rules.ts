/**
 * iptables rules inside the benchmark namespace: random packet loss, a partition between two groups of
 * members, and byte counters for gossip traffic. The kernel here has no netem, so loss is
 * `-m statistic --mode random` on INPUT: a loopback packet crosses OUTPUT once and INPUT once, so a
 * rule on INPUT drops each packet with exactly the given probability.
 */

import type { BenchNamespace } from './bench-namespace.js';

/** Our own chain for counters: flushing it never touches a rule of anyone else. */
const COUNT_CHAIN = 'SMBENCH_COUNT';
/** Firewall mark of packets that cross the partition (any value unused in our namespace). */
const PARTITION_MARK = '0x5a17';

export interface PortRange {
  first: number;
  last: number;
}

export interface TrafficCount {
  packets: number;
  /** IP bytes (headers included), as iptables counts them. */
  bytes: number;
}

function statisticRule(probability: number): string[] {
  return ['INPUT', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP'];
}

/** Drops every incoming packet with `probability`; returns the function that removes the rule. */
export function addRandomLoss(namespace: BenchNamespace, probability: number): () => void {
  const rule = statisticRule(probability);
  namespace.exec('iptables', ['-A', ...rule]);
  return () => namespace.exec('iptables', ['-D', ...rule]);
}

/**
 * Cuts group A from group B. The members of a group run under one uid and advertise addresses from
 * one /24, so "sent by uid A to an address of B" names exactly the cross traffic (the source address
 * cannot: a member bound to 0.0.0.0, or a TCP dial, sends from 127.0.0.1). The owner is only known on
 * OUTPUT, but a DROP there fails the sender's sendto() with EPERM, which a real partition never does
 * (memberlist then skips the probe instead of suspecting the peer). So OUTPUT only marks cross
 * packets and INPUT drops them silently; the mark survives loopback. A SYN that is dropped never
 * becomes a connection, so TCP is cut too. Returns the function that removes the cut.
 */
export function addPartition(
  namespace: BenchNamespace,
  groupA: { uid: number; subnet: string },
  groupB: { uid: number; subnet: string },
): () => void {
  const mark = PARTITION_MARK;
  const rules = [
    [
      'OUTPUT',
      '-m',
      'owner',
      '--uid-owner',
      String(groupA.uid),
      '-d',
      groupB.subnet,
      '-j',
      'MARK',
      '--set-mark',
      mark,
    ],
    [
      'OUTPUT',
      '-m',
      'owner',
      '--uid-owner',
      String(groupB.uid),
      '-d',
      groupA.subnet,
      '-j',
      'MARK',
      '--set-mark',
      mark,
    ],
    ['INPUT', '-m', 'mark', '--mark', mark, '-j', 'DROP'],
  ];
  for (const rule of rules) namespace.exec('iptables', ['-I', ...rule]);
  return () => {
    for (const rule of rules) namespace.exec('iptables', ['-D', ...rule]);
  };
}

/**
 * Installs counters for all UDP and TCP packets sent inside the namespace (OUTPUT sees each loopback
 * packet once), except TCP on `excludedPorts` (Serf's RPC, which is the benchmark talking to Serf,
 * not gossip). Both implementations are counted the same way: IP bytes of all their UDP and TCP.
 */
export function installTrafficCounters(namespace: BenchNamespace, excludedPorts: PortRange): void {
  namespace.exec('iptables', ['-N', COUNT_CHAIN]);
  namespace.exec('iptables', ['-A', 'OUTPUT', '-j', COUNT_CHAIN]);
  const ports = `${excludedPorts.first}:${excludedPorts.last}`;
  namespace.exec('iptables', [
    '-A',
    COUNT_CHAIN,
    '-p',
    'tcp',
    '-m',
    'multiport',
    '--ports',
    ports,
    '-j',
    'RETURN',
  ]);
  namespace.exec('iptables', ['-A', COUNT_CHAIN, '-p', 'udp']);
  namespace.exec('iptables', ['-A', COUNT_CHAIN, '-p', 'tcp']);
}

/** Current totals of the counters, per protocol. */
export function readTrafficCounters(namespace: BenchNamespace): { udp: TrafficCount; tcp: TrafficCount } {
  const listing = namespace.exec('iptables', ['-L', COUNT_CHAIN, '-v', '-x', '-n']);
  const totals = { udp: { packets: 0, bytes: 0 }, tcp: { packets: 0, bytes: 0 } };
  for (const line of listing.split('\n')) {
    // "pkts bytes target prot ..."; the counting rules have no target, so prot is the third field.
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || !/^\d+$/.test(fields[0])) continue;
    if (fields[2] === 'RETURN') continue;
    const protocol =
      fields[2] === '17' || fields[2] === 'udp'
        ? 'udp'
        : fields[2] === '6' || fields[2] === 'tcp'
          ? 'tcp'
          : null;
    if (!protocol) continue;
    totals[protocol].packets += Number(fields[0]);
    totals[protocol].bytes += Number(fields[1]);
  }
  return totals;
}
