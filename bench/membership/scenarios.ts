/**
 * The measured scenarios. Each run starts a fresh cluster of one implementation, does one thing to it
 * and reads the members' views:
 *   - lifecycle: simultaneous join with one seed, then (as selected) the steady-state bandwidth window,
 *     a kill -9 of a random non-seed member, and a graceful leave of another;
 *   - faults: false failures and suspicions while the CPUs are saturated and/or packets are dropped,
 *     then how long the views take to be whole again after the fault is removed;
 *   - partition: two halves cut apart, then healed.
 * All times are seconds; `null` = did not happen within the cap.
 */

import { BenchCluster, PARTITION_GROUPS } from './bench-cluster.js';
import type { BenchNamespace } from './bench-namespace.js';
import { CpuStress } from './cpu-stress.js';
import { type MemberDriver, preciseNowMs } from './member-driver.js';
import { addPartition, addRandomLoss, readTrafficCounters } from './packet-rules.js';
import { listsAll, seesAs } from './view-tracker.js';

export type LifecycleScenarioId = 'join' | 'bandwidth' | 'kill' | 'leave';
export type FaultScenarioId = 'cpu' | 'loss10' | 'loss10-cpu' | 'loss30';
export type ScenarioId = LifecycleScenarioId | FaultScenarioId | 'partition';
export const ALL_SCENARIOS: readonly ScenarioId[] = [
  'join',
  'kill',
  'leave',
  'bandwidth',
  'cpu',
  'loss10',
  'loss10-cpu',
  'loss30',
  'partition',
];
export const FAULT_SCENARIOS: readonly FaultScenarioId[] = ['cpu', 'loss10', 'loss10-cpu', 'loss30'];

const FAULTS: Record<FaultScenarioId, { lossProbability: number; cpuStress: boolean }> = {
  cpu: { lossProbability: 0, cpuStress: true },
  loss10: { lossProbability: 0.1, cpuStress: false },
  'loss10-cpu': { lossProbability: 0.1, cpuStress: true },
  loss30: { lossProbability: 0.3, cpuStress: false },
};

export interface ScenarioSettings {
  /** Cap on waiting for the first full view after the join. */
  joinCapMs: number;
  /** Quiet time after convergence before a measurement starts (join retransmits die down). */
  settleMs: number;
  bandwidthWindowMs: number;
  /** Cap on waiting for a kill -9 or a leave to be seen by all. */
  detectCapMs: number;
  /** How long each fault is applied. */
  faultMs: number;
  /** Cap on waiting for whole views after a fault is removed (30% loss: the 60 s target). */
  reconvergeCapMs: number;
  partitionSplitCapMs: number;
  /** The cut stays this long after both sides have seen the split. */
  partitionHoldMs: number;
  healCapMs: number;
}

export const FULL_SETTINGS: ScenarioSettings = {
  joinCapMs: 120_000,
  settleMs: 5_000,
  bandwidthWindowMs: 30_000,
  detectCapMs: 60_000,
  faultMs: 120_000,
  reconvergeCapMs: 90_000,
  partitionSplitCapMs: 90_000,
  partitionHoldMs: 5_000,
  healCapMs: 120_000,
};

export const QUICK_SETTINGS: ScenarioSettings = {
  joinCapMs: 30_000,
  settleMs: 2_000,
  bandwidthWindowMs: 10_000,
  detectCapMs: 30_000,
  faultMs: 15_000,
  reconvergeCapMs: 30_000,
  partitionSplitCapMs: 45_000,
  partitionHoldMs: 2_000,
  healCapMs: 60_000,
};

export interface JoinFigures {
  /**
   * From the last member's join (the moment a peer first listed it) until every member lists all N.
   * This leaves out process start-up, which differs by design (a Go binary against Node) and is not
   * a property of the membership protocol, and it treats both alike: sniffmesh reports `started` only
   * after its join, Serf "agent running" before it.
   */
  allS: number | null;
  /** Same, for the median member. */
  medianNodeS: number | null;
  /** From starting the N-1 joiners until every member lists all N (start-up included). */
  allFromSpawnS: number | null;
  /** From starting the N-1 joiners until all reported up (process start-up cost, context only). */
  startupS: number;
  /** Members that did not list all N within the cap. */
  notConverged: number;
}

export interface BandwidthFigures {
  /** IP bytes of all gossip UDP + TCP sent, per member and second. */
  bytesPerSecondPerNode: number;
  udpBytesPerSecondPerNode: number;
  tcpBytesPerSecondPerNode: number;
  packetsPerSecondPerNode: number;
  windowS: number;
}

export interface KillFigures {
  victim: string;
  firstSuspectS: number | null;
  firstFailedS: number | null;
  allFailedS: number | null;
  /** Survivors that had not marked it failed when the cap ran out. */
  notDetected: number;
}

export interface LeaveFigures {
  leaver: string;
  /** Until every survivor shows it as left or failed. */
  allS: number | null;
  seenLeft: number;
  seenFailed: number;
  notSeen: number;
}

export interface LifecycleRun {
  join: JoinFigures;
  bandwidth?: BandwidthFigures;
  kill?: KillFigures;
  leave?: LeaveFigures;
  /** Members that exited on their own (a crash of the implementation). */
  crashedMembers: string[];
}

export interface FaultRun {
  scenario: FaultScenarioId;
  faultS: number;
  /** Members not listing all N before the fault started (the join itself did not converge). */
  notConvergedBefore: number;
  /** "Member X marked live member Y failed" observations, during the fault and the recovery. */
  falseFailures: number;
  /** Distinct live members that someone marked failed. */
  falselyFailedMembers: number;
  /** Distinct suspicions (see ObservedSuspicion.key). */
  suspicions: number;
  /** Suspect state changes the application saw (Serf does not surface suspicion: always 0). */
  suspectEvents: number;
  /** From removing the fault until every member lists all N again. */
  reconvergeS: number | null;
  crashedMembers: string[];
}

export interface PartitionRun {
  /** From the cut until every member sees the whole other half failed. */
  splitS: number | null;
  /** From restoring connectivity until every member lists all N again. */
  healS: number | null;
  cutS: number;
  crashedMembers: string[];
}

type Progress = (message: string) => void;

function seconds(fromMs: number, toMs: number): number {
  return (toMs - fromMs) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function randomItem<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)];
}

/** The moment the last member was first listed by a peer (undefined: someone was never listed). */
function lastJoinTime(cluster: BenchCluster): number | undefined {
  const firstListed = new Map<string, number>();
  for (const change of cluster.views.changes) {
    if (change.state !== 'alive' || change.observer === change.subject) continue;
    const known = firstListed.get(change.subject);
    if (known === undefined || change.timeMs < known) firstListed.set(change.subject, change.timeMs);
  }
  if (firstListed.size < cluster.names.length) return undefined;
  return Math.max(...firstListed.values());
}

async function startCluster(
  namespace: BenchNamespace,
  driver: MemberDriver,
  size: number,
  settings: ScenarioSettings,
  progress: Progress,
  twoGroups = false,
) {
  const cluster = new BenchCluster(namespace, driver, { size, twoGroups });
  try {
    const join = await cluster.start(settings.joinCapMs);
    const times = [...join.converged.times.values()];
    const lastJoinMs = lastJoinTime(cluster);
    const converged = join.converged.missing.length === 0 && lastJoinMs !== undefined;
    const figures: JoinFigures = {
      allS: converged ? seconds(lastJoinMs, Math.max(...times)) : null,
      medianNodeS:
        times.length > size / 2 && lastJoinMs !== undefined ? seconds(lastJoinMs, median(times)) : null,
      allFromSpawnS: join.converged.missing.length === 0 ? seconds(join.spawnMs, Math.max(...times)) : null,
      startupS: seconds(join.spawnMs, join.allUpMs),
      notConverged: join.converged.missing.length,
    };
    progress(
      `${driver.id} N=${size}: up in ${figures.startupS.toFixed(2)} s; ` +
        (figures.allS === null
          ? `${figures.notConverged} members not converged after ${settings.joinCapMs / 1000} s`
          : `all converged ${figures.allS.toFixed(2)} s after the last join (${figures.allFromSpawnS?.toFixed(2)} s after spawn)`),
    );
    return { cluster, join: figures };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

async function measureBandwidth(
  namespace: BenchNamespace,
  cluster: BenchCluster,
  windowMs: number,
): Promise<BandwidthFigures> {
  const members = cluster.runningNames().length;
  const before = readTrafficCounters(namespace);
  const startMs = preciseNowMs();
  await sleep(windowMs);
  const after = readTrafficCounters(namespace);
  const windowS = seconds(startMs, preciseNowMs());
  const perNode = (value: number) => value / windowS / members;
  const udpBytes = after.udp.bytes - before.udp.bytes;
  const tcpBytes = after.tcp.bytes - before.tcp.bytes;
  const packets = after.udp.packets - before.udp.packets + after.tcp.packets - before.tcp.packets;
  return {
    bytesPerSecondPerNode: perNode(udpBytes + tcpBytes),
    udpBytesPerSecondPerNode: perNode(udpBytes),
    tcpBytesPerSecondPerNode: perNode(tcpBytes),
    packetsPerSecondPerNode: perNode(packets),
    windowS,
  };
}

async function measureKill(cluster: BenchCluster, capMs: number): Promise<KillFigures> {
  const victim = randomItem(cluster.runningNames().filter((name) => name !== 'n0'));
  const startMs = preciseNowMs();
  cluster.crash(victim);
  const survivors = cluster.runningNames();
  const seen = await cluster.views.waitForViews(survivors, seesAs([victim], ['failed']), capMs);
  const times = [...seen.times.values()];
  const suspicions = cluster.views.suspicions.filter(
    (suspicion) => suspicion.subject === victim && suspicion.timeMs >= startMs,
  );
  return {
    victim,
    firstSuspectS: suspicions.length ? seconds(startMs, Math.min(...suspicions.map((s) => s.timeMs))) : null,
    firstFailedS: times.length ? seconds(startMs, Math.min(...times)) : null,
    allFailedS: seen.missing.length === 0 ? seconds(startMs, Math.max(...times)) : null,
    notDetected: seen.missing.length,
  };
}

async function measureLeave(cluster: BenchCluster, capMs: number): Promise<LeaveFigures> {
  const leaver = randomItem(cluster.runningNames().filter((name) => name !== 'n0'));
  const startMs = preciseNowMs();
  cluster.leave(leaver);
  const survivors = cluster.runningNames();
  const seen = await cluster.views.waitForViews(survivors, seesAs([leaver], ['left', 'failed']), capMs);
  let seenLeft = 0;
  let seenFailed = 0;
  for (const survivor of survivors) {
    const state = cluster.views.view(survivor).get(leaver);
    if (state === 'left') seenLeft++;
    else if (state === 'failed') seenFailed++;
  }
  const times = [...seen.times.values()];
  return {
    leaver,
    allS: seen.missing.length === 0 ? seconds(startMs, Math.max(...times)) : null,
    seenLeft,
    seenFailed,
    notSeen: seen.missing.length,
  };
}

/** One lifecycle run: join, then whichever of bandwidth, kill and leave are asked for. */
export async function runLifecycle(
  namespace: BenchNamespace,
  driver: MemberDriver,
  size: number,
  wanted: ReadonlySet<LifecycleScenarioId>,
  settings: ScenarioSettings,
  progress: Progress,
): Promise<LifecycleRun> {
  const { cluster, join } = await startCluster(namespace, driver, size, settings, progress);
  try {
    const run: LifecycleRun = { join, crashedMembers: [] };
    const needsQuiet = wanted.has('bandwidth') || wanted.has('kill') || wanted.has('leave');
    if (needsQuiet) await sleep(settings.settleMs);
    if (wanted.has('bandwidth')) {
      run.bandwidth = await measureBandwidth(namespace, cluster, settings.bandwidthWindowMs);
      progress(`${driver.id} N=${size}: ${run.bandwidth.bytesPerSecondPerNode.toFixed(0)} B/s/node`);
    }
    if (wanted.has('kill')) {
      run.kill = await measureKill(cluster, settings.detectCapMs);
      progress(
        `${driver.id} N=${size}: kill -9 ${run.kill.victim}: first failed ${run.kill.firstFailedS?.toFixed(2) ?? 'never'} s, all ${run.kill.allFailedS?.toFixed(2) ?? 'never'} s`,
      );
    }
    if (wanted.has('leave')) {
      if (wanted.has('kill')) await sleep(settings.settleMs);
      run.leave = await measureLeave(cluster, settings.detectCapMs);
      progress(
        `${driver.id} N=${size}: leave ${run.leave.leaver}: all know after ${run.leave.allS?.toFixed(2) ?? 'never'} s (left ${run.leave.seenLeft}, failed ${run.leave.seenFailed})`,
      );
    }
    run.crashedMembers = [...cluster.unexpectedExits];
    return run;
  } finally {
    await cluster.stop();
  }
}

/** One fault run: converge, apply the fault for `faultMs`, remove it, wait for whole views. */
export async function runFault(
  namespace: BenchNamespace,
  driver: MemberDriver,
  size: number,
  scenario: FaultScenarioId,
  settings: ScenarioSettings,
  progress: Progress,
): Promise<FaultRun> {
  const fault = FAULTS[scenario];
  const { cluster, join } = await startCluster(namespace, driver, size, settings, progress);
  let stress: CpuStress | undefined;
  let removeLoss: (() => void) | undefined;
  try {
    await sleep(settings.settleMs);
    const live = new Set(cluster.runningNames());
    const startMs = preciseNowMs();
    if (fault.cpuStress) stress = CpuStress.start();
    if (fault.lossProbability > 0) removeLoss = addRandomLoss(namespace, fault.lossProbability);
    progress(`${driver.id} N=${size}: ${scenario} for ${settings.faultMs / 1000} s`);
    await sleep(settings.faultMs);
    removeLoss?.();
    removeLoss = undefined;
    await stress?.stop();
    stress = undefined;
    const endMs = preciseNowMs();
    const names = cluster.runningNames();
    const whole = await cluster.views.waitForViews(names, listsAll(names), settings.reconvergeCapMs);
    const doneMs = preciseNowMs();
    const falseFailures = cluster.views
      .changesBetween(startMs, doneMs)
      .filter(
        (change) =>
          change.state === 'failed' && live.has(change.subject) && change.observer !== change.subject,
      );
    const suspicions = cluster.views.suspicionsBetween(startMs, doneMs);
    const suspectEvents = cluster.views
      .changesBetween(startMs, doneMs)
      .filter((change) => change.state === 'suspect').length;
    const times = [...whole.times.values()];
    const run: FaultRun = {
      scenario,
      faultS: seconds(startMs, endMs),
      notConvergedBefore: join.notConverged,
      falseFailures: falseFailures.length,
      falselyFailedMembers: new Set(falseFailures.map((change) => change.subject)).size,
      suspicions: new Set(suspicions.map((suspicion) => suspicion.key)).size,
      suspectEvents,
      reconvergeS: whole.missing.length === 0 ? Math.max(0, seconds(endMs, Math.max(...times))) : null,
      crashedMembers: [...cluster.unexpectedExits],
    };
    progress(
      `${driver.id} N=${size}: ${scenario}: ${run.falseFailures} false failures (${run.falselyFailedMembers} members), ` +
        `${run.suspicions} suspicions, whole again after ${run.reconvergeS?.toFixed(1) ?? 'never'} s`,
    );
    return run;
  } finally {
    removeLoss?.();
    await stress?.stop();
    await cluster.stop();
  }
}

/** One partition run: two halves cut apart until both see the split, then healed. */
export async function runPartition(
  namespace: BenchNamespace,
  driver: MemberDriver,
  size: number,
  settings: ScenarioSettings,
  progress: Progress,
): Promise<PartitionRun> {
  const { cluster } = await startCluster(namespace, driver, size, settings, progress, true);
  let heal: (() => void) | undefined;
  try {
    await sleep(settings.settleMs);
    const halves: [string[], string[]] = [[], []];
    cluster.names.forEach((name, index) => {
      halves[cluster.groupOf(index)].push(name);
    });
    const cutMs = preciseNowMs();
    heal = addPartition(namespace, PARTITION_GROUPS[0], PARTITION_GROUPS[1]);
    progress(`${driver.id} N=${size}: partition ${halves[0].length} + ${halves[1].length} cut`);
    const [sideA, sideB] = await Promise.all([
      cluster.views.waitForViews(halves[0], seesAs(halves[1], ['failed']), settings.partitionSplitCapMs),
      cluster.views.waitForViews(halves[1], seesAs(halves[0], ['failed']), settings.partitionSplitCapMs),
    ]);
    const splitTimes = [...sideA.times.values(), ...sideB.times.values()];
    const split = sideA.missing.length + sideB.missing.length === 0;
    await sleep(settings.partitionHoldMs);
    heal();
    heal = undefined;
    const healMs = preciseNowMs();
    progress(`${driver.id} N=${size}: partition healed after ${seconds(cutMs, healMs).toFixed(1)} s`);
    const names = cluster.runningNames();
    const whole = await cluster.views.waitForViews(names, listsAll(names), settings.healCapMs);
    const times = [...whole.times.values()];
    const run: PartitionRun = {
      splitS: split ? seconds(cutMs, Math.max(...splitTimes)) : null,
      healS: whole.missing.length === 0 ? Math.max(0, seconds(healMs, Math.max(...times))) : null,
      cutS: seconds(cutMs, healMs),
      crashedMembers: [...cluster.unexpectedExits],
    };
    progress(
      `${driver.id} N=${size}: split seen after ${run.splitS?.toFixed(1) ?? 'never'} s, ` +
        `one membership ${run.healS?.toFixed(1) ?? 'never'} s after the heal`,
    );
    return run;
  } finally {
    heal?.();
    await cluster.stop();
  }
}
