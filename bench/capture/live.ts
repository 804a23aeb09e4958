/**
 * Live-capture benchmark program (needs root: it creates two network namespaces and a veth pair).
 *
 *   node dist/bench/capture/live.js [--rates 100000,250000,500000,1000000] [--seconds-per-rate 4]
 *     [--max-packets 1000000] [--trafgen-packets 2000000] [--trafgen-frames 2000]
 *     [--trafgen-rates 500000,unlimited]
 *     [--receivers sniffmesh,sniffmesh-offloads-off,sniffmesh-immediate,tcpdump] [--repeats 1] [--frames-snaplen 128] [--sniffmesh-cmd CMD] [--json]
 *
 * Also reachable as `npm run bench:capture -- --live` (after the offline benchmark) or `-- --live-only`.
 */

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SniffmeshError, UsageError } from '../../src/util/errors.js';
import { DEFAULT_BENCH_DIR } from './generate-capture.js';
import { LIVE_RECEIVERS, type LiveOptions, type LiveReceiver, runLiveBenchmark } from './live-benchmark.js';
import { formatLiveReport, formatLiveSummaryMarkdown } from './live-report.js';
import { repoRoot, sniffmeshPrefix } from './peer-commands.js';

/** The replayed frames: a 500 k-packet capture from the same model (flows scaled with packets). */
const LIVE_FRAMES_PACKETS = 500_000;
const LIVE_FRAMES_FLOWS = 35_000;
const LIVE_FRAMES_HOSTS = 50_500;

export const LIVE_OPTION_SPEC = {
  rates: { type: 'string' },
  'seconds-per-rate': { type: 'string' },
  'max-packets': { type: 'string' },
  'trafgen-packets': { type: 'string' },
  'trafgen-frames': { type: 'string' },
  'trafgen-rates': { type: 'string' },
  receivers: { type: 'string' },
  repeats: { type: 'string' },
  'frames-snaplen': { type: 'string' },
} as const;

function integer(flag: string, text: string | undefined, fallback: number, minimum: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum)
    throw new UsageError(`--${flag} must be an integer >= ${minimum}, got '${text}'`);
  return value;
}

/** Builds live options from parsed flag values (shared with run.ts, which accepts the same flags). */
export function liveOptionsFrom(
  values: Partial<Record<keyof typeof LIVE_OPTION_SPEC, string>>,
  sniffmeshCommand: string | undefined,
  seed: number,
  progress: (message: string) => void,
): LiveOptions {
  const rates = (values.rates ?? '100000,250000,500000,1000000')
    .split(',')
    .map((text) => integer('rates', text, 0, 1));
  const receivers = (values.receivers ?? 'sniffmesh,tcpdump').split(',') as LiveReceiver[];
  for (const receiver of receivers) {
    if (!LIVE_RECEIVERS.includes(receiver)) {
      throw new UsageError(`--receivers takes ${LIVE_RECEIVERS.join(', ')}, got '${receiver}'`);
    }
  }
  return {
    rates,
    secondsPerRate: integer('seconds-per-rate', values['seconds-per-rate'], 4, 1),
    maxPacketsPerRate: integer('max-packets', values['max-packets'], 1_000_000, 1),
    trafgenPackets: integer('trafgen-packets', values['trafgen-packets'], 2_000_000, 0),
    trafgenFrames: integer('trafgen-frames', values['trafgen-frames'], 2_000, 1),
    trafgenRates: (values['trafgen-rates'] ?? '500000,unlimited')
      .split(',')
      .map((text) => (text === 'unlimited' ? null : integer('trafgen-rates', text, 0, 1))),
    receivers,
    repeats: integer('repeats', values.repeats, 1, 1),
    sniffmeshPrefix: sniffmeshPrefix(repoRoot(), sniffmeshCommand),
    frames: {
      packets: LIVE_FRAMES_PACKETS,
      flows: LIVE_FRAMES_FLOWS,
      hosts: LIVE_FRAMES_HOSTS,
      seed,
      snaplen: integer('frames-snaplen', values['frames-snaplen'], 128, 0),
    },
    progress,
  };
}

async function main(): Promise<void> {
  const progress = (message: string) => process.stderr.write(`live: ${message}\n`);
  let options: LiveOptions;
  let json = false;
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        ...LIVE_OPTION_SPEC,
        'sniffmesh-cmd': { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    });
    json = values.json ?? false;
    options = liveOptionsFrom(values, values['sniffmesh-cmd'], integer('seed', values.seed, 1, 0), progress);
  } catch (error) {
    process.stderr.write(`live: ${(error as Error).message}\n`);
    process.exit(2);
  }
  progress(`frames cached under ${process.env.SNIFFMESH_BENCH_DIR || DEFAULT_BENCH_DIR}`);
  try {
    const results = await runLiveBenchmark(options);
    if (json) {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatLiveReport(results)}\n\n`);
      process.stdout.write(
        `----- README summary -----\n${formatLiveSummaryMarkdown(results)}\n----- end -----\n`,
      );
    }
  } catch (error) {
    process.stderr.write(`live: ${(error as Error).message}\n`);
    process.exit(error instanceof SniffmeshError ? error.exitCode : 1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
