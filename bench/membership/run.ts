/**
 * `npm run bench:membership`: sniffmesh's membership against HashiCorp Serf, side by side, with members
 * as separate processes on the loopback of one network namespace the benchmark creates (so its
 * iptables loss, partition and counting rules touch nothing else). The two implementations never run at
 * the same time (2 cores). Progress goes to stderr; the report, or with --json one JSON object, to
 * stdout. `--help` lists every flag with its default and the exit codes (common/targets.ts).
 */

import { existsSync, statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import type { Command } from 'commander';
import { SniffmeshError, UsageError } from '../../src/util/errors.js';
import {
  type BenchOutcome,
  benchCommand,
  choiceListArgument,
  integerArgument,
  integerListArgument,
  progressLine,
  quickOr,
  runBench,
  valueOption,
} from '../common/bench-command.js';
import { MAX_CLUSTER_SIZE, PARTITION_GROUPS, RPC_PORT_RANGE } from './bench-cluster.js';
import { BenchNamespace } from './bench-namespace.js';
import { killAllChildren } from './child-processes.js';
import { ALL_IMPLEMENTATIONS, type ImplementationId, type MemberDriver } from './member-driver.js';
import { installTrafficCounters } from './packet-rules.js';
import {
  type BenchResults,
  formatReport,
  type ImplementationResults,
  type SizeResults,
  TARGET_MIN_SIZE,
} from './report.js';
import {
  ALL_SCENARIOS,
  FAULT_SCENARIOS,
  FULL_SETTINGS,
  type LifecycleScenarioId,
  QUICK_SETTINGS,
  runFault,
  runLifecycle,
  runPartition,
  type ScenarioId,
  type ScenarioSettings,
} from './scenarios.js';
import { SerfDriver } from './serf-driver.js';
import { SniffmeshDriver } from './sniffmesh-driver.js';

const NAME = 'bench:membership';
const LIFECYCLE_SCENARIOS: readonly LifecycleScenarioId[] = ['join', 'kill', 'leave', 'bandwidth'];
const MIN_CLUSTER_SIZE = 3;
/** --quick: the smallest run that still judges real targets (join and leave, against Serf). */
const QUICK_SIZES = [5];
const QUICK_SCENARIOS: ScenarioId[] = ['join', 'leave'];

interface BenchOptions {
  sizes: number[];
  scenarios: ScenarioId[];
  implementations: ImplementationId[];
  runs: number;
  slowRuns: number;
  settings: ScenarioSettings;
  judgeFromSize: number;
  sniffmeshArgs: string[];
  quick: boolean;
  json: boolean;
}

function command(): Command {
  return benchCommand(
    NAME,
    'sniffmesh membership against HashiCorp Serf, side by side, members as processes in a network namespace',
    `Measures, per cluster size N (members on the loopback of a namespace the benchmark creates; needs root,
iproute2, iptables; serf and stress-ng as peers):
  join       simultaneous join through 1 seed: until all list all N     target <= 1.2x Serf
  kill       kill -9 of one member: until all survivors see it failed   target <= Serf
  leave      graceful leave: until all survivors know; share seen left  targets <= 1 s, 100 %
  bandwidth  gossip bytes/s per member in steady state                  targets <= Serf, flat over N
  cpu, loss10, loss10-cpu, loss30   faults for --stress-seconds: false failures (0; loss30 <= Serf),
             whole views again after loss30 (<= 60 s)
  partition  two halves cut apart, then healed: one membership again    target <= 30 s
Targets are judged at N >= --judge-from (figures only below). --quick: N=${QUICK_SIZES.join(',')}, join and leave,
1 run, short caps, targets judged at N >= ${QUICK_SIZES[0]} (a smoke run; flags given explicitly still win).`,
  )
    .addOption(
      valueOption(
        '--sizes <list>',
        `cluster sizes, ${MIN_CLUSTER_SIZE}..${MAX_CLUSTER_SIZE}`,
        integerListArgument(MIN_CLUSTER_SIZE, MAX_CLUSTER_SIZE),
        [10, 30, 60],
      ),
    )
    .addOption(
      valueOption('--scenarios <list>', 'which scenarios (above)', choiceListArgument(ALL_SCENARIOS), [
        ...ALL_SCENARIOS,
      ]),
    )
    .addOption(
      valueOption('--impls <list>', 'which implementations', choiceListArgument(ALL_IMPLEMENTATIONS), [
        ...ALL_IMPLEMENTATIONS,
      ]),
    )
    .addOption(
      valueOption('--runs <N>', 'runs of join/kill/leave/bandwidth (medians)', integerArgument(1), 3),
    )
    .addOption(
      valueOption('--slow-runs <N>', 'runs of the fault and partition scenarios', integerArgument(1), 1),
    )
    .addOption(
      valueOption(
        '--stress-seconds <S>',
        'how long each fault lasts',
        integerArgument(1),
        FULL_SETTINGS.faultMs / 1000,
      ),
    )
    .addOption(
      valueOption(
        '--judge-from <N>',
        'judge targets at cluster sizes N and up',
        integerArgument(MIN_CLUSTER_SIZE),
        TARGET_MIN_SIZE,
      ),
    )
    .addOption(
      valueOption(
        '--sniffmesh-args <args>',
        'extra arguments for every sniffmesh agent (e.g. "--gossip-key-file F")',
        String,
        '',
      ),
    )
    .option('--quick', 'smoke run (see below)')
    .option('--json', 'print one JSON object instead of the report');
}

/**
 * The partition scenario runs members as other uids (PARTITION_GROUPS): a gossip key file they cannot
 * read would make every one of them exit at start, after the minutes of the scenarios before it.
 */
function checkKeyFileReadable(sniffmeshArgs: readonly string[], scenarios: readonly ScenarioId[]): void {
  const index = sniffmeshArgs.indexOf('--gossip-key-file');
  const file = index >= 0 ? sniffmeshArgs[index + 1] : undefined;
  if (file === undefined || !scenarios.includes('partition') || !existsSync(file)) return;
  if ((statSync(file).mode & 0o004) === 0)
    throw new UsageError(
      `--sniffmesh-args: the partition scenario runs members as uids ${PARTITION_GROUPS.map((group) => group.uid).join(' and ')}, ` +
        `which cannot read ${file} (chmod o+r ${file}, or leave partition out of --scenarios)`,
    );
}

function optionsFrom(program: Command): BenchOptions {
  const quick = program.getOptionValue('quick') === true;
  const base = quick ? QUICK_SETTINGS : FULL_SETTINGS;
  const stressSeconds = quickOr(program, 'stressSeconds', quick, QUICK_SETTINGS.faultMs / 1000);
  const sizes = quickOr(program, 'sizes', quick, QUICK_SIZES);
  const scenarios = quickOr(program, 'scenarios', quick, QUICK_SCENARIOS);
  const sniffmeshArgs = (program.getOptionValue('sniffmeshArgs') as string).split(/\s+/).filter(Boolean);
  checkKeyFileReadable(sniffmeshArgs, scenarios);
  return {
    sizes,
    scenarios,
    implementations: program.getOptionValue('impls') as ImplementationId[],
    runs: quickOr(program, 'runs', quick, 1),
    slowRuns: program.getOptionValue('slowRuns') as number,
    settings: { ...base, faultMs: stressSeconds * 1000 },
    judgeFromSize: quickOr(program, 'judgeFrom', quick, Math.min(...QUICK_SIZES)),
    sniffmeshArgs,
    quick,
    json: program.getOptionValue('json') === true,
  };
}

function emptyResults(): ImplementationResults {
  return { lifecycle: [], faults: {}, partition: [], errors: [] };
}

async function attempt(
  results: ImplementationResults,
  label: string,
  progress: (message: string) => void,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof SniffmeshError)) throw error;
    results.errors.push(`${label}: ${error.message}`);
    progress(`${label} failed: ${error.message}`);
  }
}

/**
 * Runs every asked-for scenario at every size. A driver in `unavailable` (its tool missing) runs
 * nothing: its reason becomes every size's error, so the targets that need it say why they are unjudged.
 */
async function runBenchmark(
  options: BenchOptions,
  allDrivers: MemberDriver[],
  unavailable: ReadonlyMap<ImplementationId, string>,
  namespace: BenchNamespace,
  progress: (message: string) => void,
): Promise<SizeResults[]> {
  const drivers = allDrivers.filter((driver) => !unavailable.has(driver.id));
  const wantedLifecycle = new Set(LIFECYCLE_SCENARIOS.filter((id) => options.scenarios.includes(id)));
  const wantedFaults = FAULT_SCENARIOS.filter((id) => options.scenarios.includes(id));
  const sizes: SizeResults[] = [];
  for (const size of options.sizes) {
    const sizeResults: SizeResults = { size, implementations: {} };
    sizes.push(sizeResults);
    for (const driver of allDrivers) sizeResults.implementations[driver.id] = emptyResults();
    for (const [id, why] of unavailable)
      sizeResults.implementations[id]!.errors.push(`${id} cannot run: ${why}`);
    const resultsOf = (driver: MemberDriver) => sizeResults.implementations[driver.id]!;
    // Implementations alternate run by run, so a noisy neighbour hurts both alike.
    if (wantedLifecycle.size > 0) {
      for (let run = 0; run < options.runs; run++) {
        // The bandwidth window runs once per size (it is long and steady).
        const wanted = new Set(wantedLifecycle);
        if (run > 0) wanted.delete('bandwidth');
        if (wanted.size === 0) continue;
        for (const driver of drivers) {
          progress(`N=${size} lifecycle run ${run + 1}/${options.runs}: ${driver.id}`);
          await attempt(resultsOf(driver), `lifecycle run ${run + 1}`, progress, async () => {
            resultsOf(driver).lifecycle.push(
              await runLifecycle(namespace, driver, size, wanted, options.settings, progress),
            );
          });
        }
      }
    }
    for (const scenario of wantedFaults) {
      for (let run = 0; run < options.slowRuns; run++) {
        for (const driver of drivers) {
          await attempt(resultsOf(driver), `${scenario} run ${run + 1}`, progress, async () => {
            const run = await runFault(namespace, driver, size, scenario, options.settings, progress);
            const faults = resultsOf(driver).faults;
            faults[scenario] = [...(faults[scenario] ?? []), run];
          });
        }
      }
    }
    if (options.scenarios.includes('partition')) {
      for (let run = 0; run < options.slowRuns; run++) {
        for (const driver of drivers) {
          await attempt(resultsOf(driver), `partition run ${run + 1}`, progress, async () => {
            resultsOf(driver).partition.push(
              await runPartition(namespace, driver, size, options.settings, progress),
            );
          });
        }
      }
    }
  }
  return sizes;
}

async function run(options: BenchOptions): Promise<BenchOutcome> {
  const progress = progressLine(NAME);
  let namespace: BenchNamespace | undefined;
  const cleanUp = () => {
    killAllChildren();
    namespace?.destroy();
  };
  process.on('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      progress(`${signal}: stopping every member and removing the namespace`);
      cleanUp();
      process.exit(130);
    });
  }
  try {
    const drivers: MemberDriver[] = options.implementations.map((id) =>
      id === 'serf' ? new SerfDriver() : new SniffmeshDriver(options.sniffmeshArgs),
    );
    const unavailable = new Map<ImplementationId, string>();
    for (const driver of drivers) {
      try {
        driver.checkAvailable();
      } catch (error) {
        if (!(error instanceof SniffmeshError)) throw error;
        unavailable.set(driver.id, error.message);
        progress(`${driver.id} cannot run: ${error.message}`);
      }
    }
    namespace = BenchNamespace.create();
    installTrafficCounters(namespace, RPC_PORT_RANGE);
    progress(
      `namespace ${namespace.name}; sizes ${options.sizes.join(',')}; scenarios ${options.scenarios.join(',')}; ` +
        `${options.runs} run(s), ${options.slowRuns} for faults/partition; faults last ${options.settings.faultMs / 1000} s`,
    );
    const loadAverageStart = loadavg();
    const startedAt = new Date().toISOString();
    const sizes = await runBenchmark(options, drivers, unavailable, namespace, progress);
    const results: BenchResults = {
      startedAt,
      machine: { cpus: availableParallelism(), loadAverageStart, loadAverageEnd: loadavg() },
      implementations: drivers.map((driver) => ({ id: driver.id, description: driver.describe() })),
      scenarios: options.scenarios,
      settings: { ...options.settings, runs: options.runs, slowRuns: options.slowRuns, quick: options.quick },
      judgeFromSize: options.judgeFromSize,
      sizes,
      targets: [],
    };
    const text = formatReport(results);
    return {
      output: options.json ? JSON.stringify(results, null, 2) : text,
      targets: results.targets,
    };
  } finally {
    cleanUp();
  }
}

process.exit(await runBench(command(), process.argv.slice(2), optionsFrom, run));
