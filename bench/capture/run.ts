/**
 * `npm run bench:capture`: the reproducible benchmark of sniffmesh against tcpdump, tshark and pmacctd
 * on a generated capture (see generate-capture.ts and offline-benchmark.ts), with correctness against
 * the ground truth and memory use at ten times the flows; `--live` adds the live-capture loss
 * benchmark (live.ts, live-benchmark.ts). Progress goes to stderr; the report, or with --json one JSON
 * object, to stdout. `--help` lists every flag with its default, what is measured and the exit codes.
 */

import type { Command } from 'commander';
import {
  type BenchOutcome,
  benchCommand,
  choiceListArgument,
  integerArgument,
  progressLine,
  quickOr,
  runBench,
  valueOption,
} from '../common/bench-command.js';
import { formatTargets, type TargetResult, targetLine } from '../common/targets.js';
import { resolveCaptureOptions } from './generate-capture.js';
import { addLiveOptions, LIVE_MEASURES, liveOptionsFrom } from './live.js';
import { type LiveOptions, type LiveResults, runLiveBenchmark } from './live-benchmark.js';
import { formatLiveReport, formatLiveSummaryMarkdown } from './live-report.js';
import { type OfflineOptions, runOfflineBenchmark, SPEED_TARGET_MIN_PACKETS } from './offline-benchmark.js';
import { formatOfflineReport, formatOfflineSummaryMarkdown, type OfflineResults } from './offline-report.js';
import { ALL_TOOL_IDS, repoRoot, sniffmeshPrefix, type ToolId } from './peer-commands.js';
import { DEFAULT_TRAFFIC_OPTIONS } from './traffic-plan.js';

const NAME = 'bench:capture';
/** The default budget, and three that the 370k-flow base file fills (so flatness can be judged). */
const DEFAULT_MEMORY_BUDGETS: (number | null)[] = [null, 50_000, 100_000, 200_000];
const MIN_MEMORY_BUDGET = 16;

/** --quick: a small capture, one round, sniffmesh and tcpdump, no 10x-flows file, no pmacctd fixed cost. */
const QUICK = {
  packets: 100_000,
  runs: 1,
  tools: ['sniffmesh', 'tcpdump'] as ToolId[],
  flowsFactor: 0,
  memoryRuns: 1,
  pmacctFixedRuns: 0,
};

const OFFLINE_MEASURES = `Offline: a reproducible generated capture (seed 1: 5.33 M packets, 370k flows), page-cached, read by every
tool in alternating rounds (1 warm-up, then --runs measured; medians), whole processes. Targets (issue 2):
sniffmesh >= 3.5 M packets/s, wall <= 1.5x tcpdump -w /dev/null, >= 10x pmacctd and tshark (L4 off) (speed
is judged on captures of ${SPEED_TARGET_MIN_PACKETS.toLocaleString('en-US')} packets or more), peak RSS <= 250 MB, memory flat (<= 1.1x) at
10x the flows under budgets the base file fills, per-source packets and bytes exact against the ground truth.
--quick: ${QUICK.packets.toLocaleString('en-US')} packets, 1 round, sniffmesh and tcpdump, no 10x-flows file (judges peak RSS and
exactness; with --live also the live quick run). Flags given explicitly still win.`;

function memoryBudgetsArgument(text: string): (number | null)[] {
  const one = integerArgument(MIN_MEMORY_BUDGET);
  return text.split(',').map((item) => (item.trim() === 'default' ? null : one(item.trim())));
}

function command(): Command {
  const program = benchCommand(
    NAME,
    'sniffmesh analyze against tcpdump, tshark and pmacctd on a generated capture; --live adds live capture',
    `${OFFLINE_MEASURES}\n\n${LIVE_MEASURES}`,
  )
    .addOption(valueOption('--runs <N>', 'measured rounds after the warm-up', integerArgument(1), 5))
    .addOption(
      valueOption('--tools <list>', `any of ${ALL_TOOL_IDS.join(',')}`, choiceListArgument(ALL_TOOL_IDS), [
        ...ALL_TOOL_IDS,
      ]),
    )
    .addOption(
      valueOption(
        '--packets <N>',
        'packets of the generated capture',
        integerArgument(1),
        DEFAULT_TRAFFIC_OPTIONS.packets,
      ),
    )
    .option('--flows <N>', 'flows of the capture (default: scales with --packets)', integerArgument(1))
    .option('--hosts <N>', 'hosts of the capture (default: scales with --packets)', integerArgument(1))
    .addOption(valueOption('--seed <N>', 'generator seed', integerArgument(0), DEFAULT_TRAFFIC_OPTIONS.seed))
    .addOption(
      valueOption(
        '--memory-budgets <list>',
        "--max-flows budgets of the memory-flatness runs (numbers or 'default')",
        memoryBudgetsArgument,
        DEFAULT_MEMORY_BUDGETS,
        'default,50000,100000,200000',
      ),
    )
    .addOption(
      valueOption(
        '--flows-factor <N>',
        'flows multiplier of the memory-flatness file; 0 skips it',
        integerArgument(0),
        10,
      ),
    )
    .addOption(valueOption('--memory-runs <N>', 'runs per file in the memory check', integerArgument(1), 2))
    .addOption(
      valueOption(
        '--pmacct-fixed-runs <N>',
        "runs measuring pmacctd's fixed cost on a 1-packet file",
        integerArgument(0),
        3,
      ),
    )
    .option('--no-correctness', 'skip the per-source comparison with the ground truth')
    .option('--sniffmesh-cmd <cmd>', 'start sniffmesh with CMD instead of `node dist/src/cli/main.js`')
    .option('--live', 'run the live benchmark too (needs root)')
    .option('--live-only', 'run only the live benchmark');
  return addLiveOptions(program)
    .option('--quick', 'smoke run (see below)')
    .option('--json', 'print one JSON object instead of the report');
}

interface CaptureBenchSettings {
  offline: OfflineOptions | undefined;
  live: LiveOptions | undefined;
  json: boolean;
}

function settingsFrom(program: Command): CaptureBenchSettings {
  const value = <T>(key: string) => program.getOptionValue(key) as T;
  const quick = value<boolean | undefined>('quick') === true;
  const progress = progressLine(NAME);
  const optional = (key: string) => {
    const number = value<number | undefined>(key);
    return number === undefined ? undefined : String(number);
  };
  const seed = value<number>('seed');
  const offline: OfflineOptions = {
    runs: quickOr(program, 'runs', quick, QUICK.runs),
    capture: resolveCaptureOptions({
      packets: String(quickOr(program, 'packets', quick, QUICK.packets)),
      flows: optional('flows'),
      hosts: optional('hosts'),
      seed: String(seed),
    }),
    tools: quickOr(program, 'tools', quick, QUICK.tools),
    sniffmeshPrefix: sniffmeshPrefix(repoRoot(), value<string | undefined>('sniffmeshCmd')),
    memoryBudgets: value<(number | null)[]>('memoryBudgets'),
    manyFlowsFactor: quickOr(program, 'flowsFactor', quick, QUICK.flowsFactor),
    memoryRuns: quickOr(program, 'memoryRuns', quick, QUICK.memoryRuns),
    correctness: value<boolean>('correctness'),
    pmacctFixedCostRuns: quickOr(program, 'pmacctFixedRuns', quick, QUICK.pmacctFixedRuns),
    progress,
  };
  const liveOnly = value<boolean | undefined>('liveOnly') === true;
  const wantLive = value<boolean | undefined>('live') === true || liveOnly;
  return {
    offline: liveOnly ? undefined : offline,
    live: wantLive ? liveOptionsFrom(program, quick, seed, progress) : undefined,
    json: value<boolean | undefined>('json') === true,
  };
}

async function run(settings: CaptureBenchSettings): Promise<BenchOutcome> {
  let offline: OfflineResults | undefined;
  let live: LiveResults | undefined;
  if (settings.offline) offline = await runOfflineBenchmark(settings.offline);
  if (settings.live) live = await runLiveBenchmark(settings.live);
  const targets: TargetResult[] = [...(offline?.targets ?? []), ...(live?.targets ?? [])];
  if (settings.json) return { output: JSON.stringify({ offline, live }, null, 2), targets };
  const sections: string[] = [];
  if (offline) sections.push(formatOfflineReport(offline));
  if (live) sections.push(formatLiveReport(live));
  sections.push(formatTargets(targets));
  const readme: string[] = [];
  if (offline) readme.push(formatOfflineSummaryMarkdown(offline));
  if (live) readme.push('', formatLiveSummaryMarkdown(live));
  readme.push('', 'Targets:', '', ...targets.map((target) => `- ${targetLine(target)}`));
  return {
    output: `${sections.join('\n\n')}\n\n----- README summary -----\n${readme.join('\n')}\n----- end -----`,
    targets,
  };
}

process.exit(await runBench(command(), process.argv.slice(2), settingsFrom, run));
