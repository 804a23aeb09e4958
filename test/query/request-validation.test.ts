import { describe, expect, it } from 'vitest';
import {
  Grouping,
  MergePhase,
  type MergeRequest,
  Metric,
  Scope,
  type TopTalkersRequest,
} from '../../src/query/generated/sniffmesh.js';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { validateMergeRequest, validateTopRequest } from '../../src/query/request-validation.js';
import { ClockSkewError, InvalidRequestError } from '../../src/query/service-errors.js';

/** request-validation.ts: every refusal with its reason, and the node request a valid one becomes. */

const config = DEFAULT_QUERY_CONFIG;
const NOW_MS = 1_700_000_100_500;
const CLOSED = Math.floor(NOW_MS / 1000) - 2;

function top(overrides: Partial<TopTalkersRequest> = {}): TopTalkersRequest {
  return {
    group: 0,
    by: 0,
    windowSeconds: 0,
    limit: 0,
    filters: undefined,
    scope: 0,
    deadlineMs: 0,
    ...overrides,
  };
}

function merge(
  overrides: Partial<MergeRequest> = {},
  window: Partial<NonNullable<MergeRequest['window']>> = {},
): MergeRequest {
  return {
    queryId: 'q',
    window: {
      group: Grouping.GROUPING_PAIR,
      by: Metric.METRIC_PACKETS,
      fromSecond: CLOSED - 59,
      toSecond: CLOSED,
      filters: { cidrs: ['10.0.0.0/8'], ports: [443], protocols: [6], nodes: ['b'] },
      memberNetworks: ['10.1.0.0/16'],
      ...window,
    },
    phase: MergePhase.MERGE_PHASE_ABOVE_THRESHOLD,
    k: 10,
    threshold: 12.5,
    keys: [],
    requestId: 3,
    ...overrides,
  };
}

describe('validateTopRequest', () => {
  it('fills the defaults', () => {
    expect(validateTopRequest(top(), config)).toEqual({
      group: Grouping.GROUPING_HOST,
      by: Metric.METRIC_BYTES,
      windowSeconds: 0,
      limit: config.defaultLimit,
      filters: { cidrs: [], ports: [], protocols: [], nodes: [] },
      scope: 'cluster',
      deadlineMs: config.defaultDeadlineMs,
    });
  });

  it.each([
    [
      { group: 99 },
      /^group 99 is not one of host \(1\), src \(2\), dst \(3\), pair \(4\), flow \(5\), port \(6\), proto \(7\)$/,
    ],
    [{ by: 3 }, /^by 3 is not one of bytes \(1\), packets \(2\)$/],
    [{ scope: 7 }, /^scope 7 is not one of/],
    [{ windowSeconds: 7 * 24 * 3600 + 1 }, /^window_seconds 604801: at most 604800/],
    [{ limit: 1001 }, /^limit 1001: a cluster query returns at most 1000 rows/],
    [{ deadlineMs: 30_001 }, /^deadline_ms 30001: at most 30000/],
    [{ filters: { cidrs: ['10.0.0.0/33'], ports: [], protocols: [], nodes: [] } }, /10\.0\.0\.0\/33/],
    [
      { filters: { cidrs: [], ports: Array(257).fill(1), protocols: [], nodes: [] } },
      /^filters\.ports: 257 entries, at most 256$/,
    ],
  ])('refuses %j', (overrides, message) => {
    expect(() => validateTopRequest(top(overrides as Partial<TopTalkersRequest>), config)).toThrow(
      InvalidRequestError,
    );
    expect(() => validateTopRequest(top(overrides as Partial<TopTalkersRequest>), config)).toThrow(message);
  });

  it('lets a local query ask for more rows than a cluster one', () => {
    expect(validateTopRequest(top({ limit: 5000, scope: Scope.SCOPE_LOCAL }), config).limit).toBe(5000);
  });
});

describe('validateMergeRequest', () => {
  it('turns a valid request into the node request (names from the key vocabulary, no nodes filter)', () => {
    expect(validateMergeRequest(merge(), config, NOW_MS)).toEqual({
      queryId: 'q',
      window: {
        group: 'pair',
        by: 'packets',
        fromSecond: CLOSED - 59,
        toSecond: CLOSED,
        filters: { cidrs: ['10.0.0.0/8'], ports: [443], protocols: [6] },
        memberNetworks: ['10.1.0.0/16'],
      },
      phase: 2,
      k: 10,
      threshold: 12.5,
      keys: [],
    });
  });

  it.each([
    [merge({ window: undefined }), /^merge request without a window$/],
    [merge({}, { group: 8 as Grouping }), /^window\.group 8 is not one of/],
    [merge({}, { by: -1 }), /^window\.by -1 is not one of/],
    [merge({ phase: 0 }), /^phase 0 is not one of local top \(1\)/],
    [merge({}, { fromSecond: 10, toSecond: 9 }), /^window to_second 9 is before from_second 10$/],
    [merge({}, { toSecond: 1.5 }), /^window seconds must be integers$/],
    [merge({ k: 1001 }), /^k 1001: at most 1000$/],
    [merge({ threshold: Number.NaN }), /^threshold NaN: must be a finite number >= 0$/],
    [merge({ threshold: -1 }), /^threshold -1/],
    [merge({}, { memberNetworks: ['not-a-network'] }), /^member networks: /],
  ])('refuses a bad request (%#) with INVALID_ARGUMENT', (request, message) => {
    expect(() => validateMergeRequest(request, config, NOW_MS)).toThrow(InvalidRequestError);
    expect(() => validateMergeRequest(request, config, NOW_MS)).toThrow(message);
  });

  it('accepts a window ending up to the clock-skew tolerance after this clock, and refuses one beyond it', () => {
    const nowSecond = Math.floor(NOW_MS / 1000);
    // Ends 4.5 s from now: within 5 s.
    expect(validateMergeRequest(merge({}, { toSecond: nowSecond + 4 }), config, NOW_MS).window.toSecond).toBe(
      nowSecond + 4,
    );
    // Ends 5.5 s from now.
    const ahead = merge({}, { toSecond: nowSecond + 5 });
    expect(() => validateMergeRequest(ahead, config, NOW_MS)).toThrow(ClockSkewError);
    expect(() => validateMergeRequest(ahead, config, NOW_MS)).toThrow(
      /ends 5\.5 s after this node's clock \(tolerance 5 s\): are the members' clocks synchronised/,
    );
    // The tolerance is the config's.
    expect(() => validateMergeRequest(ahead, { ...config, maxClockSkewMs: 6000 }, NOW_MS)).not.toThrow();
  });
});
