import {
  type Grouping as GroupName,
  groupingOfCode,
  type Metric as MetricName,
  metricOfCode,
  type ReportRow as RowJson,
  reportRowOf,
} from '../node/flows/key-vocabulary.js';
import { type NodeOutcome, NodeStatus, type TopTalkersResponse } from '../query/generated/sniffmesh.js';
import { terminalText } from '../util/terminal-text.js';
import { formatBytes, formatCount } from './format.js';
import { rowsTable, totalsLine } from './report-output.js';

export type QueryScope = 'cluster' | 'local';

const STATUS_NAMES: Record<NodeStatus, NodeJson['status']> = {
  [NodeStatus.NODE_STATUS_UNSPECIFIED]: 'failed',
  [NodeStatus.NODE_STATUS_OK]: 'ok',
  [NodeStatus.NODE_STATUS_FAILED]: 'failed',
  [NodeStatus.NODE_STATUS_TIMEOUT]: 'timeout',
  [NodeStatus.NODE_STATUS_SKIPPED]: 'skipped',
  [NodeStatus.UNRECOGNIZED]: 'failed',
};

export interface NodeJson {
  name: string;
  address: string;
  status: 'ok' | 'failed' | 'timeout' | 'skipped';
  error: string | null;
  /** The gRPC status code of a failure (4 = DEADLINE_EXCEEDED, 14 = UNAVAILABLE, ...); 0 otherwise. */
  code: number;
  /** Nodes that answered: whether their data covers the whole window, and the newest second read. */
  windowComplete: boolean | null;
  windowTo: number | null;
}

/**
 * The one object `top --json` prints: the fields of `analyze --json` under the same names (so scripts
 * read both alike), plus what only a cluster answer has: the nodes asked, the ones missing, the merge
 * cost, the query id and the time taken.
 */
export interface TopAnswerJson {
  rows: RowJson[];
  totals: { packets: number; bytes: number; ipPackets: number; ipBytes: number };
  undecoded: Record<string, number>;
  group: GroupName;
  by: MetricName;
  /** Distinct groups: known for a local answer, null for a cluster one (it would mean shipping every table). */
  groups: number | null;
  window: { seconds: number | null; from: number | null; to: number | null; complete: boolean };
  /** A row's true value lies in [value, value + evicted]. */
  evicted: { packets: number; bytes: number };
  exact: boolean;
  nodes: NodeJson[];
  missingNodes: string[];
  transfer: { rows: number; bytes: number };
  queryId: string;
  elapsedMs: number;
}

export function topAnswerJson(response: TopTalkersResponse, scope: QueryScope): TopAnswerJson {
  const group = groupingOfCode(response.group) ?? 'host';
  const totals = response.totals ?? { packets: 0, bytes: 0, ipPackets: 0, ipBytes: 0 };
  const undecoded: Record<string, number> = {};
  for (const { reason, packets } of response.undecoded)
    undecoded[reason] = (undecoded[reason] ?? 0) + packets;
  return {
    // The wire carries the forward part; analyze prints both parts under the grouping's names.
    rows: response.rows.map((row) => reportRowOf(group, row)),
    totals: {
      packets: totals.packets,
      bytes: totals.bytes,
      ipPackets: totals.ipPackets,
      ipBytes: totals.ipBytes,
    },
    undecoded,
    group,
    by: metricOfCode(response.by) ?? 'bytes',
    groups: scope === 'local' ? response.groups : null,
    window: {
      seconds: response.windowSeconds === 0 ? null : response.windowSeconds,
      from: response.windowFromSecond === 0 ? null : response.windowFromSecond,
      to: response.windowToSecond === 0 ? null : response.windowToSecond,
      complete: response.windowComplete,
    },
    evicted: { packets: response.evictedPackets, bytes: response.evictedBytes },
    exact: response.exact,
    nodes: response.nodes.map(nodeJson),
    missingNodes: response.missingNodes,
    transfer: { rows: response.rowsTransferred, bytes: response.bytesTransferred },
    queryId: response.queryId,
    // Microseconds are plenty; the double's binary noise (3.40031799999997) is not information.
    elapsedMs: Math.round(response.elapsedMs * 1000) / 1000,
  };
}

function nodeJson(node: NodeOutcome): NodeJson {
  const status = STATUS_NAMES[node.status] ?? 'failed';
  return {
    name: node.name,
    address: node.address,
    status,
    error: node.error === '' ? null : node.error,
    code: node.code,
    windowComplete: status === 'ok' ? node.windowComplete : null,
    windowTo: status === 'ok' && node.windowToSecond !== 0 ? node.windowToSecond : null,
  };
}

/**
 * The answer as a table like analyze's, then one line per member that is not ok, then the footer:
 * what was counted, the window read, whether the answer is exact (and why not), the merge cost.
 */
export function topAnswerTable(answer: TopAnswerJson, title: string): string {
  const lines = [title, '', rowsTable(answer), ''];
  for (const node of answer.nodes) if (node.status !== 'ok') lines.push(nodeProblemLine(node));
  const answered = answer.nodes.filter((node) => node.status === 'ok').length;
  lines.push(
    `${totalsLine(answer)}` +
      (answer.groups === null ? '' : `; ${formatCount(answer.groups)} rows in all`) +
      (answer.nodes.length > 0 ? `; ${answered} of ${answer.nodes.length} nodes answered` : ''),
  );
  lines.push(`window read: ${windowText(answer.window)}`);
  lines.push(`exact: ${answer.exact ? 'yes' : `no (${inexactReasons(answer).join('; ')})`}`);
  lines.push(
    `transferred ${formatCount(answer.transfer.rows)} rows, ${formatBytes(answer.transfer.bytes)}; ` +
      `elapsed ${answer.elapsedMs.toFixed(0)} ms` +
      (answer.queryId === '' ? '' : `; query ${answer.queryId}`),
  );
  return lines.join('\n');
}

/** `node b (127.0.0.1:7950): timeout — did not answer within 2000 ms`. Name, address and error come
 * from members (the error may quote a peer's own message): escaped for the terminal. */
export function nodeProblemLine(node: NodeJson): string {
  const where = node.address === '' ? '' : ` (${terminalText(node.address)})`;
  const error = node.error === null ? '' : ` — ${terminalText(node.error)}`;
  return `node ${terminalText(node.name)}${where}: ${node.status}${error}`;
}

function windowText(window: TopAnswerJson['window']): string {
  const asked = window.seconds === null ? 'everything retained' : `last ${window.seconds}s asked`;
  const coverage = window.complete ? '' : ', history does not cover the whole window';
  if (window.to === null) return `nothing retained yet (${asked})`;
  // No first second: everything the nodes kept, up to `to`.
  if (window.from === null) return `everything retained up to ${utcSecond(window.to)} (${asked}${coverage})`;
  const span = window.to - window.from + 1;
  return `${utcSecond(window.from)} .. ${utcSecond(window.to)} (${span} s; ${asked}${coverage})`;
}

/** Unix second -> "2023-11-14 22:13:20 UTC". */
function utcSecond(second: number): string {
  return `${new Date(second * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Why the server said the answer is not exact, from the fields that make it so. */
function inexactReasons(answer: TopAnswerJson): string[] {
  const reasons: string[] = [];
  if (answer.missingNodes.length > 0)
    reasons.push(`data missing from ${answer.missingNodes.map(terminalText).join(', ')}`);
  const partial = answer.nodes.filter((node) => node.windowComplete === false);
  if (partial.length > 0) {
    const behind = partial.filter(
      (node) => node.windowTo !== null && answer.window.to !== null && node.windowTo < answer.window.to,
    );
    const short = partial.filter((node) => !behind.includes(node));
    if (behind.length > 0) {
      reasons.push(
        `not closed yet on ${behind.map((node) => `${terminalText(node.name)} (read up to ${utcSecond(node.windowTo as number)}: clock behind?)`).join(', ')}`,
      );
    }
    if (short.length > 0) {
      reasons.push(
        `history does not cover the whole window on ${short.map((node) => terminalText(node.name)).join(', ')}`,
      );
    }
  } else if (!answer.window.complete) {
    reasons.push('history does not cover the whole window');
  }
  if (answer.evicted.packets > 0) {
    const bound =
      answer.by === 'bytes'
        ? formatBytes(answer.evicted.bytes)
        : `${formatCount(answer.evicted.packets)} packets`;
    reasons.push(`flows evicted for memory: a row may be up to ${bound} low`);
  }
  if (reasons.length === 0) reasons.push('the node asked gave no reason');
  return reasons;
}
