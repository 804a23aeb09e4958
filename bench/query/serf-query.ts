/**
 * The Serf reference for the cluster query benchmark: how long HashiCorp Serf's own fan-out,
 * `serf query`, takes to hear an answer from every member, measured the way
 * shared/research/query-anchors.md describes it.
 *
 * `members` Serf agents (LAN profile) run on 127.0.0.1 in a network namespace of their own, so their
 * ports cannot collide with anything else on the machine; each answers the query `ping` with an event
 * handler (`echo pong`, run by /bin/sh per query and member, as Serf always does). Once agent 0 lists
 * every member alive, `serf query -timeout 5s ping` is sent to agent 0 `queries` times, one after the
 * other, and every line it prints is timestamped as it arrives.
 *
 * Why the text output: `-format json` prints one JSON document only when the query's timeout has
 * expired (checked with Serf 0.8.2 here), so it says who answered but not when. The text output streams
 * `Ack from 'n3'` and `Response from 'n3': pong` as they come in.
 *
 * A query's latency runs from starting the `serf query` process (what a user waits for; the process
 * start and RPC handshake, `dispatchP50Ms`, are a few ms of it) to the last member's response. As soon
 * as every member has answered, the client is stopped: Serf itself would keep it open until the
 * timeout, and waiting 5 s per query would only make the run long. A query that does not hear from
 * every member counts with its whole duration (the timeout) and not in `answeredAll`.
 */

import { createInterface } from 'node:readline';
import { SniffmeshError } from '../../src/util/errors.js';
import { summarize } from '../capture/sample-stats.js';
import { BenchCluster } from '../membership/bench-cluster.js';
import { BenchNamespace } from '../membership/bench-namespace.js';
import { signalGroup, type TrackedChild } from '../membership/child-processes.js';
import { SerfDriver } from '../membership/serf-driver.js';

const SERF_BINARY = '/usr/bin/serf';
const QUERY_NAME = 'ping';
const QUERY_TIMEOUT_S = 5;
/** The handler's stdout is the member's answer. Serf filters handlers by `query:<name>`. */
const PING_HANDLER_ARG = `-event-handler=query:${QUERY_NAME}=echo pong`;
/**
 * Pause between two queries. A Serf query is gossiped by every member that heard it, up to
 * retransmit-mult (4) × log10(N+1) times, 3 peers per 200 ms round: about 600 ms at N=64. Starting
 * the next query only once that has drained keeps one query's broadcasts out of the next one's packets.
 */
const QUERY_GAP_MS = 1000;
/** Waiting for every member's log to list all members; Serf's join storm at N=64 takes a few seconds. */
const CONVERGE_TIMEOUT_MS = 60_000;
/** After the log says converged, agent 0's own `serf members` must agree within this. */
const MEMBERS_LISTED_TIMEOUT_MS = 30_000;
const MEMBERS_POLL_INTERVAL_MS = 500;
/** A `serf query` that outlives its own timeout by this much is killed (counted as not all answered). */
const QUERY_KILL_GRACE_MS = 5000;

const DISPATCHED_LINE = /^Query '.*' dispatched/;
const RESPONSE_LINE = /^Response from '([^']+)'/;

export class SerfQueryBenchError extends SniffmeshError {
  override name = 'SerfQueryBenchError';
  readonly members: number;

  constructor(members: number, message: string, cause?: unknown) {
    super('BENCH_SERF_QUERY_FAILED', `serf query, N=${members}: ${message}`, { cause });
    this.members = members;
  }
}

export interface SerfQueryOptions {
  members: number;
  queries: number;
  onProgress?: (line: string) => void;
  /**
   * Run the agents in this namespace (and leave it in place afterwards). Without it, a namespace is
   * created and deleted here; pass one when the caller already holds a BenchNamespace, whose name is
   * per process.
   */
  namespace?: BenchNamespace;
}

export interface SerfQueryResult {
  members: number;
  queries: number;
  /** Queries where every member answered. */
  answeredAll: number;
  /** Per query: ms from starting `serf query` until the LAST member's answer (or the query's end). */
  latenciesMs: number[];
  p50Ms: number;
  /** Nearest rank: with fewer than 100 queries this is the maximum. */
  p99Ms: number;
  maxMs: number;
  /** Median ms until the first answer from a member other than agent 0 (which answers itself at once). */
  firstAnswerP50Ms: number;
  /** Median ms from starting `serf query` until it printed "dispatched" (process start + RPC). */
  dispatchP50Ms: number;
}

/** One query as it streamed: times are ms since the `serf query` process was started. */
export interface ObservedQuery {
  dispatchedMs: number | undefined;
  /** Member name -> ms at which its response line arrived (first one, if a member answered twice). */
  responseMs: Map<string, number>;
  /** ms at which the client ended (stopped by us after the last answer, or at the timeout). */
  endedMs: number;
}

/** Nearest-rank percentile (p in 0..100) of the finite values; NaN when there are none. */
export function nearestRankPercentile(values: readonly number[], p: number): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** Latency and completeness of one query; `names` are every member that should have answered. */
export function scoreQuery(
  observed: ObservedQuery,
  names: readonly string[],
  self: string,
): { latencyMs: number; answeredAll: boolean; firstOtherMs: number; missing: string[] } {
  const missing = names.filter((name) => !observed.responseMs.has(name));
  const answeredAll = missing.length === 0;
  const latencyMs = answeredAll ? Math.max(...observed.responseMs.values()) : observed.endedMs;
  const others = [...observed.responseMs].filter(([name]) => name !== self).map(([, timeMs]) => timeMs);
  const firstOtherMs = others.length > 0 ? Math.min(...others) : Number.NaN;
  return { latencyMs, answeredAll, firstOtherMs, missing };
}

/**
 * Runs one `serf query` against `rpcAddress` and timestamps its output lines; stops the client once
 * all `names` have answered. Never rejects for a query nobody answered: that is a measurement.
 */
async function runOneQuery(
  namespace: BenchNamespace,
  rpcAddress: string,
  names: readonly string[],
  onClient: (client: TrackedChild | undefined) => void,
): Promise<ObservedQuery> {
  const wanted = new Set(names);
  const responseMs = new Map<string, number>();
  let dispatchedMs: number | undefined;
  const startMs = performance.now();
  const client = namespace.spawn(SERF_BINARY, [
    'query',
    `-rpc-addr=${rpcAddress}`,
    `-timeout=${QUERY_TIMEOUT_S}s`,
    QUERY_NAME,
  ]);
  onClient(client);
  let endedMs: number | undefined;
  const lines = createInterface({ input: client.process.stdout! });
  lines.on('line', (line) => {
    const timeMs = performance.now() - startMs;
    if (DISPATCHED_LINE.test(line)) {
      dispatchedMs ??= timeMs;
      return;
    }
    const response = RESPONSE_LINE.exec(line);
    if (!response || responseMs.has(response[1])) return;
    responseMs.set(response[1], timeMs);
    if ([...wanted].every((name) => responseMs.has(name))) {
      endedMs = timeMs;
      signalGroup(client, 'SIGKILL');
    }
  });
  const killTimer = setTimeout(
    () => signalGroup(client, 'SIGKILL'),
    QUERY_TIMEOUT_S * 1000 + QUERY_KILL_GRACE_MS,
  );
  try {
    await client.exited;
  } finally {
    clearTimeout(killTimer);
    lines.close();
    onClient(undefined);
  }
  return { dispatchedMs, responseMs, endedMs: endedMs ?? performance.now() - startMs };
}

/** Polls agent 0's `serf members` until it lists every name alive. */
async function waitUntilAgentListsAll(
  namespace: BenchNamespace,
  rpcAddress: string,
  names: readonly string[],
): Promise<void> {
  const deadlineMs = performance.now() + MEMBERS_LISTED_TIMEOUT_MS;
  let alive = new Set<string>();
  for (;;) {
    const listing = namespace.exec(SERF_BINARY, ['members', `-rpc-addr=${rpcAddress}`, '-format=json']);
    const parsed = JSON.parse(listing) as { members: { name: string; status: string }[] };
    alive = new Set(
      parsed.members.filter((member) => member.status === 'alive').map((member) => member.name),
    );
    if (names.every((name) => alive.has(name))) return;
    if (performance.now() > deadlineMs) break;
    await new Promise((resolve) => setTimeout(resolve, MEMBERS_POLL_INTERVAL_MS));
  }
  const missing = names.filter((name) => !alive.has(name));
  throw new SerfQueryBenchError(
    names.length,
    `agent 0 did not list ${missing.length} members alive within ${MEMBERS_LISTED_TIMEOUT_MS / 1000} s ` +
      `(${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''})`,
  );
}

/**
 * Kills what this measurement started if the process is interrupted: the handlers run before the
 * process goes, and only when no one else (e.g. a benchmark runner) listens to the signal do they also
 * end the process, as the signal would have without them.
 */
function installInterruptCleanup(cleanUp: () => void): () => void {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const exitCodes: Record<(typeof signals)[number], number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
  const handlers = signals.map((signal) => {
    const handler = () => {
      cleanUp();
      if (process.listenerCount(signal) === 1) process.exit(exitCodes[signal]);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  process.on('exit', cleanUp);
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    process.off('exit', cleanUp);
  };
}

export async function measureSerfQuery(options: SerfQueryOptions): Promise<SerfQueryResult> {
  const { members, queries } = options;
  const progress = (line: string) => options.onProgress?.(`serf N=${members}: ${line}`);
  if (!Number.isInteger(members) || members < 2)
    throw new SerfQueryBenchError(members, `members must be an integer >= 2`);
  if (!Number.isInteger(queries) || queries < 1)
    throw new SerfQueryBenchError(members, `queries must be an integer >= 1, got ${queries}`);
  const driver = new SerfDriver([PING_HANDLER_ARG]);
  driver.checkAvailable();

  const ownsNamespace = options.namespace === undefined;
  const namespace = options.namespace ?? BenchNamespace.create();
  let cluster: BenchCluster | undefined;
  let client: TrackedChild | undefined;
  // Synchronous, so it also works from 'exit' and signal handlers: SIGKILLs our agents and client.
  const killNow = () => {
    if (client) signalGroup(client, 'SIGKILL');
    for (const name of cluster?.runningNames() ?? []) cluster?.crash(name);
    if (ownsNamespace) namespace.destroy();
  };
  const removeInterruptCleanup = installInterruptCleanup(killNow);
  try {
    cluster = new BenchCluster(namespace, driver, { size: members });
    progress(`starting ${members} agents in namespace ${namespace.name}`);
    const startedMs = performance.now();
    const join = await cluster.start(CONVERGE_TIMEOUT_MS);
    if (join.converged.missing.length > 0)
      progress(`${join.converged.missing.length} agents' logs do not list everyone yet; asking agent 0`);
    const agent0 = cluster.specs[0];
    const rpcAddress = `${agent0.host}:${agent0.rpcPort}`;
    await waitUntilAgentListsAll(namespace, rpcAddress, cluster.names);
    progress(
      `agent 0 lists all ${members} alive after ${((performance.now() - startedMs) / 1000).toFixed(1)} s`,
    );

    const latenciesMs: number[] = [];
    const firstOthersMs: number[] = [];
    const dispatchesMs: number[] = [];
    let answeredAll = 0;
    for (let index = 0; index < queries; index++) {
      if (index > 0) await new Promise((resolve) => setTimeout(resolve, QUERY_GAP_MS));
      const observed = await runOneQuery(namespace, rpcAddress, cluster.names, (running) => {
        client = running;
      });
      const score = scoreQuery(observed, cluster.names, agent0.name);
      latenciesMs.push(score.latencyMs);
      firstOthersMs.push(score.firstOtherMs);
      if (observed.dispatchedMs !== undefined) dispatchesMs.push(observed.dispatchedMs);
      if (score.answeredAll) answeredAll++;
      const missing = score.answeredAll
        ? ''
        : `, no answer from ${score.missing.slice(0, 5).join(', ')}${score.missing.length > 5 ? ', ...' : ''}`;
      progress(
        `query ${index + 1}/${queries}: ${score.latencyMs.toFixed(0)} ms, ` +
          `${observed.responseMs.size}/${members} answered${missing}`,
      );
    }
    if (cluster.unexpectedExits.length > 0)
      throw new SerfQueryBenchError(
        members,
        `agents exited during the run: ${cluster.unexpectedExits.join(', ')}`,
      );
    return {
      members,
      queries,
      answeredAll,
      latenciesMs,
      p50Ms: summarize(latenciesMs).median,
      p99Ms: nearestRankPercentile(latenciesMs, 99),
      maxMs: Math.max(...latenciesMs),
      firstAnswerP50Ms: summarize(firstOthersMs).median,
      dispatchP50Ms: summarize(dispatchesMs).median,
    };
  } catch (error) {
    if (error instanceof SniffmeshError) throw error;
    throw new SerfQueryBenchError(members, (error as Error).message, error);
  } finally {
    if (client) signalGroup(client, 'SIGKILL');
    await cluster?.stop();
    if (ownsNamespace) namespace.destroy();
    removeInterruptCleanup();
  }
}
