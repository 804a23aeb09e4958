import type { PhaseRequest } from '../node/agent/local-query-engine.js';
import { FlowFilter } from '../node/flows/flow-filter.js';
import { MAX_RETENTION_SECONDS } from '../node/flows/flow-store-config.js';
import {
  GROUPING_CODES_TEXT,
  GROUPING_MODE,
  GROUPINGS,
  METRIC_CODE,
  METRIC_CODES_TEXT,
  METRICS,
} from '../node/flows/key-vocabulary.js';
import {
  type Filters,
  Grouping,
  MergePhase,
  type MergeRequest,
  Metric,
  Scope,
  type TopTalkersRequest,
  type WatchTopRequest,
} from './generated/sniffmesh.js';
import { quoteInput } from './input-quote.js';
import { phaseRequestFromWire } from './phase-wire.js';
import { type QueryConfig, REQUEST_LIMITS } from './query-config.js';
import { ClockSkewError, InvalidRequestError } from './service-errors.js';

/** Wire codes of the key vocabulary's groupings and metrics (0 = the default). */
const GROUPING_CODES = [0, ...GROUPINGS.map((g) => GROUPING_MODE[g])];
const METRIC_CODES = [0, ...METRICS.map((m) => METRIC_CODE[m])];

export interface ValidTopRequest {
  readonly group: Grouping;
  readonly by: Metric;
  readonly windowSeconds: number;
  readonly limit: number;
  readonly filters: Filters;
  readonly scope: 'cluster' | 'local';
  readonly deadlineMs: number;
}

function checkEnum(value: number, field: string, allowed: readonly number[], names: string): void {
  if (!allowed.includes(value)) throw new InvalidRequestError(`${field} ${value} is not one of ${names}`);
}

/** A list field's length against its bound. */
function checkCount(field: string, count: number, max: number): void {
  if (count > max) throw new InvalidRequestError(`${field}: ${count} entries, at most ${max}`);
}

/** Every string of a list field against its bound; the message quotes a short prefix of the bad one. */
function checkStrings(field: string, values: readonly string[], maxChars: number): void {
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as string;
    if (value.length > maxChars) {
      throw new InvalidRequestError(
        `${field}[${i}] ${quoteInput(value)}: ${value.length} characters, at most ${maxChars}`,
      );
    }
  }
}

/** Validates filter lists (bad CIDRs, ports, protocols) and their sizes. */
export function validateFilters(filters: Filters | undefined, field = 'filters'): Filters {
  const f: Filters = filters ?? { cidrs: [], ports: [], protocols: [], nodes: [] };
  for (const [name, list] of [
    ['cidrs', f.cidrs],
    ['ports', f.ports],
    ['protocols', f.protocols],
    ['nodes', f.nodes],
  ] as const) {
    checkCount(`${field}.${name}`, list.length, REQUEST_LIMITS.filterEntries);
  }
  // Lengths before parsing: the parser's messages quote what they reject, and only bounded text reaches it.
  checkStrings(`${field}.cidrs`, f.cidrs, REQUEST_LIMITS.cidrChars);
  checkStrings(`${field}.nodes`, f.nodes, REQUEST_LIMITS.nodeNameChars);
  try {
    FlowFilter.compile({ cidrs: f.cidrs, ports: f.ports, protocols: f.protocols });
  } catch (error) {
    throw new InvalidRequestError(error instanceof Error ? error.message : String(error));
  }
  return f;
}

export function validateTopRequest(request: TopTalkersRequest, config: QueryConfig): ValidTopRequest {
  checkEnum(request.group, 'group', GROUPING_CODES, GROUPING_CODES_TEXT);
  checkEnum(request.by, 'by', METRIC_CODES, METRIC_CODES_TEXT);
  checkEnum(request.scope, 'scope', [0, 1, 2], 'cluster (1), local (2)');
  const scope = request.scope === Scope.SCOPE_LOCAL ? 'local' : 'cluster';
  if (request.windowSeconds > MAX_RETENTION_SECONDS) {
    throw new InvalidRequestError(
      `window_seconds ${request.windowSeconds}: at most ${MAX_RETENTION_SECONDS} (a week); 0 = everything retained`,
    );
  }
  if (scope === 'cluster' && request.limit > config.maxClusterLimit) {
    throw new InvalidRequestError(
      `limit ${request.limit}: a cluster query returns at most ${config.maxClusterLimit} rows ` +
        '(the exact merge ships more the larger it is); ask one node with scope local for more',
    );
  }
  if (request.deadlineMs > config.maxDeadlineMs) {
    throw new InvalidRequestError(
      `deadline_ms ${request.deadlineMs}: at most ${config.maxDeadlineMs}; 0 = the default ${config.defaultDeadlineMs}`,
    );
  }
  return {
    group: request.group === Grouping.GROUPING_UNSPECIFIED ? Grouping.GROUPING_HOST : request.group,
    by: request.by === Metric.METRIC_UNSPECIFIED ? Metric.METRIC_BYTES : request.by,
    windowSeconds: request.windowSeconds,
    limit: request.limit === 0 ? config.defaultLimit : request.limit,
    filters: validateFilters(request.filters),
    scope,
    deadlineMs: request.deadlineMs === 0 ? config.defaultDeadlineMs : request.deadlineMs,
  };
}

export interface ValidWatchTopRequest {
  readonly query: ValidTopRequest;
  readonly intervalMs: number;
}

/** WatchTop: its query checked exactly as TopTalkers checks it, then its interval. */
export function validateWatchTopRequest(request: WatchTopRequest, config: QueryConfig): ValidWatchTopRequest {
  if (request.query === undefined) throw new InvalidRequestError('watch request without a query');
  const query = validateTopRequest(request.query, config);
  if (request.intervalSeconds > config.maxWatchIntervalSeconds) {
    throw new InvalidRequestError(
      `interval_seconds ${request.intervalSeconds}: at most ${config.maxWatchIntervalSeconds}; 0 = the default ${config.defaultWatchIntervalSeconds}`,
    );
  }
  return { query, intervalMs: (request.intervalSeconds || config.defaultWatchIntervalSeconds) * 1000 };
}

/**
 * Checks what a peer's merge request asks before the node computes anything, and returns it as the
 * node's own request (phase-wire.ts). `nowMs` is this node's clock.
 */
export function validateMergeRequest(
  request: MergeRequest,
  config: QueryConfig,
  nowMs: number = Date.now(),
): PhaseRequest {
  const window = request.window;
  if (window === undefined) throw new InvalidRequestError('merge request without a window');
  checkEnum(window.group, 'window.group', GROUPING_CODES, GROUPING_CODES_TEXT);
  checkEnum(window.by, 'window.by', METRIC_CODES, METRIC_CODES_TEXT);
  checkEnum(
    request.phase,
    'phase',
    [MergePhase.MERGE_PHASE_LOCAL_TOP, MergePhase.MERGE_PHASE_ABOVE_THRESHOLD, MergePhase.MERGE_PHASE_EXACT],
    'local top (1), above threshold (2), exact (3)',
  );
  if (request.queryId.length > REQUEST_LIMITS.queryIdChars) {
    throw new InvalidRequestError(
      `query_id ${quoteInput(request.queryId)}: ${request.queryId.length} characters, at most ${REQUEST_LIMITS.queryIdChars}`,
    );
  }
  if (!Number.isSafeInteger(window.fromSecond) || !Number.isSafeInteger(window.toSecond)) {
    throw new InvalidRequestError('window seconds must be integers');
  }
  if (window.fromSecond < 0) {
    throw new InvalidRequestError(`window from_second ${window.fromSecond}: must be >= 0 (Unix seconds)`);
  }
  if (window.toSecond < window.fromSecond) {
    throw new InvalidRequestError(
      `window to_second ${window.toSecond} is before from_second ${window.fromSecond}`,
    );
  }
  // The window ends when its last second does. Ahead of this clock by a little: answered from the seconds
  // closed here, and the answer says so; by more than the tolerance: refused, the clocks are wrong.
  const aheadMs = (window.toSecond + 1) * 1000 - nowMs;
  if (aheadMs > config.maxClockSkewMs) {
    throw new ClockSkewError(
      `window to_second ${window.toSecond} ends ${(aheadMs / 1000).toFixed(1)} s after this node's clock ` +
        `(tolerance ${config.maxClockSkewMs / 1000} s): are the members' clocks synchronised (NTP)?`,
    );
  }
  if (request.k > config.maxClusterLimit) {
    throw new InvalidRequestError(`k ${request.k}: at most ${config.maxClusterLimit}`);
  }
  if (!Number.isFinite(request.threshold) || request.threshold < 0) {
    throw new InvalidRequestError(`threshold ${request.threshold}: must be a finite number >= 0`);
  }
  checkCount('keys', request.keys.length, REQUEST_LIMITS.mergeKeys);
  checkStrings('keys', request.keys, REQUEST_LIMITS.mergeKeyChars);
  validateFilters(window.filters, 'window.filters');
  checkCount('window.member_networks', window.memberNetworks.length, REQUEST_LIMITS.memberNetworks);
  checkStrings('window.member_networks', window.memberNetworks, REQUEST_LIMITS.cidrChars);
  checkMemberNetworks(window.memberNetworks);
  return phaseRequestFromWire(request);
}

/**
 * Member network lists already checked, by their text: every phase of every query carries the same
 * list, and parsing ~30 addresses per request was the largest cost of answering a phase (profiled).
 */
const checkedNetworkLists = new Set<string>();
const CHECKED_NETWORK_LISTS_KEPT = 64;

function checkMemberNetworks(networks: readonly string[]): void {
  const key = networks.join(',');
  if (checkedNetworkLists.has(key)) return;
  try {
    FlowFilter.compile({ cidrs: networks, ports: [], protocols: [] });
  } catch (error) {
    throw new InvalidRequestError(
      `member networks: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (checkedNetworkLists.size >= CHECKED_NETWORK_LISTS_KEPT) checkedNetworkLists.clear();
  checkedNetworkLists.add(key);
}
