/**
 * `npm run bench:capture:live`: live-capture loss over a veth pair between two network namespaces the
 * benchmark creates (needs root), sniffmesh against tcpdump (live-benchmark.ts). Also reachable as
 * `npm run bench:capture -- --live` (after the offline benchmark) or `-- --live-only`, with the same
 * flags. `--help` lists them with their defaults, what is measured and the exit codes.
 */

import { pathToFileURL } from 'node:url';
import { type Command, InvalidArgumentError } from 'commander';
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
import { formatTargets } from '../common/targets.js';
import { benchDirectory } from './generate-capture.js';
import { LIVE_RECEIVERS, type LiveOptions, type LiveReceiver, runLiveBenchmark } from './live-benchmark.js';
import { formatLiveReport, formatLiveSummaryMarkdown } from './live-report.js';
import { repoRoot, sniffmeshPrefix } from './peer-commands.js';

const NAME = 'bench:capture:live';
/** The replayed frames: a 500 k-packet capture from the same model (flows and hosts scale with it). */
const LIVE_FRAMES_PACKETS = 500_000;
const LIVE_FRAMES_FLOWS = 35_000;
const LIVE_FRAMES_HOSTS = 50_500;
const MIN_SCALED_COUNT = 1_000;
const MAX_RATE_PPS = 100_000_000;

/** --quick: one tcpreplay step at 100 k/s and one trafgen step at 500 k/s, from a small capture. */
const QUICK = {
  rates: [100_000],
  secondsPerRate: 1,
  trafgenPackets: 200_000,
  trafgenRates: [500_000] as (number | null)[],
  framesPackets: 50_000,
};

export const LIVE_MEASURES = `Live (needs root, iproute2, tcpreplay, trafgen, tcpdump): frames of a generated capture replayed into one
end of a veth pair (two namespaces the benchmark creates and removes), captured at the other end by each
receiver in turn; loss = 1 - captured / sent. Targets (issue 2): sniffmesh capture loses < 0.1 % at 100 k
packets/s and < 1 % at 500 k/s requested, and at most 0.1 point more than tcpdump at every step.
--quick: one tcpreplay step at 100 k/s (1 s), trafgen 200,000 packets at 500 k/s, a 50,000-packet capture.`;

function trafgenRatesArgument(text: string): (number | null)[] {
  const one = integerArgument(1, MAX_RATE_PPS);
  return text.split(',').map((item) => {
    if (item.trim() === 'unlimited') return null;
    try {
      return one(item.trim());
    } catch {
      throw new InvalidArgumentError(`'${item}' is neither a rate from 1 to ${MAX_RATE_PPS} nor 'unlimited'`);
    }
  });
}

/** The live flags (bench:capture accepts them too, for --live). */
export function addLiveOptions(command: Command): Command {
  return command
    .addOption(
      valueOption(
        '--rates <list>',
        'tcpreplay requested rates, packets/s',
        integerListArgument(1, MAX_RATE_PPS),
        [100_000, 250_000, 500_000, 1_000_000],
      ),
    )
    .addOption(valueOption('--seconds-per-rate <S>', 'tcpreplay seconds per rate', integerArgument(1), 4))
    .addOption(
      valueOption('--max-packets <N>', 'tcpreplay packets per rate at most', integerArgument(1), 1_000_000),
    )
    .addOption(
      valueOption(
        '--trafgen-packets <N>',
        'packets per trafgen step; 0 skips trafgen',
        integerArgument(0),
        2_000_000,
      ),
    )
    .addOption(
      valueOption(
        '--trafgen-frames <N>',
        'distinct frames trafgen cycles through',
        integerArgument(1),
        2_000,
      ),
    )
    .addOption(
      valueOption(
        '--trafgen-rates <list>',
        "trafgen rates, packets/s or 'unlimited'",
        trafgenRatesArgument,
        [500_000, null],
        '500000,unlimited',
      ),
    )
    .addOption(
      valueOption(
        '--receivers <list>',
        `any of ${LIVE_RECEIVERS.join(',')}`,
        choiceListArgument(LIVE_RECEIVERS),
        ['sniffmesh', 'tcpdump'] as LiveReceiver[],
      ),
    )
    .addOption(
      valueOption('--repeats <N>', 'rounds of every step (the worse one counts)', integerArgument(1), 1),
    )
    .addOption(
      valueOption(
        '--frames-snaplen <N>',
        'bytes kept per replayed frame; 0 = whole',
        integerArgument(0),
        128,
      ),
    )
    .addOption(
      valueOption(
        '--frames-packets <N>',
        'packets of the replayed capture',
        integerArgument(1),
        LIVE_FRAMES_PACKETS,
      ),
    );
}

/** Live options from the parsed flags (shared with run.ts, which accepts the same flags). */
export function liveOptionsFrom(
  command: Command,
  quick: boolean,
  seed: number,
  progress: (message: string) => void,
): LiveOptions {
  const value = <T>(key: string) => command.getOptionValue(key) as T;
  const framesPackets = quickOr(command, 'framesPackets', quick, QUICK.framesPackets);
  const scaled = (count: number) =>
    Math.max(MIN_SCALED_COUNT, Math.round((count * framesPackets) / LIVE_FRAMES_PACKETS));
  return {
    rates: quickOr(command, 'rates', quick, QUICK.rates),
    secondsPerRate: quickOr(command, 'secondsPerRate', quick, QUICK.secondsPerRate),
    maxPacketsPerRate: value<number>('maxPackets'),
    trafgenPackets: quickOr(command, 'trafgenPackets', quick, QUICK.trafgenPackets),
    trafgenFrames: value<number>('trafgenFrames'),
    trafgenRates: quickOr(command, 'trafgenRates', quick, QUICK.trafgenRates),
    receivers: value<LiveReceiver[]>('receivers'),
    repeats: value<number>('repeats'),
    sniffmeshPrefix: sniffmeshPrefix(repoRoot(), value<string | undefined>('sniffmeshCmd')),
    frames: {
      packets: framesPackets,
      flows: scaled(LIVE_FRAMES_FLOWS),
      hosts: scaled(LIVE_FRAMES_HOSTS),
      seed,
      snaplen: value<number>('framesSnaplen'),
    },
    progress,
  };
}

function command(): Command {
  return addLiveOptions(
    benchCommand(
      NAME,
      'live-capture loss of sniffmesh capture against tcpdump over a veth pair',
      LIVE_MEASURES,
    ),
  )
    .option('--sniffmesh-cmd <cmd>', 'start sniffmesh with CMD instead of `node dist/src/cli/main.js`')
    .addOption(valueOption('--seed <N>', 'generator seed of the replayed capture', integerArgument(0), 1))
    .option('--quick', 'smoke run (see below)')
    .option('--json', 'print one JSON object instead of the report');
}

async function run(settings: { options: LiveOptions; json: boolean }): Promise<BenchOutcome> {
  settings.options.progress(`frames cached under ${benchDirectory()}`);
  const results = await runLiveBenchmark(settings.options);
  const output = settings.json
    ? JSON.stringify(results, null, 2)
    : `${formatLiveReport(results)}\n\n${formatTargets(results.targets)}\n\n` +
      `----- README summary -----\n${formatLiveSummaryMarkdown(results)}\n----- end -----`;
  return { output, targets: results.targets };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exit(
    await runBench(
      command(),
      process.argv.slice(2),
      (program) => {
        const quick = program.getOptionValue('quick') === true;
        return {
          options: liveOptionsFrom(
            program,
            quick,
            program.getOptionValue('seed') as number,
            progressLine(NAME),
          ),
          json: program.getOptionValue('json') === true,
        };
      },
      run,
    ),
  );
}
