import { type Command, Option } from 'commander';
import {
  DEFAULT_MAX_FLOWS,
  DEFAULT_RETENTION_SECONDS,
  MAX_MAX_FLOWS,
  MAX_RETENTION_SECONDS,
  MIN_MAX_FLOWS,
} from '../node/flows/flow-store-config.js';
import { GROUPINGS, type Grouping, METRICS, type Metric } from '../node/flows/key-vocabulary.js';
import { LocalNetworks } from '../node/flows/local-networks.js';
import type { TopQuery } from '../node/flows/top-query.js';
import { UsageError } from '../util/errors.js';

/** Options every reporting command accepts, as commander hands them over. */
export interface ReportOptionValues {
  group: Grouping;
  by: Metric;
  limit: string;
  window?: string;
  json?: boolean;
  maxFlows: string;
  retention: string;
  localNet?: string[];
}

/**
 * Adds the flags of any top-talkers question: --group, --by, --limit, --window, --json. `limitHelp`
 * describes --limit, whose range differs between a local table (0 = all) and a cluster query.
 */
export function addQueryOptions(command: Command, limitHelp = 'rows to show; 0 = all'): Command {
  return command
    .addOption(
      new Option(
        '-g, --group <grouping>',
        'what a row is: host (either side), src, dst, pair, flow, port, proto',
      )
        .choices(GROUPINGS)
        .default('host'),
    )
    .addOption(new Option('-b, --by <metric>', 'rank rows by').choices(METRICS).default('bytes'))
    .option('-n, --limit <N>', limitHelp, '10')
    .option(
      '-w, --window <seconds>',
      'only the last N seconds (for a file: counted back from its last frame)',
    )
    .option('--json', 'print exactly one JSON object on stdout instead of a table');
}

/** Adds --group, --by, --limit, --window, --json, --max-flows, --retention, --local-net to `command`. */
export function addReportOptions(command: Command): Command {
  return addQueryOptions(command)
    .option(
      '--max-flows <N>',
      'memory budget in flows; beyond it the lightest flows are evicted',
      String(DEFAULT_MAX_FLOWS),
    )
    .option('--retention <seconds>', 'how far back --window can reach', String(DEFAULT_RETENTION_SECONDS))
    .option(
      '--local-net <cidr>',
      "addresses of this host's networks (repeatable); flows record whether this host sent or received them",
      (value: string, previous: string[] = []) => [...previous, value],
    );
}

export function parseInteger(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag} must be a whole number, got '${text}'`);
  const value = Number(text);
  if (value < min || value > max)
    throw new UsageError(`${flag} must be between ${min} and ${max}, got ${value}`);
  return value;
}

export interface ReportSettings {
  query: TopQuery;
  json: boolean;
  maxFlows: number;
  retentionSeconds: number;
  localNetworks: LocalNetworks;
}

export function reportSettings(values: ReportOptionValues): ReportSettings {
  const retentionSeconds = parseInteger('--retention', values.retention, 1, MAX_RETENTION_SECONDS);
  const windowSeconds =
    values.window === undefined ? null : parseInteger('--window', values.window, 1, retentionSeconds);
  const localNetworks = new LocalNetworks();
  for (const cidr of values.localNet ?? []) localNetworks.add(cidr);
  return {
    query: {
      group: values.group,
      by: values.by,
      limit: parseInteger('--limit', values.limit, 0, 1e9),
      windowSeconds,
    },
    json: values.json === true,
    maxFlows: parseInteger('--max-flows', values.maxFlows, MIN_MAX_FLOWS, MAX_MAX_FLOWS),
    retentionSeconds,
    localNetworks,
  };
}
