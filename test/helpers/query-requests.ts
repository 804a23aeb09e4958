import {
  Grouping,
  MergePhase,
  type MergeRequest,
  Metric,
  Scope,
  type TopTalkersRequest,
} from '../../src/query/generated/sniffmesh.js';

/** A valid cluster top-talkers request (host by bytes, everything retained, 10 rows), with `overrides`. */
export function topTalkersRequest(overrides: Partial<TopTalkersRequest> = {}): TopTalkersRequest {
  return {
    group: Grouping.GROUPING_HOST,
    by: Metric.METRIC_BYTES,
    windowSeconds: 0,
    limit: 10,
    filters: undefined,
    scope: Scope.SCOPE_CLUSTER,
    deadlineMs: 0,
    ...overrides,
  };
}

/**
 * A valid first merge phase (local top 5, host by bytes) over the last 10 seconds that ended at least
 * two seconds ago, with `overrides` on the request and `windowOverrides` on its window.
 */
export function mergeRequest(
  overrides: Partial<MergeRequest> = {},
  windowOverrides: Partial<NonNullable<MergeRequest['window']>> = {},
): MergeRequest {
  const to = Math.floor(Date.now() / 1000) - 2;
  return {
    queryId: 'q',
    window: {
      group: Grouping.GROUPING_HOST,
      by: Metric.METRIC_BYTES,
      fromSecond: to - 9,
      toSecond: to,
      filters: undefined,
      memberNetworks: [],
      ...windowOverrides,
    },
    phase: MergePhase.MERGE_PHASE_LOCAL_TOP,
    k: 5,
    threshold: 0,
    keys: [],
    requestId: 0,
    ...overrides,
  };
}
