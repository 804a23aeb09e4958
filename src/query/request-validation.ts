import { FlowFilter } from '../node/flows/flow-filter.js';
import { SniffmeshError } from '../util/errors.js';
import {
  type Filters,
  Grouping,
  MergePhase,
  type MergeRequest,
  Metric,
  Scope,
  type TopTalkersRequest,
} from './generated/sniffmesh.js';
import type { QueryConfig } from './query-config.js';

/** A request the service refuses; becomes gRPC INVALID_ARGUMENT with this message. */
export class InvalidRequestError extends SniffmeshError {
  override name = 'InvalidRequestError';
  constructor(message: string) {
    super('INVALID_ARGUMENT', message, { exitCode: 2 });
  }
}

/** The longest window anyone can mean: a week (the longest --retention). */
export const MAX_WINDOW_SECONDS = 7 * 24 * 3600;
/** Filter entries per list: enough for any hand-written query, small enough to bound the work. */
const MAX_FILTER_ENTRIES = 256;
/** Keys a phase-3 request may name: TPUT's candidates stay far below this for k <= maxClusterLimit. */
const MAX_MERGE_KEYS = 1_000_000;

const GROUPING_TEXT = 'host (1), src (2), dst (3), pair (4), flow (5), port (6), proto (7)';

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

/** Validates filter lists (bad CIDRs, ports, protocols) and their sizes. */
export function validateFilters(filters: Filters | undefined): Filters {
  const f: Filters = filters ?? { cidrs: [], ports: [], protocols: [], nodes: [] };
  for (const [name, list] of [
    ['cidrs', f.cidrs],
    ['ports', f.ports],
    ['protocols', f.protocols],
    ['nodes', f.nodes],
  ] as const) {
    if (list.length > MAX_FILTER_ENTRIES) {
      throw new InvalidRequestError(`filters.${name}: ${list.length} entries, at most ${MAX_FILTER_ENTRIES}`);
    }
  }
  try {
    FlowFilter.compile({ cidrs: f.cidrs, ports: f.ports, protocols: f.protocols });
  } catch (error) {
    throw new InvalidRequestError(error instanceof Error ? error.message : String(error));
  }
  return f;
}

export function validateTopRequest(request: TopTalkersRequest, config: QueryConfig): ValidTopRequest {
  checkEnum(request.group, 'group', [0, 1, 2, 3, 4, 5, 6, 7], GROUPING_TEXT);
  checkEnum(request.by, 'by', [0, 1, 2], 'bytes (1), packets (2)');
  checkEnum(request.scope, 'scope', [0, 1, 2], 'cluster (1), local (2)');
  const scope = request.scope === Scope.SCOPE_LOCAL ? 'local' : 'cluster';
  if (request.windowSeconds > MAX_WINDOW_SECONDS) {
    throw new InvalidRequestError(
      `window_seconds ${request.windowSeconds}: at most ${MAX_WINDOW_SECONDS} (a week); 0 = everything retained`,
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

/** Checks what a peer's merge request asks before the node computes anything. */
export function validateMergeRequest(request: MergeRequest, config: QueryConfig): void {
  const window = request.window;
  if (window === undefined) throw new InvalidRequestError('merge request without a window');
  checkEnum(window.group, 'window.group', [0, 1, 2, 3, 4, 5, 6, 7], GROUPING_TEXT);
  checkEnum(window.by, 'window.by', [0, 1, 2], 'bytes (1), packets (2)');
  checkEnum(
    request.phase,
    'phase',
    [MergePhase.MERGE_PHASE_LOCAL_TOP, MergePhase.MERGE_PHASE_ABOVE_THRESHOLD, MergePhase.MERGE_PHASE_EXACT],
    'local top (1), above threshold (2), exact (3)',
  );
  if (!Number.isSafeInteger(window.fromSecond) || !Number.isSafeInteger(window.toSecond)) {
    throw new InvalidRequestError('window seconds must be integers');
  }
  if (window.toSecond < window.fromSecond) {
    throw new InvalidRequestError(
      `window to_second ${window.toSecond} is before from_second ${window.fromSecond}`,
    );
  }
  if (window.toSecond * 1000 > Date.now() + config.maxDeadlineMs) {
    throw new InvalidRequestError(`window to_second ${window.toSecond} is in the future (clock skew?)`);
  }
  if (request.k > config.maxClusterLimit) {
    throw new InvalidRequestError(`k ${request.k}: at most ${config.maxClusterLimit}`);
  }
  if (!Number.isFinite(request.threshold) || request.threshold < 0) {
    throw new InvalidRequestError(`threshold ${request.threshold}: must be a finite number >= 0`);
  }
  if (request.keys.length > MAX_MERGE_KEYS) {
    throw new InvalidRequestError(`${request.keys.length} keys: at most ${MAX_MERGE_KEYS}`);
  }
  validateFilters(window.filters);
  if (window.memberNetworks.length > MAX_FILTER_ENTRIES * 16) {
    throw new InvalidRequestError(`${window.memberNetworks.length} member networks: too many`);
  }
  checkMemberNetworks(window.memberNetworks);
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
