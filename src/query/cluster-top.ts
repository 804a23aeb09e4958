import { status } from '@grpc/grpc-js';
import { compareRanked, sortRanked } from '../node/flows/key-vocabulary.js';
import { type FanOutOutcome, fanOut } from './fan-out.js';
import {
  MergePhase,
  type MergeRequest,
  type MergeResponse,
  type MergeWindow,
  Metric,
  type TopRow,
  type TransitFlow,
} from './generated/sniffmesh.js';
import { grpcStatusOf } from './service-errors.js';
import { phaseOne, phaseTwo, type ScoredKey } from './tput.js';

/**
 * The coordinator of one exact cluster top-k: TPUT's three phases (tput.ts) over every participating
 * node, with the I/O done by `ask` and a fan-out per phase under one deadline.
 *
 * Besides the sums TPUT merges, a node reports its transit flows (neither end a member answering the
 * query): the same flow may be seen by several nodes, so those observations merge by MAX per flow, not
 * sum. Their merged groups act as one extra, fully known "node" in the TPUT phases.
 *
 * A node that fails or times out in any phase is left out of the answer entirely (its rows of earlier
 * phases too, so every row sums the same set of nodes) and reported; the answer is then not exact.
 *
 * The deadline is shared out between the phases (PHASE_DEADLINE_SHARES): a hung node holds phase 1 only
 * until half the deadline has passed, so the nodes that did answer still have time for phases 2 and 3.
 * Healthy nodes answer a phase in milliseconds, so the shares only matter when someone hangs.
 */

/** Fraction of the query's time by which phases 1, 2 and 3 must be over. */
const PHASE_DEADLINE_SHARES = [0.5, 0.75, 1] as const;

export interface MergeAnswer {
  readonly response: MergeResponse;
  /** Encoded size of the response (what crossed the network, or would have for the local node). */
  readonly bytes: number;
}

/**
 * What the previous answer to the same question suggests, sent with phase 1: every node then also sends
 * its rows at or above `threshold` and the rows of `keys`. When the new threshold tau1 / m is not below
 * `threshold`, phase 2 is not needed; when the candidates are among the rows received, phase 3 is not
 * either. A wrong hint costs transfer, never exactness: the phases it would skip still run.
 */
export interface MergeHint {
  readonly threshold: number;
  readonly keys: readonly string[];
}

export interface ClusterTopOptions<Target> {
  readonly queryId: string;
  readonly hint?: MergeHint;
  readonly window: MergeWindow;
  readonly k: number;
  readonly targets: readonly Target[];
  readonly ask: (target: Target, request: MergeRequest, signal: AbortSignal) => Promise<MergeAnswer>;
  /** performance.now() ms by which the whole query must be answered. */
  readonly deadlineAt: number;
  readonly concurrency: number;
}

export interface NodeResult<Target> {
  readonly target: Target;
  readonly status: 'ok' | 'failed' | 'timeout';
  readonly error?: string;
  /** gRPC status code of the failure (DEADLINE_EXCEEDED for a timeout); 0 when ok. */
  readonly code: number;
  /** The phase it failed in (1..3). */
  readonly phase?: number;
  readonly latencyMs: number;
  /** Ok nodes: whether its phase-1 answer covered the whole window, and the newest second it read. */
  readonly windowComplete?: boolean;
  readonly windowToSecond?: number;
}

export interface ClusterTopResult<Target> {
  readonly rows: TopRow[];
  readonly nodes: NodeResult<Target>[];
  readonly totals: { packets: number; bytes: number; ipPackets: number; ipBytes: number };
  readonly undecoded: Map<string, number>;
  readonly evictedPackets: number;
  readonly evictedBytes: number;
  readonly windowComplete: boolean;
  readonly rowsTransferred: number;
  readonly bytesTransferred: number;
  readonly phases: number;
  /** The hint for the next identical question. */
  readonly nextHint: MergeHint;
}

/** What the coordinator knows about one node: every row it sent, by key. */
interface NodeState<Target> {
  readonly target: Target;
  readonly rows: Map<string, TopRow>;
  result: NodeResult<Target> | null;
}

export async function clusterTop<Target>(
  options: ClusterTopOptions<Target>,
): Promise<ClusterTopResult<Target>> {
  const { window, k } = options;
  const startedAt = performance.now();
  const byPackets = window.by === Metric.METRIC_PACKETS;
  const scoreOf = (row: TopRow) => (byPackets ? row.packets : row.bytes);
  let rowsTransferred = 0;
  let bytesTransferred = 0;
  let phases = 0;
  const states: NodeState<Target>[] = options.targets.map((target) => ({
    target,
    rows: new Map(),
    result: null,
  }));

  const runPhase = async (
    asked: NodeState<Target>[],
    request: (state: NodeState<Target>) => MergeRequest,
    phase: number,
  ): Promise<FanOutOutcome<NodeState<Target>, MergeAnswer>[]> => {
    phases++;
    const share = PHASE_DEADLINE_SHARES[phase - 1] ?? 1;
    const outcomes = await fanOut(
      asked,
      (state, signal) => options.ask(state.target, request(state), signal),
      { deadlineAt: startedAt + (options.deadlineAt - startedAt) * share, concurrency: options.concurrency },
    );
    for (const outcome of outcomes) {
      const state = outcome.target;
      if (outcome.status !== 'ok' || outcome.value === undefined) {
        state.result = {
          target: state.target,
          status: outcome.status === 'ok' ? 'failed' : outcome.status,
          error: outcome.error ?? 'no answer',
          code: outcome.status === 'timeout' ? status.DEADLINE_EXCEEDED : grpcStatusOf(outcome.cause).code,
          phase,
          latencyMs: outcome.latencyMs,
        };
        continue;
      }
      rowsTransferred += outcome.value.response.rows.length + outcome.value.response.transit.length;
      bytesTransferred += outcome.value.bytes;
      for (const row of outcome.value.response.rows) state.rows.set(row.key, row);
      // The window's coverage is phase 1's (later phases read the same table).
      const response = outcome.value.response;
      const coverage =
        phase === 1
          ? { windowComplete: response.windowComplete, windowToSecond: response.windowToSecond }
          : {
              windowComplete: state.result?.windowComplete ?? true,
              windowToSecond: state.result?.windowToSecond ?? 0,
            };
      state.result = {
        target: state.target,
        status: 'ok',
        code: 0,
        latencyMs: outcome.latencyMs,
        ...coverage,
      };
    }
    return outcomes;
  };
  const base = { queryId: options.queryId, window, k, threshold: 0, keys: [] as string[], requestId: 0 };

  // Phase 1: local top-k, totals and transit flows from everyone (and the hinted rows).
  const hint = options.hint;
  const first = await runPhase(
    states,
    () => ({
      ...base,
      phase: MergePhase.MERGE_PHASE_LOCAL_TOP,
      threshold: hint?.threshold ?? 0,
      keys: hint === undefined ? [] : [...hint.keys],
    }),
    1,
  );
  const answered = () => states.filter((s) => s.result?.status === 'ok');
  const transit = mergeTransit(
    first.flatMap((o) => (o.status === 'ok' && o.value ? o.value.response.transit : [])),
  );
  const transitScores = new Map<string, number>();
  for (const [key, row] of transit.rows) transitScores.set(key, scoreOf(row));
  const transitTop = topOf(transitScores, k);
  const tops = answered().map((s) => [...s.rows.values()].map((row) => scored(row, scoreOf)));
  if (transit.rows.size > 0) tops.push(transitTop);
  // Every row received is a true row of its node, so partial sums over all of them bound the k-th
  // score from below (phase one): tau1 / m is the threshold phase 2 must reach.
  const { threshold: needed } = phaseOne(tops, k);
  // Phase 2: every row at or above the threshold (the top-k already sent are not sent again), unless
  // phase 1 already brought every row at or above a lower one.
  const hinted = hint !== undefined && hint.threshold > 0 && hint.threshold <= needed;
  const threshold = hinted ? hint.threshold : needed;
  if (!hinted) {
    await runPhase(
      answered(),
      () => ({ ...base, phase: MergePhase.MERGE_PHASE_ABOVE_THRESHOLD, threshold }),
      2,
    );
  }
  // Every node has sent every row >= threshold; the others it sent are exact too and only tighten.
  const reports = answered().map((s) => [...s.rows.values()].map((row) => scored(row, scoreOf)));
  if (transit.rows.size > 0) {
    reports.push(
      [...transitScores].filter(([, s]) => s >= threshold).map(([key, score]) => ({ key, score })),
    );
  }
  const { candidates } = phaseTwo(reports, threshold, k);

  // Phase 3: exact rows of the candidates from every node that has not sent them yet. A node that
  // answered phase 1 sent the rows of every hinted key it has: a hinted key it did not send is 0 there.
  const hintedKeys = new Set(hint?.keys ?? []);
  const unknownTo = (s: NodeState<Target>) => (key: string) => !s.rows.has(key) && !hintedKeys.has(key);
  const needing = answered().filter((s) => candidates.some(unknownTo(s)));
  if (needing.length > 0) {
    await runPhase(
      needing,
      (s) => ({
        ...base,
        phase: MergePhase.MERGE_PHASE_EXACT,
        keys: candidates.filter(unknownTo(s)),
      }),
      3,
    );
  }

  // The answer: exact sums over the nodes that answered every phase, plus the transit maxima.
  const complete = answered();
  const totalsByKey = new Map<string, TopRow>();
  for (const key of candidates) {
    const sum: TopRow = { key, packets: 0, bytes: 0, flows: 0, forwardPackets: 0, forwardBytes: 0 };
    for (const state of complete) addRow(sum, state.rows.get(key));
    addRow(sum, transit.rows.get(key));
    totalsByKey.set(key, sum);
  }
  const rows = sortRanked([...totalsByKey.values()], scoreOf, (row) => row.key).slice(0, k);

  const completeSet = new Set(complete);
  const totals = {
    packets: transit.packets,
    bytes: transit.bytes,
    ipPackets: transit.packets,
    ipBytes: transit.bytes,
  };
  const undecoded = new Map<string, number>();
  let evictedPackets = 0;
  let evictedBytes = 0;
  let windowComplete = true;
  for (const outcome of first) {
    if (!completeSet.has(outcome.target) || outcome.value === undefined) continue;
    const r = outcome.value.response;
    totals.packets += r.totals?.packets ?? 0;
    totals.bytes += r.totals?.bytes ?? 0;
    totals.ipPackets += r.totals?.ipPackets ?? 0;
    totals.ipBytes += r.totals?.ipBytes ?? 0;
    for (const u of r.undecoded) undecoded.set(u.reason, (undecoded.get(u.reason) ?? 0) + u.packets);
    evictedPackets += r.evictedPackets;
    evictedBytes += r.evictedBytes;
    windowComplete &&= r.windowComplete;
  }
  return {
    rows,
    nodes: states.map(
      (s) => s.result ?? { target: s.target, status: 'failed', error: 'not asked', code: 0, latencyMs: 0 },
    ),
    totals,
    undecoded,
    evictedPackets,
    evictedBytes,
    windowComplete,
    rowsTransferred,
    bytesTransferred,
    phases,
    // Next time: a little below this threshold (traffic drifts) and these candidates.
    nextHint: { threshold: needed * HINT_THRESHOLD_MARGIN, keys: candidates.slice(0, MAX_HINT_KEYS) },
  };
}

/** The next hint's threshold is this share of the current one, so a slowly falling tau1 still meets it. */
const HINT_THRESHOLD_MARGIN = 0.8;
/** Hinted keys per question at most (TPUT's candidates are usually a few times k). */
const MAX_HINT_KEYS = 4096;

function scored(row: TopRow, scoreOf: (row: TopRow) => number): ScoredKey {
  return { key: row.key, score: scoreOf(row) };
}

function topOf(scores: Map<string, number>, k: number): ScoredKey[] {
  const all: ScoredKey[] = [];
  for (const [key, score] of scores) all.push({ key, score });
  return all.sort((a, b) => compareRanked(a.score, a.key, b.score, b.key)).slice(0, k);
}

function addRow(sum: TopRow, row: TopRow | undefined): void {
  if (row === undefined) return;
  sum.packets += row.packets;
  sum.bytes += row.bytes;
  sum.flows += row.flows;
  sum.forwardPackets += row.forwardPackets;
  sum.forwardBytes += row.forwardBytes;
}

/**
 * Transit observations merged by max per flow (each counter separately: two nodes on one segment saw the
 * same packets, one of them perhaps missing some), then summed into the groups each flow belongs to.
 */
export function mergeTransit(observations: readonly TransitFlow[]): {
  rows: Map<string, TopRow>;
  packets: number;
  bytes: number;
} {
  const flows = new Map<string, TransitFlow>();
  for (const seen of observations) {
    const known = flows.get(seen.flow);
    if (known === undefined) {
      flows.set(seen.flow, {
        ...seen,
        forwardPackets: [...seen.forwardPackets],
        forwardBytes: [...seen.forwardBytes],
      });
      continue;
    }
    known.packets = Math.max(known.packets, seen.packets);
    known.bytes = Math.max(known.bytes, seen.bytes);
    for (let i = 0; i < known.groups.length; i++) {
      known.forwardPackets[i] = Math.max(known.forwardPackets[i] ?? 0, seen.forwardPackets[i] ?? 0);
      known.forwardBytes[i] = Math.max(known.forwardBytes[i] ?? 0, seen.forwardBytes[i] ?? 0);
    }
  }
  const rows = new Map<string, TopRow>();
  let packets = 0;
  let bytes = 0;
  for (const flow of flows.values()) {
    packets += flow.packets;
    bytes += flow.bytes;
    flow.groups.forEach((key, i) => {
      let row = rows.get(key);
      if (row === undefined) {
        row = { key, packets: 0, bytes: 0, flows: 0, forwardPackets: 0, forwardBytes: 0 };
        rows.set(key, row);
      }
      row.packets += flow.packets;
      row.bytes += flow.bytes;
      row.flows += 1;
      row.forwardPackets += flow.forwardPackets[i] ?? 0;
      row.forwardBytes += flow.forwardBytes[i] ?? 0;
    });
  }
  return { rows, packets, bytes };
}
