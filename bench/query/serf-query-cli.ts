/**
 * Runs the Serf side of the query benchmark on its own:
 *
 *   node dist/bench/query/serf-query-cli.js [--queries N] [--json] [members...]
 *
 * Cluster sizes default to 8 32 64, queries to 20 per size. Needs root (network namespace) and the
 * Debian package `serf`. Progress goes to stderr, the table (or with --json the results) to stdout.
 */

import { parseArgs } from 'node:util';
import { SniffmeshError, UsageError } from '../../src/util/errors.js';
import { MAX_CLUSTER_SIZE } from '../membership/bench-cluster.js';
import { measureSerfQuery, type SerfQueryResult } from './serf-query.js';

const DEFAULT_SIZES = [8, 32, 64];
const DEFAULT_QUERIES = 20;

function positiveInteger(what: string, text: string, minimum: number, maximum: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum || value > maximum)
    throw new UsageError(`${what} must be an integer ${minimum}..${maximum}, got '${text}'`);
  return value;
}

function milliseconds(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(0)} ms` : '-';
}

export function formatTable(results: readonly SerfQueryResult[]): string {
  const header = ['members', 'p50', 'p99', 'max', 'all answered', 'first other p50', 'dispatch p50'];
  const rows = results.map((result) => [
    String(result.members),
    milliseconds(result.p50Ms),
    milliseconds(result.p99Ms),
    milliseconds(result.maxMs),
    `${result.answeredAll}/${result.queries}`,
    milliseconds(result.firstAnswerP50Ms),
    milliseconds(result.dispatchP50Ms),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) => cells.map((cell, column) => cell.padStart(widths[column])).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const progress = (line: string) => process.stderr.write(`bench:query: ${line}\n`);
  let sizes: number[];
  let queries: number;
  let json: boolean;
  try {
    const { values, positionals } = parseArgs({
      args: process.argv.slice(2),
      options: { queries: { type: 'string' }, json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    sizes =
      positionals.length > 0
        ? positionals.map((text) => positiveInteger('members', text, 2, MAX_CLUSTER_SIZE))
        : DEFAULT_SIZES;
    queries = positiveInteger('--queries', values.queries ?? String(DEFAULT_QUERIES), 1, 10_000);
    json = values.json ?? false;
  } catch (error) {
    progress((error as Error).message);
    process.exit(2);
  }
  const results: SerfQueryResult[] = [];
  try {
    for (const members of sizes)
      results.push(await measureSerfQuery({ members, queries, onProgress: progress }));
  } catch (error) {
    progress((error as Error).message);
    process.exitCode = error instanceof SniffmeshError ? error.exitCode : 1;
  }
  if (results.length > 0)
    process.stdout.write(json ? `${JSON.stringify(results, null, 2)}\n` : `${formatTable(results)}\n`);
}

await main();
