import type {
  MergePhaseCode,
  PhaseAnswer,
  PhaseRequest,
  QueryFilters,
  QueryWindow,
} from '../node/agent/local-query-engine.js';
import { GROUPING_MODE, groupingOfCode, METRIC_CODE, metricOfCode } from '../node/flows/key-vocabulary.js';
import type { Filters, MergeRequest, MergeResponse, MergeWindow } from './generated/sniffmesh.js';

/**
 * The proto adaptation of a node's local answers (src/node/agent/local-query-engine.ts): wire messages
 * in, the node's own types out, and back. Grouping and metric codes map through the key vocabulary
 * (key-vocabulary.ts), whose codes are the wire's enum values. Callers validate first
 * (request-validation.ts): these functions only translate.
 */

export function queryWindowFromWire(window: MergeWindow): QueryWindow {
  const group = groupingOfCode(window.group);
  const by = metricOfCode(window.by);
  if (group === undefined || by === undefined) {
    throw new RangeError(`queryWindowFromWire: grouping ${window.group} / metric ${window.by} not validated`);
  }
  return {
    group,
    by,
    fromSecond: window.fromSecond,
    toSecond: window.toSecond,
    filters: queryFiltersFromWire(window.filters),
    memberNetworks: window.memberNetworks,
  };
}

/** The flow filters of a request (the `nodes` list is the coordinator's business, not a node's). */
export function queryFiltersFromWire(filters: Filters | undefined): QueryFilters {
  return {
    cidrs: filters?.cidrs ?? [],
    ports: filters?.ports ?? [],
    protocols: filters?.protocols ?? [],
  };
}

export function queryWindowToWire(window: QueryWindow, nodes: readonly string[] = []): MergeWindow {
  return {
    group: GROUPING_MODE[window.group],
    by: METRIC_CODE[window.by],
    fromSecond: window.fromSecond,
    toSecond: window.toSecond,
    filters: { ...window.filters, nodes: [...nodes] },
    memberNetworks: window.memberNetworks,
  };
}

export function phaseRequestFromWire(request: MergeRequest): PhaseRequest {
  if (request.window === undefined) throw new RangeError('phaseRequestFromWire: no window (not validated)');
  return {
    queryId: request.queryId,
    window: queryWindowFromWire(request.window),
    phase: request.phase as number as MergePhaseCode,
    k: request.k,
    threshold: request.threshold,
    keys: request.keys,
  };
}

export function mergeResponseToWire(answer: PhaseAnswer, requestId = 0): MergeResponse {
  return {
    rows: answer.rows,
    transit: answer.transit,
    totals: answer.totals ?? undefined,
    undecoded: answer.undecoded,
    evictedPackets: answer.evictedPackets,
    evictedBytes: answer.evictedBytes,
    windowComplete: answer.windowComplete,
    node: answer.node,
    requestId,
    error: '',
    errorCode: 0,
    windowToSecond: answer.windowToSecond ?? 0,
  };
}
