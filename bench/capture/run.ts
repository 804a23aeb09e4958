/**
 * `npm run bench:capture`: the reproducible benchmark of sniffmesh against tcpdump, tshark and pmacctd
 * on a generated capture (see generate-capture.ts and offline-benchmark.ts), with correctness against
 * the ground truth and memory use at ten times the flows; `--live` adds the live-capture loss
 * benchmark (live-benchmark.ts). Progress goes to stderr; the report, or with --json one JSON object,
 * to stdout. Options (after `npm run bench:capture --`):
 *
 *   --runs N             measured rounds after the warm-up (default 5)
 *   --tools LIST         sniffmesh,tcpdump,tshark,pmacctd (default all)
 *   --packets/--flows/--hosts/--seed N   generator options (defaults: the 5.33 M-packet capture;
 *                        flows and hosts scale with --packets unless given)
 *   --memory-budgets L   flow budgets of the memory-flatness runs, comma-separated numbers or
 *                        'default' (default: default,50000,100000,200000; flatness is judged for
 *                        the budgets the base file fills, i.e. below its flow count)
 *   --flows-factor N     flows multiplier of the memory-flatness file (default 10; 0 skips the check)
 *   --memory-runs N      runs per file in the memory check (default 2)
 *   --no-correctness     skip the per-source comparison with the ground truth
 *   --sniffmesh-cmd CMD  start sniffmesh with CMD instead of `node dist/src/cli/main.js`
 *   --live / --live-only run the live benchmark too / only (plus the flags of live.ts)
 *   --json               machine-readable output
 */

import { parseArgs } from 'node:util';
import { SniffmeshError, UsageError } from '../../src/util/errors.js';
import { resolveCaptureOptions } from './generate-capture.js';
import { LIVE_OPTION_SPEC, liveOptionsFrom } from './live.js';
import { type LiveResults, runLiveBenchmark } from './live-benchmark.js';
import { formatLiveReport, formatLiveSummaryMarkdown } from './live-report.js';
import { type OfflineOptions, runOfflineBenchmark } from './offline-benchmark.js';
import {
  formatOfflineReport,
  formatOfflineSummaryMarkdown,
  type OfflineResults,
  targetLine,
} from './offline-report.js';
import { ALL_TOOL_IDS, repoRoot, sniffmeshPrefix, type ToolId } from './peer-commands.js';
import { DEFAULT_TRAFFIC_OPTIONS } from './traffic-plan.js';

/** The default budget, and three that the 370k-flow base file fills (so flatness can be judged). */
const DEFAULT_MEMORY_BUDGETS = 'default,50000,100000,200000';

function integer(flag: string, text: string | undefined, fallback: number, minimum: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum)
    throw new UsageError(`--${flag} must be an integer >= ${minimum}, got '${text}'`);
  return value;
}

function parseOptions(args: string[], progress: (message: string) => void) {
  const { values } = parseArgs({
    args,
    options: {
      ...LIVE_OPTION_SPEC,
      runs: { type: 'string' },
      tools: { type: 'string' },
      packets: { type: 'string' },
      flows: { type: 'string' },
      hosts: { type: 'string' },
      seed: { type: 'string' },
      'memory-budgets': { type: 'string' },
      'flows-factor': { type: 'string' },
      'memory-runs': { type: 'string' },
      'pmacct-fixed-runs': { type: 'string' },
      'no-correctness': { type: 'boolean' },
      'sniffmesh-cmd': { type: 'string' },
      live: { type: 'boolean' },
      'live-only': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const tools = (values.tools ?? ALL_TOOL_IDS.join(',')).split(',') as ToolId[];
  for (const tool of tools) {
    if (!ALL_TOOL_IDS.includes(tool))
      throw new UsageError(`--tools takes ${ALL_TOOL_IDS.join(', ')}; got '${tool}'`);
  }
  const seed = integer('seed', values.seed, DEFAULT_TRAFFIC_OPTIONS.seed, 0);
  const prefix = sniffmeshPrefix(repoRoot(), values['sniffmesh-cmd']);
  const memoryBudgets = (values['memory-budgets'] ?? DEFAULT_MEMORY_BUDGETS)
    .split(',')
    .map((text) => (text.trim() === 'default' ? null : integer('memory-budgets', text.trim(), 0, 16)));
  const offline: OfflineOptions = {
    runs: integer('runs', values.runs, 5, 1),
    capture: resolveCaptureOptions({
      packets: values.packets,
      flows: values.flows,
      hosts: values.hosts,
      seed: values.seed,
    }),
    tools,
    sniffmeshPrefix: prefix,
    memoryBudgets,
    manyFlowsFactor: integer('flows-factor', values['flows-factor'], 10, 0),
    memoryRuns: integer('memory-runs', values['memory-runs'], 2, 1),
    correctness: !(values['no-correctness'] ?? false),
    pmacctFixedCostRuns: integer('pmacct-fixed-runs', values['pmacct-fixed-runs'], 3, 0),
    progress,
  };
  const wantLive = (values.live ?? false) || (values['live-only'] ?? false);
  return {
    offline: values['live-only'] ? undefined : offline,
    live: wantLive ? liveOptionsFrom(values, values['sniffmesh-cmd'], seed, progress) : undefined,
    json: values.json ?? false,
  };
}

async function main(): Promise<void> {
  const progress = (message: string) => process.stderr.write(`bench:capture: ${message}\n`);
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(process.argv.slice(2), progress);
  } catch (error) {
    process.stderr.write(`bench:capture: ${(error as Error).message}\n`);
    process.exit(2);
  }
  try {
    let offline: OfflineResults | undefined;
    let live: LiveResults | undefined;
    if (parsed.offline) offline = await runOfflineBenchmark(parsed.offline);
    if (parsed.live) live = await runLiveBenchmark(parsed.live);
    if (parsed.json) {
      process.stdout.write(`${JSON.stringify({ offline, live }, null, 2)}\n`);
      return;
    }
    const sections: string[] = [];
    if (offline) sections.push(formatOfflineReport(offline));
    if (live) sections.push(formatLiveReport(live));
    const readme: string[] = [];
    if (offline) {
      readme.push(formatOfflineSummaryMarkdown(offline));
      readme.push('', 'Targets:', '', ...offline.targets.map((check) => `- ${targetLine(check)}`));
    }
    if (live) readme.push('', formatLiveSummaryMarkdown(live));
    process.stdout.write(
      `${sections.join('\n\n')}\n\n----- README summary -----\n${readme.join('\n')}\n----- end -----\n`,
    );
  } catch (error) {
    process.stderr.write(`bench:capture: ${(error as Error).message}\n`);
    process.exit(error instanceof SniffmeshError ? error.exitCode : 1);
  }
}

await main();
