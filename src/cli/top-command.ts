import type { Command } from 'commander';
import { MAX_RETENTION_SECONDS } from '../node/flows/flow-store-config.js';
import {
  GROUPING_MODE,
  type Grouping as GroupName,
  groupingOfCode,
  METRIC_CODE,
  metricOfCode,
} from '../node/flows/key-vocabulary.js';
import { Scope, type TopTalkersRequest, type TopTalkersResponse } from '../query/generated/sniffmesh.js';
import type { QueryClient } from '../query/query-client.js';
import { DEFAULT_QUERY_CONFIG } from '../query/query-config.js';
import { SniffmeshError } from '../util/errors.js';
import { terminalJson } from '../util/terminal-text.js';
import { type QueryScope, type TopAnswerJson, topAnswerJson, topAnswerTable } from './cluster-top-output.js';
import { addQueryOptions, parseInteger } from './common-options.js';
import { interruptOnSignal } from './interrupt-signal.js';
import { addNodeOption, type NodeOptionValues, withNodeClient } from './node-option.js';
import { addFilterOptions, type FilterOptionValues, filtersFrom } from './top-filters.js';

/** The server's row cap, default and maximum fan-out deadline: the defaults of query-config.ts. */
const MAX_CLUSTER_ROWS = DEFAULT_QUERY_CONFIG.maxClusterLimit;
const SERVER_DEFAULT_DEADLINE_MS = DEFAULT_QUERY_CONFIG.defaultDeadlineMs;
const SERVER_MAX_DEADLINE_MS = DEFAULT_QUERY_CONFIG.maxDeadlineMs;
/**
 * Our own deadline is the server's plus this: the server answers with per-node timeouts at its
 * deadline, and that answer (naming the slow nodes) is worth waiting for over a bare "did not answer".
 */
const CLIENT_DEADLINE_MARGIN_MS = 1500;
/** --watch's upper bound: the server's (an hour between refreshes). */
const MAX_WATCH_INTERVAL_SECONDS = DEFAULT_QUERY_CONFIG.maxWatchIntervalSeconds;
/** Home the cursor and clear the screen, so a refreshed table replaces the last one on a terminal. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

interface TopOptionValues extends NodeOptionValues, FilterOptionValues {
  group: GroupName;
  by: 'bytes' | 'packets';
  limit: string;
  window?: string;
  json?: boolean;
  watch?: string;
  local?: boolean;
  deadline?: string;
}

interface TopSettings {
  request: TopTalkersRequest;
  scope: QueryScope;
  json: boolean;
  /** Seconds between refreshes; null = ask once. */
  watchSeconds: number | null;
  clientDeadlineMs: number;
}

/**
 * `sniffmesh top`: the cluster's top talkers, asked from any agent over gRPC (or one node's with
 * --local). Failing members do not fail the answer: they are listed under the table.
 */
export function registerTopCommand(program: Command, output: { out: (text: string) => void }): void {
  const command = program
    .command('top')
    .description('top talkers of the whole cluster (or of one node with --local), asked from any agent');
  addNodeOption(command);
  addQueryOptions(command, `rows to show (1-${MAX_CLUSTER_ROWS})`);
  addFilterOptions(command);
  command
    .option('--watch <seconds>', 'refresh every N seconds until Ctrl-C (with --json: one object per line)')
    .option('--local', "only the asked node's own traffic, not the cluster's")
    .option(
      '--deadline <ms>',
      `how long the asked node waits for the others (default ${SERVER_DEFAULT_DEADLINE_MS}, at most ${SERVER_MAX_DEADLINE_MS})`,
    );
  command.action(async (values: TopOptionValues) => {
    const settings = topSettings(values);
    await withNodeClient(values, async (client) => {
      const title = titleOf(settings, client.address);
      const render = (response: TopTalkersResponse) => {
        const answer = topAnswerJson(response, settings.scope);
        return settings.json ? terminalJson(answer) : topAnswerTable(answer, title);
      };
      if (settings.watchSeconds === null) {
        const response = await client.topTalkers(settings.request, settings.clientDeadlineMs);
        const answer = topAnswerJson(response, settings.scope);
        // JSON is printed either way (scripts read every node's outcome); a table of nothing is not.
        if (settings.json) output.out(terminalJson(answer));
        const nobody = noNodeAnswered(answer, client.address);
        if (nobody !== null) throw nobody;
        if (!settings.json) output.out(topAnswerTable(answer, title));
        return;
      }
      await watchTop(client, settings, settings.watchSeconds, render, output);
    });
  });
}

/** Every flag checked before anything is sent: a bad one is a usage error (exit 2), never a query. */
function topSettings(values: TopOptionValues): TopSettings {
  const scope: QueryScope = values.local === true ? 'local' : 'cluster';
  const deadlineMs =
    values.deadline === undefined
      ? 0
      : parseInteger('--deadline', values.deadline, 1, SERVER_MAX_DEADLINE_MS);
  return {
    request: {
      group: GROUPING_MODE[values.group],
      by: METRIC_CODE[values.by],
      windowSeconds:
        values.window === undefined ? 0 : parseInteger('--window', values.window, 1, MAX_RETENTION_SECONDS),
      limit: parseInteger('--limit', values.limit, 1, MAX_CLUSTER_ROWS),
      filters: filtersFrom(values),
      scope: scope === 'local' ? Scope.SCOPE_LOCAL : Scope.SCOPE_CLUSTER,
      deadlineMs,
    },
    scope,
    json: values.json === true,
    watchSeconds:
      values.watch === undefined
        ? null
        : parseInteger('--watch', values.watch, 1, MAX_WATCH_INTERVAL_SECONDS),
    clientDeadlineMs:
      (deadlineMs === 0 ? SERVER_DEFAULT_DEADLINE_MS : deadlineMs) + CLIENT_DEADLINE_MARGIN_MS,
  };
}

/**
 * A cluster answer to which no member contributed (every one failed, timed out or was skipped) is not an
 * empty top: it is exit 1, with one line naming every member and why. An answer from some members is
 * exit 0 (the table names the missing ones). A --watch refresh of nobody is shown and the watch goes on.
 */
function noNodeAnswered(answer: TopAnswerJson, address: string): SniffmeshError | null {
  if (answer.nodes.some((node) => node.status === 'ok')) return null;
  const outcomes = answer.nodes.map(
    (node) =>
      `${node.name} ${node.status}${node.error === null ? '' : ` (${node.error.replace(/\s*\n\s*/g, '; ')})`}`,
  );
  return new SniffmeshError(
    'NO_NODE_ANSWERED',
    `no node answered via ${address} (0 of ${answer.nodes.length})` +
      (outcomes.length === 0 ? ': the cluster has no member to ask' : `: ${outcomes.join('; ')}`),
  );
}

function titleOf(settings: TopSettings, address: string): string {
  const { request } = settings;
  const who = settings.scope === 'local' ? `${address} (local)` : `cluster via ${address}`;
  const group = groupingOfCode(request.group) ?? 'host';
  const by = metricOfCode(request.by) ?? 'bytes';
  const window = request.windowSeconds === 0 ? 'everything retained' : `last ${request.windowSeconds}s`;
  return `${who}: top ${request.limit} ${group} rows by ${by} (${window})`;
}

/**
 * Streams the answer every `intervalSeconds` until Ctrl-C (exit 0). A terminal gets the table redrawn in
 * place; a pipe gets every table, separated by a blank line (or one JSON object per line).
 */
async function watchTop(
  client: QueryClient,
  settings: TopSettings,
  intervalSeconds: number,
  render: (response: TopTalkersResponse) => string,
  output: { out: (text: string) => void },
): Promise<void> {
  const interruption = interruptOnSignal();
  const redraw = !settings.json && process.stdout.isTTY === true;
  let updates = 0;
  try {
    await client.watchTop(
      { query: settings.request, intervalSeconds },
      (response) => {
        const text = render(response);
        if (redraw) output.out(`${CLEAR_SCREEN}${text}`);
        else output.out(settings.json || updates === 0 ? text : `\n${text}`);
        updates++;
      },
      interruption.signal,
    );
  } finally {
    interruption.dispose();
  }
  if (!interruption.signal.aborted) {
    throw new SniffmeshError(
      'QUERY_STREAM_ENDED',
      `${client.address} ended the watch (is the agent stopping?)`,
    );
  }
}
