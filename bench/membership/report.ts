/**
 * The membership benchmark's results as data (what `--json` prints) and as text: one table per
 * scenario with the sniffmesh figure, Serf's, their ratio, the issue's target and PASS/FAIL. Figures
 * are medians over runs; a run in which something never happened within its cap counts as infinite
 * ("never"), so one stuck run shows up in the median instead of vanishing from it. A target of a
 * scenario that was asked for is always listed: without the figures it needs it is "could not judge",
 * with the reason (the run's error, a missing peer), never silently absent.
 */

import {
  decidingReason,
  formatTargets,
  type NoVerdict,
  type TargetResult,
  type TargetVerdict,
} from '../common/targets.js';
import type { ImplementationId } from './member-driver.js';
import type { FaultRun, FaultScenarioId, LifecycleRun, PartitionRun, ScenarioId } from './scenarios.js';

/** Targets are judged at these sizes and up by default (issue 3: "N = 30 and 60 unless said"). */
export const TARGET_MIN_SIZE = 30;
const FAULT_SCENARIO_IDS: readonly FaultScenarioId[] = ['cpu', 'loss10', 'loss10-cpu', 'loss30'];
const JOIN_RATIO_TARGET = 1.2;
const LEAVE_TARGET_S = 1;
const HEAL_TARGET_S = 30;
const RECONVERGE_TARGET_S = 60;
/** "Flat as N grows": largest over smallest bytes/s/node across the sizes run. */
const BANDWIDTH_FLATNESS_TARGET = 1.25;

export interface ImplementationResults {
  lifecycle: LifecycleRun[];
  faults: Partial<Record<FaultScenarioId, FaultRun[]>>;
  partition: PartitionRun[];
  /** Runs that could not be completed (cluster did not start, ...). */
  errors: string[];
}

export interface SizeResults {
  size: number;
  implementations: Partial<Record<ImplementationId, ImplementationResults>>;
}

export interface BenchResults {
  startedAt: string;
  machine: { cpus: number; loadAverageStart: number[]; loadAverageEnd: number[] };
  implementations: { id: ImplementationId; description: string }[];
  scenarios: ScenarioId[];
  settings: Record<string, number | boolean>;
  /** Targets are judged at these sizes and up; smaller sizes show figures only. */
  judgeFromSize: number;
  sizes: SizeResults[];
  targets: MembershipTarget[];
}

/** What the table's last column says: a target's verdict, `info` below the judged sizes. */
type RowVerdict = 'PASS' | 'FAIL' | 'UNJUDGED' | 'info';

export interface MembershipTarget extends TargetResult {
  scenario: ScenarioId;
  /** 0 for a target over all sizes (bandwidth flatness). */
  size: number;
}

interface Row {
  size: number;
  metric: string;
  sniffmesh: string;
  serf: string;
  ratio: string;
  target: string;
  verdict: RowVerdict | '';
}

type Extract = (results: ImplementationResults) => (number | null | undefined)[];

/** Median with `null` (never) as +Infinity; undefined values (not measured) are left out. */
export function medianOf(values: readonly (number | null | undefined)[]): number | undefined {
  const numbers = values
    .filter((value): value is number | null => value !== undefined)
    .map((value) => (value === null ? Number.POSITIVE_INFINITY : value))
    .sort((a, b) => a - b);
  if (numbers.length === 0) return undefined;
  const middle = numbers.length >> 1;
  if (numbers.length % 2) return numbers[middle];
  const [low, high] = [numbers[middle - 1], numbers[middle]];
  return high === Number.POSITIVE_INFINITY ? high : (low + high) / 2;
}

function show(value: number | undefined, digits: number): string {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (value === Number.POSITIVE_INFINITY) return 'never';
  return value.toFixed(digits);
}

function ratioText(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return '-';
  if (b === 0) return a === 0 ? '1.00' : '-';
  return (a / b).toFixed(2);
}

function figure(size: SizeResults, id: ImplementationId, extract: Extract): number | undefined {
  const results = size.implementations[id];
  return results ? medianOf(extract(results)) : undefined;
}

const ROW_VERDICTS: Record<TargetVerdict, RowVerdict | ''> = {
  pass: 'PASS',
  fail: 'FAIL',
  unjudged: 'UNJUDGED',
  'not-in-run': '',
};

interface MetricTarget {
  text: string;
  /** The target compares with Serf's figure (so it cannot be judged without one). */
  needsSerf: boolean;
  /** The check on (sniffmesh median, Serf median; the latter undefined when not needed). */
  check: (sniffmesh: number, serf: number) => boolean;
}

interface Metric {
  label: string;
  extract: Extract;
  digits: number;
  /** The target; absent = context only. */
  target?: MetricTarget;
}

const NOT_ABOVE_SERF: MetricTarget = { text: '<= Serf', needsSerf: true, check: (s, serf) => s <= serf };

function upTo(limit: number, unit: string): MetricTarget {
  return { text: `<= ${limit}${unit}`, needsSerf: false, check: (s) => s <= limit };
}

const lifecycle =
  (pick: (run: LifecycleRun) => number | null | undefined): Extract =>
  (results) =>
    results.lifecycle.map(pick);
const fault =
  (scenario: FaultScenarioId, pick: (run: FaultRun) => number | null): Extract =>
  (results) =>
    (results.faults[scenario] ?? []).map(pick);
const partition =
  (pick: (run: PartitionRun) => number | null): Extract =>
  (results) =>
    results.partition.map(pick);

function faultMetrics(scenario: FaultScenarioId): Metric[] {
  const metrics: Metric[] = [
    {
      label: 'false failure observations',
      extract: fault(scenario, (run) => run.falseFailures),
      digits: 0,
      target: scenario === 'loss30' ? NOT_ABOVE_SERF : upTo(0, ''),
    },
    {
      label: 'live members marked failed',
      extract: fault(scenario, (run) => run.falselyFailedMembers),
      digits: 0,
    },
    { label: 'suspicions', extract: fault(scenario, (run) => run.suspicions), digits: 0 },
    {
      label: 'suspect events seen by the app',
      extract: fault(scenario, (run) => run.suspectEvents),
      digits: 0,
    },
    {
      label: 'whole views again after (s)',
      extract: fault(scenario, (run) => run.reconvergeS),
      digits: 1,
      target: scenario === 'loss30' ? upTo(RECONVERGE_TARGET_S, ' s') : undefined,
    },
  ];
  return metrics;
}

const SCENARIO_TITLES: Record<ScenarioId, string> = {
  join: "Simultaneous join, 1 seed (from the last member's join, i.e. first listed by a peer)",
  kill: 'kill -9 of a random non-seed member (from the kill)',
  leave: 'Graceful leave (SIGTERM; Serf: SIGINT, its graceful signal)',
  bandwidth: 'Gossip traffic in steady state (IP bytes of UDP + TCP sent)',
  cpu: 'CPU saturated (stress-ng, 2 workers per core)',
  loss10: '10% packet loss',
  'loss10-cpu': '10% packet loss + CPU saturated',
  loss30: '30% packet loss, then loss removed',
  partition: 'Partition into two halves, then heal',
};

/** The scenario's name in a target line. */
const SCENARIO_NAMES: Record<ScenarioId, string> = {
  join: 'join',
  kill: 'kill -9',
  leave: 'graceful leave',
  bandwidth: 'gossip bandwidth',
  cpu: 'CPU saturated',
  loss10: '10% loss',
  'loss10-cpu': '10% loss + CPU',
  loss30: '30% loss',
  partition: 'partition',
};

function metricsFor(scenario: ScenarioId): Metric[] {
  switch (scenario) {
    case 'join':
      return [
        {
          label: 'all members list all N (s)',
          extract: lifecycle((run) => run.join.allS),
          digits: 2,
          target: {
            text: `<= ${JOIN_RATIO_TARGET}x Serf`,
            needsSerf: true,
            check: (s, serf) => s <= JOIN_RATIO_TARGET * serf,
          },
        },
        { label: 'median member (s)', extract: lifecycle((run) => run.join.medianNodeS), digits: 2 },
        {
          label: 'members not converged in cap',
          extract: lifecycle((run) => run.join.notConverged),
          digits: 0,
        },
        { label: 'start-up of N-1 processes (s)', extract: lifecycle((run) => run.join.startupS), digits: 2 },
      ];
    case 'kill':
      return [
        { label: 'first suspect (s)', extract: lifecycle((run) => run.kill?.firstSuspectS), digits: 2 },
        { label: 'first failed (s)', extract: lifecycle((run) => run.kill?.firstFailedS), digits: 2 },
        {
          label: 'all survivors failed (s)',
          extract: lifecycle((run) => run.kill?.allFailedS),
          digits: 2,
          target: NOT_ABOVE_SERF,
        },
      ];
    case 'leave':
      return [
        {
          label: 'all survivors know (s)',
          extract: lifecycle((run) => run.leave?.allS),
          digits: 2,
          target: upTo(LEAVE_TARGET_S, ' s'),
        },
        {
          label: 'survivors that saw "left" (%)',
          extract: lifecycle((run) =>
            run.leave
              ? (100 * run.leave.seenLeft) / (run.leave.seenLeft + run.leave.seenFailed + run.leave.notSeen)
              : undefined,
          ),
          digits: 0,
          target: { text: '100 %', needsSerf: false, check: (s) => s === 100 },
        },
      ];
    case 'bandwidth':
      return [
        {
          label: 'bytes/s per member',
          extract: lifecycle((run) => run.bandwidth?.bytesPerSecondPerNode),
          digits: 0,
          target: NOT_ABOVE_SERF,
        },
        {
          label: '  of which UDP',
          extract: lifecycle((run) => run.bandwidth?.udpBytesPerSecondPerNode),
          digits: 0,
        },
        {
          label: '  of which TCP',
          extract: lifecycle((run) => run.bandwidth?.tcpBytesPerSecondPerNode),
          digits: 0,
        },
        {
          label: 'packets/s per member',
          extract: lifecycle((run) => run.bandwidth?.packetsPerSecondPerNode),
          digits: 1,
        },
      ];
    case 'partition':
      return [
        { label: 'both sides see the split (s)', extract: partition((run) => run.splitS), digits: 1 },
        {
          label: 'one membership after heal (s)',
          extract: partition((run) => run.healS),
          digits: 1,
          target: upTo(HEAL_TARGET_S, ' s'),
        },
      ];
    default:
      return faultMetrics(scenario);
  }
}

/** Why `id` has no figure at this size: left out of the run, or the errors of its runs. */
function missingFigure(results: BenchResults, size: SizeResults, id: ImplementationId): NoVerdict {
  if (!results.implementations.some((implementation) => implementation.id === id))
    return { verdict: 'not-in-run', why: `${id} left out of this run (--impls)` };
  const errors = size.implementations[id]?.errors ?? [];
  const first = errors[0]?.split('\n')[0];
  return { verdict: 'unjudged', why: `no ${id} figure at N=${size.size}${first ? `: ${first}` : ''}` };
}

function judgeMetric(
  results: BenchResults,
  size: SizeResults,
  target: MetricTarget,
  digits: number,
  sniffmesh: number | undefined,
  serf: number | undefined,
): { verdict: TargetVerdict; detail: string } {
  const reason = decidingReason(
    sniffmesh === undefined ? missingFigure(results, size, 'sniffmesh') : undefined,
    target.needsSerf && serf === undefined ? missingFigure(results, size, 'serf') : undefined,
  );
  if (reason) return { verdict: reason.verdict, detail: reason.why };
  const pass = target.check(sniffmesh!, serf ?? Number.NaN);
  const serfText = target.needsSerf ? `, Serf ${show(serf, digits)}` : '';
  return { verdict: pass ? 'pass' : 'fail', detail: `sniffmesh ${show(sniffmesh, digits)}${serfText}` };
}

function rowsFor(results: BenchResults, scenario: ScenarioId, targets: MembershipTarget[]): Row[] {
  const rows: Row[] = [];
  for (const size of results.sizes) {
    for (const metric of metricsFor(scenario)) {
      const sniffmesh = figure(size, 'sniffmesh', metric.extract);
      const serf = figure(size, 'serf', metric.extract);
      const inScope = metric.target !== undefined && size.size >= results.judgeFromSize;
      if (sniffmesh === undefined && serf === undefined && !inScope) continue;
      let verdict: RowVerdict | '' = '';
      if (metric.target && !inScope) verdict = 'info';
      if (metric.target && inScope) {
        const outcome = judgeMetric(results, size, metric.target, metric.digits, sniffmesh, serf);
        verdict = ROW_VERDICTS[outcome.verdict];
        targets.push({
          scenario,
          size: size.size,
          description: `N=${size.size} ${SCENARIO_NAMES[scenario]}: ${metric.label.trim()} ${metric.target.text}`,
          verdict: outcome.verdict,
          detail: outcome.detail,
        });
      }
      rows.push({
        size: size.size,
        metric: metric.label,
        sniffmesh: show(sniffmesh, metric.digits),
        serf: show(serf, metric.digits),
        ratio: ratioText(sniffmesh, serf),
        target: metric.target?.text ?? '',
        verdict,
      });
    }
  }
  return rows;
}

/** Bandwidth flatness: sniffmesh's largest over smallest bytes/s/member across the sizes run. */
function flatnessRow(results: BenchResults, targets: MembershipTarget[]): Row | undefined {
  const description = `gossip bandwidth: bytes/s/member flat as N grows (largest/smallest <= ${BANDWIDTH_FLATNESS_TARGET})`;
  const target = (verdict: TargetVerdict, detail: string) =>
    targets.push({ scenario: 'bandwidth', size: 0, description, verdict, detail });
  const perSize = (id: ImplementationId) =>
    results.sizes.map((size) =>
      figure(
        size,
        id,
        lifecycle((run) => run.bandwidth?.bytesPerSecondPerNode),
      ),
    );
  const usable = (values: (number | undefined)[]) =>
    values.filter((value): value is number => value !== undefined && Number.isFinite(value) && value > 0);
  if (results.sizes.length < 2) {
    target('not-in-run', 'needs two or more --sizes');
    return undefined;
  }
  const spread = (list: number[]) => (list.length < 2 ? undefined : Math.max(...list) / Math.min(...list));
  const values = perSize('sniffmesh');
  const missingIndex = values.findIndex((value) => usable([value]).length === 0);
  const sniffmesh = missingIndex < 0 ? spread(usable(values)) : undefined;
  let verdict: RowVerdict = 'UNJUDGED';
  if (sniffmesh === undefined) {
    const missing = missingFigure(results, results.sizes[missingIndex], 'sniffmesh');
    target(missing.verdict, missing.why);
  } else {
    const pass = sniffmesh <= BANDWIDTH_FLATNESS_TARGET;
    verdict = pass ? 'PASS' : 'FAIL';
    target(pass ? 'pass' : 'fail', `sniffmesh ${show(sniffmesh, 2)}`);
  }
  return {
    size: 0,
    metric: 'largest/smallest over sizes',
    sniffmesh: show(sniffmesh, 2),
    serf: show(spread(usable(perSize('serf'))), 2),
    ratio: '',
    target: `<= ${BANDWIDTH_FLATNESS_TARGET}`,
    verdict,
  };
}

function table(rows: readonly Row[]): string {
  const header = ['N', 'metric', 'sniffmesh', 'serf', 'ratio', 'target', ''];
  const cells = rows.map((row) => [
    row.size === 0 ? 'all' : String(row.size),
    row.metric,
    row.sniffmesh,
    row.serf,
    row.ratio,
    row.target,
    row.verdict,
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((line) => line[column].length)),
  );
  const format = (line: string[]) =>
    line
      .map((cell, column) =>
        column <= 1 || column >= 5 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]),
      )
      .join('  ')
      .trimEnd();
  return [format(header), ...cells.map(format)].join('\n');
}

/** Builds the target list (stored in results.targets) and returns the text report. */
export function formatReport(results: BenchResults): string {
  const targets: MembershipTarget[] = [];
  const sections: string[] = [
    'Membership benchmark: sniffmesh against Serf, members as processes on loopback in one namespace',
    ...results.implementations.map(
      (implementation) => `  ${implementation.id}: ${implementation.description}`,
    ),
    `  ${results.machine.cpus} CPUs, load ${results.machine.loadAverageStart.map((v) => v.toFixed(2)).join(' ')} at start, ` +
      `${results.machine.loadAverageEnd.map((v) => v.toFixed(2)).join(' ')} at end`,
  ];
  if (results.judgeFromSize !== TARGET_MIN_SIZE)
    sections.push(
      `  targets judged at N >= ${results.judgeFromSize} (the issue's targets are for N >= ${TARGET_MIN_SIZE}: ` +
        'a smoke run judges that the benchmark still measures, not the issue)',
    );
  for (const scenario of results.scenarios) {
    const rows = rowsFor(results, scenario, targets);
    if (scenario === 'bandwidth') {
      const flat = flatnessRow(results, targets);
      if (flat) rows.push(flat);
    }
    if (rows.length === 0) continue;
    sections.push('', SCENARIO_TITLES[scenario], table(rows));
  }
  if (results.scenarios.some((scenario) => (FAULT_SCENARIO_IDS as readonly string[]).includes(scenario)))
    sections.push(
      '',
      'Notes: a false failure observation = one member marking a live member failed. "suspicions" are not',
      'the same count for both: Serf logs only the probes that ended in a suspicion (memberlist, INFO), sniffmesh',
      'reports every suspected (member, incarnation); Serf never shows suspicion to the application.',
    );
  const problems: string[] = [];
  for (const size of results.sizes) {
    for (const [id, implementation] of Object.entries(size.implementations)) {
      for (const error of implementation.errors)
        problems.push(`  ${id} N=${size.size}: ${error.split('\n')[0]}`);
      const crashed = [
        ...implementation.lifecycle.flatMap((run) => run.crashedMembers),
        ...Object.values(implementation.faults).flatMap((runs) => runs.flatMap((run) => run.crashedMembers)),
        ...implementation.partition.flatMap((run) => run.crashedMembers),
      ];
      if (crashed.length)
        problems.push(`  ${id} N=${size.size}: members exited on their own: ${crashed.join(', ')}`);
    }
  }
  if (problems.length) sections.push('', 'Problems', ...problems);
  sections.push('', formatTargets(targets));
  results.targets = targets;
  return sections.join('\n');
}
