/**
 * `npm run bench:membership`: sniffmesh's membership against HashiCorp Serf, side by side, with members
 * as separate processes on the loopback of one network namespace the benchmark creates (so its
 * iptables loss, partition and counting rules touch nothing else). The two implementations never run at
 * the same time (2 cores). Progress goes to stderr; the report, or with --json one JSON object, to
 * stdout. Options (after `npm run bench:membership --`):
 *
 *   --sizes LIST          cluster sizes (default 10,30,60)
 *   --scenarios LIST      join,kill,leave,bandwidth,cpu,loss10,loss10-cpu,loss30,partition (default all)
 *   --impls LIST          sniffmesh,serf (default both)
 *   --runs N              runs of join/kill/leave/bandwidth (default 3)
 *   --slow-runs N         runs of the fault and partition scenarios (default 1)
 *   --stress-seconds S    how long each fault lasts (default 120)
 *   --sniffmesh-args STR  extra arguments for every sniffmesh agent (e.g. "--gossip-key-file /tmp/key")
 *   --quick               smoke run: N=5, 1 run, short faults and caps
 *   --json                machine-readable output
 */

import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { SniffmeshError, UsageError } from '../../src/util/errors.js';
import { MAX_CLUSTER_SIZE, RPC_PORT_RANGE } from './bench-cluster.js';
import { BenchNamespace } from './bench-namespace.js';
import { killAllChildren } from './child-processes.js';
import { ALL_IMPLEMENTATIONS, type ImplementationId, type MemberDriver } from './member-driver.js';
import { installTrafficCounters } from './packet-rules.js';
import { type BenchResults, formatReport, type ImplementationResults, type SizeResults } from './report.js';
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

const LIFECYCLE_SCENARIOS: readonly LifecycleScenarioId[] = ['join', 'kill', 'leave', 'bandwidth'];
const QUICK_SIZE = 5;

interface BenchOptions {
  sizes: number[];
  scenarios: ScenarioId[];
  implementations: ImplementationId[];
  runs: number;
  slowRuns: number;
  settings: ScenarioSettings;
  sniffmeshArgs: string[];
  quick: boolean;
  json: boolean;
}

function integer(flag: string, text: string | undefined, fallback: number, minimum: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum)
    throw new UsageError(`--${flag} must be an integer >= ${minimum}, got '${text}'`);
  return value;
}

function list<T extends string>(flag: string, text: string | undefined, allowed: readonly T[]): T[] {
  if (text === undefined) return [...allowed];
  const items = text.split(',').map((item) => item.trim()) as T[];
  for (const item of items)
    if (!allowed.includes(item)) throw new UsageError(`--${flag} takes ${allowed.join(', ')}; got '${item}'`);
  return items;
}

function parseOptions(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: 'string' },
      scenarios: { type: 'string' },
      impls: { type: 'string' },
      runs: { type: 'string' },
      'slow-runs': { type: 'string' },
      'stress-seconds': { type: 'string' },
      'sniffmesh-args': { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const quick = values.quick ?? false;
  const sizes = (values.sizes ?? (quick ? String(QUICK_SIZE) : '10,30,60')).split(',').map((text) => {
    const size = Number(text);
    if (!Number.isInteger(size) || size < 3 || size > MAX_CLUSTER_SIZE)
      throw new UsageError(`--sizes takes integers 3..${MAX_CLUSTER_SIZE}; got '${text}'`);
    return size;
  });
  const base = quick ? QUICK_SETTINGS : FULL_SETTINGS;
  const stressSeconds = integer('stress-seconds', values['stress-seconds'], base.faultMs / 1000, 1);
  return {
    sizes,
    scenarios: list('scenarios', values.scenarios, ALL_SCENARIOS),
    implementations: list('impls', values.impls, ALL_IMPLEMENTATIONS),
    runs: integer('runs', values.runs, quick ? 1 : 3, 1),
    slowRuns: integer('slow-runs', values['slow-runs'], 1, 1),
    settings: { ...base, faultMs: stressSeconds * 1000 },
    sniffmeshArgs: (values['sniffmesh-args'] ?? '').split(/\s+/).filter(Boolean),
    quick,
    json: values.json ?? false,
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

async function runBenchmark(
  options: BenchOptions,
  drivers: MemberDriver[],
  namespace: BenchNamespace,
  progress: (message: string) => void,
): Promise<SizeResults[]> {
  const wantedLifecycle = new Set(LIFECYCLE_SCENARIOS.filter((id) => options.scenarios.includes(id)));
  const wantedFaults = FAULT_SCENARIOS.filter((id) => options.scenarios.includes(id));
  const sizes: SizeResults[] = [];
  for (const size of options.sizes) {
    const sizeResults: SizeResults = { size, implementations: {} };
    sizes.push(sizeResults);
    for (const driver of drivers) sizeResults.implementations[driver.id] = emptyResults();
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

async function main(): Promise<void> {
  const progress = (message: string) => process.stderr.write(`bench:membership: ${message}\n`);
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    progress((error as Error).message);
    process.exit(2);
  }
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
    for (const driver of drivers) driver.checkAvailable();
    namespace = BenchNamespace.create();
    installTrafficCounters(namespace, RPC_PORT_RANGE);
    progress(
      `namespace ${namespace.name}; sizes ${options.sizes.join(',')}; scenarios ${options.scenarios.join(',')}; ` +
        `${options.runs} run(s), ${options.slowRuns} for faults/partition; faults last ${options.settings.faultMs / 1000} s`,
    );
    const loadAverageStart = loadavg();
    const startedAt = new Date().toISOString();
    const sizes = await runBenchmark(options, drivers, namespace, progress);
    const results: BenchResults = {
      startedAt,
      machine: { cpus: availableParallelism(), loadAverageStart, loadAverageEnd: loadavg() },
      implementations: drivers.map((driver) => ({ id: driver.id, description: driver.describe() })),
      scenarios: options.scenarios,
      settings: { ...options.settings, runs: options.runs, slowRuns: options.slowRuns, quick: options.quick },
      sizes,
      targets: [],
    };
    const text = formatReport(results);
    process.stdout.write(options.json ? `${JSON.stringify(results, null, 2)}\n` : `${text}\n`);
  } catch (error) {
    progress((error as Error).message);
    process.exitCode = error instanceof SniffmeshError ? error.exitCode : 1;
  } finally {
    cleanUp();
  }
}

await main();
