/**
 * Generates the benchmark capture and its ground truth, or reuses a cached pair made with the same
 * options. Usable as a program:
 *
 *   node dist/bench/capture/generate-capture.js [--packets N] [--flows N] [--hosts N] [--seed N]
 *     [--snaplen N] [--out FILE] [--force]
 *
 * Defaults: 5,328,606 packets, 370,000 flows, 50,500 hosts, seed 1, snaplen 128 (0 = whole frames).
 * With only --packets, flows and hosts scale with it. The model gives every flow kind a minimum length,
 * so a flow target too large for the packet count yields more packets than asked for.
 *
 * Files live in $SNIFFMESH_BENCH_DIR (default /tmp/sniffmesh-bench) unless --out says otherwise; the
 * ground truth is `<file>.truth.json`. Bump GENERATOR_VERSION whenever the bytes for a given seed change,
 * so that stale caches are not reused.
 */

import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SniffmeshError, UsageError } from '../../src/util/errors.js';
import { writeCapture } from './capture-writer.js';
import { buildGroundTruth, type GroundTruth, readGroundTruth } from './ground-truth.js';
import { DEFAULT_TRAFFIC_OPTIONS, planTraffic, type TrafficOptions } from './traffic-plan.js';

export const GENERATOR_VERSION = 2;
export const DEFAULT_BENCH_DIR = '/tmp/sniffmesh-bench';
export const DEFAULT_SNAPLEN_BYTES = 128;
/** Floor for flows and hosts scaled down with --packets (the model needs a few servers per family). */
const MIN_SCALED_COUNT = 1_000;

export interface CaptureOptions extends TrafficOptions {
  /** Bytes stored per frame at most; 0 stores whole frames. */
  snaplen: number;
  /** Output file; default: a name derived from the options in the bench directory. */
  out?: string;
  /** Regenerate even when a matching cached file exists. */
  force?: boolean;
}

export interface GeneratedCapture {
  pcapPath: string;
  truthPath: string;
  truth: GroundTruth;
  /** False when a cached file was reused. */
  generated: boolean;
  generationSeconds: number;
}

export function benchDirectory(): string {
  return process.env.SNIFFMESH_BENCH_DIR || DEFAULT_BENCH_DIR;
}

export function defaultCapturePath(options: CaptureOptions): string {
  const name =
    `capture-v${GENERATOR_VERSION}-seed${options.seed}-p${options.packets}-f${options.flows}` +
    `-h${options.hosts}-snap${options.snaplen}.pcap`;
  return path.join(benchDirectory(), name);
}

export function truthPathFor(pcapPath: string): string {
  return `${pcapPath}.truth.json`;
}

function sameOptions(truth: GroundTruth, options: CaptureOptions): boolean {
  const recorded = truth.options;
  return (
    truth.generatorVersion === GENERATOR_VERSION &&
    recorded.packets === options.packets &&
    recorded.flows === options.flows &&
    recorded.hosts === options.hosts &&
    recorded.seed === options.seed &&
    recorded.snaplen === options.snaplen
  );
}

/** Returns the capture for `options`, generating it unless a matching one is cached. */
export function ensureCapture(
  options: CaptureOptions,
  progress: (message: string) => void,
): GeneratedCapture {
  const pcapPath = path.resolve(options.out ?? defaultCapturePath(options));
  const truthPath = truthPathFor(pcapPath);
  if (!options.force && existsSync(pcapPath)) {
    const truth = readGroundTruth(truthPath);
    if (truth && sameOptions(truth, options) && statSync(pcapPath).size === truth.file.bytes) {
      return { pcapPath, truthPath, truth, generated: false, generationSeconds: 0 };
    }
  }
  mkdirSync(path.dirname(pcapPath), { recursive: true });
  const started = process.hrtime.bigint();
  progress(
    `generating ${pcapPath} (${options.packets} packets, ${options.flows} flows, seed ${options.seed})`,
  );
  const plan = planTraffic(options);
  progress(`planned ${plan.packets.count} packets in ${plan.conversations.count} conversations`);
  const partialPcap = `${pcapPath}.partial`;
  const counts = writeCapture(plan, partialPcap, options.snaplen, progress);
  const truth = buildGroundTruth(plan, counts, options.snaplen, pcapPath, GENERATOR_VERSION);
  const partialTruth = `${truthPath}.partial`;
  writeFileSync(partialTruth, `${JSON.stringify(truth)}\n`);
  renameSync(partialPcap, pcapPath);
  renameSync(partialTruth, truthPath);
  const generationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { pcapPath, truthPath, truth, generated: true, generationSeconds };
}

function positiveInteger(
  flag: string,
  text: string | undefined,
  fallback: number,
  allowZero = false,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new UsageError(
      `--${flag} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got '${text}'`,
    );
  }
  return value;
}

/** Generator flags as parsed text (also accepted by run.ts). */
export interface CaptureFlagValues {
  packets?: string;
  flows?: string;
  hosts?: string;
  seed?: string;
  snaplen?: string;
  out?: string;
  force?: boolean;
}

/** Checks the flags and fills in defaults; without --flows / --hosts those scale with --packets. */
export function resolveCaptureOptions(values: CaptureFlagValues): CaptureOptions {
  const defaults = DEFAULT_TRAFFIC_OPTIONS;
  const packets = positiveInteger('packets', values.packets, defaults.packets);
  const scale = packets / defaults.packets;
  const scaled = (count: number) => Math.max(MIN_SCALED_COUNT, Math.round(count * scale));
  return {
    packets,
    flows: positiveInteger('flows', values.flows, scaled(defaults.flows)),
    hosts: positiveInteger('hosts', values.hosts, scaled(defaults.hosts)),
    seed: positiveInteger('seed', values.seed, defaults.seed, true),
    snaplen: positiveInteger('snaplen', values.snaplen, DEFAULT_SNAPLEN_BYTES, true),
    out: values.out,
    force: values.force ?? false,
  };
}

export function parseCaptureOptions(args: string[]): CaptureOptions {
  const { values } = parseArgs({
    args,
    options: {
      packets: { type: 'string' },
      flows: { type: 'string' },
      hosts: { type: 'string' },
      seed: { type: 'string' },
      snaplen: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
    },
    strict: true,
  });
  return resolveCaptureOptions(values);
}

function main(): void {
  let options: CaptureOptions;
  try {
    options = parseCaptureOptions(process.argv.slice(2));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`generate-capture: ${message}\n`);
    process.exit(2);
  }
  try {
    const result = ensureCapture(options, (message) =>
      process.stderr.write(`generate-capture: ${message}\n`),
    );
    const { totals, flows, addresses, topSourceByteShare } = result.truth;
    const summary = {
      pcap: result.pcapPath,
      truth: result.truthPath,
      generated: result.generated,
      generationSeconds: Number(result.generationSeconds.toFixed(2)),
      fileBytes: result.truth.file.bytes,
      totals,
      flows,
      addresses,
      topSourceByteShare,
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`generate-capture: ${message}\n`);
    process.exit(error instanceof SniffmeshError ? error.exitCode : 1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
