/**
 * Reads what the tools printed and compares it with the generator's ground truth: sniffmesh's JSON
 * (`rows`, `totals`, `undecoded`, and `capture` for live runs) and pmacctd's CSV.
 */

import { readFileSync } from 'node:fs';
import { SniffmeshError } from '../../src/util/errors.js';
import type { AddressCount } from './ground-truth.js';
import { canonicalAddressText } from './host-addresses.js';

export interface SniffmeshRow {
  key: string;
  bytes: number;
  packets: number;
}

export interface SniffmeshReport {
  rows: SniffmeshRow[];
  totals: { packets: number; bytes: number };
  undecoded?: Record<string, number>;
  capture?: { frames: number; kernelDrops: number | null };
}

export class BenchOutputError extends SniffmeshError {
  override name = 'BenchOutputError';
  constructor(what: string, reason: string) {
    super('BENCH_OUTPUT_UNREADABLE', `${what}: ${reason}`);
  }
}

/** Parses the one JSON object sniffmesh prints; throws BenchOutputError when it is not that. */
export function parseSniffmeshReport(stdout: string, what: string): SniffmeshReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (error) {
    const preview = stdout.trim().slice(0, 120);
    throw new BenchOutputError(
      what,
      `stdout is not one JSON object (${(error as Error).message}): '${preview}'`,
    );
  }
  const report = parsed as SniffmeshReport;
  if (!Array.isArray(report.rows) || typeof report.totals?.packets !== 'number') {
    throw new BenchOutputError(what, 'JSON lacks rows[] or totals.packets');
  }
  return report;
}

export interface AddressComparison {
  /** Addresses in the ground truth. */
  expected: number;
  /** Rows the tool reported. */
  reported: number;
  /** Addresses with exactly the expected packets and bytes. */
  exact: number;
  /** Present in both, with other counts. */
  differing: number;
  /** In the ground truth, not reported. */
  missing: number;
  /** Reported, not in the ground truth. */
  extra: number;
  /** Up to five differences, readable, for the report. */
  examples: string[];
}

export function compareAddressCounts(
  reported: Iterable<{ key: string; packets: number; bytes: number }>,
  expected: Record<string, AddressCount>,
): AddressComparison {
  const seen = new Map<string, { packets: number; bytes: number }>();
  for (const row of reported) {
    const key = canonicalAddressText(row.key);
    const previous = seen.get(key);
    // A tool that reports one address twice is wrong; summing keeps the comparison honest about it.
    seen.set(
      key,
      previous ? { packets: previous.packets + row.packets, bytes: previous.bytes + row.bytes } : row,
    );
  }
  const comparison: AddressComparison = {
    expected: Object.keys(expected).length,
    reported: seen.size,
    exact: 0,
    differing: 0,
    missing: 0,
    extra: 0,
    examples: [],
  };
  const example = (text: string) => {
    if (comparison.examples.length < 5) comparison.examples.push(text);
  };
  for (const [key, truth] of Object.entries(expected)) {
    const row = seen.get(key);
    if (!row) {
      comparison.missing++;
      example(`${key}: missing (expected ${truth.packets} packets, ${truth.bytes} bytes)`);
    } else if (row.packets === truth.packets && row.bytes === truth.bytes) {
      comparison.exact++;
    } else {
      comparison.differing++;
      example(
        `${key}: ${row.packets} packets, ${row.bytes} bytes (expected ${truth.packets}, ${truth.bytes})`,
      );
    }
  }
  for (const key of seen.keys()) {
    if (!(key in expected)) {
      comparison.extra++;
      example(`${key}: reported but not in the capture`);
    }
  }
  return comparison;
}

/** pmacctd print plugin CSV (`SRC_IP,PACKETS,BYTES`): IP-layer bytes, so only packets are comparable. */
export function readPmacctSourceCsv(csvPath: string): { sources: number; packets: number } {
  const lines = readFileSync(csvPath, 'utf8').trim().split('\n');
  let packets = 0;
  for (let index = 1; index < lines.length; index++) packets += Number(lines[index].split(',')[1]);
  return { sources: Math.max(0, lines.length - 1), packets };
}
