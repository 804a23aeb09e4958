/**
 * `npm run bench:query`: latency and transfer of a cluster top-10 (host, bytes, 5-minute window) at 8, 32
 * and 64 nodes with 100k flows each, exact TPUT against "every node ships its whole table", and Serf's
 * own fan-out (`serf query`) at the same sizes, side by side in one run. `--help` lists every flag with
 * its default, the targets and the exit codes.
 *
 * Nodes run as servers in a few worker processes (mesh-node-host.ts): each node has its own FlowStore,
 * real gossip membership and gRPC server on loopback; the machine cannot hold 64 agents with their
 * capture processes. The query goes to node n00 over gRPC from this process, as `sniffmesh top` would.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ChannelCredentials, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { type Command, Option } from 'commander';
import {
  Grouping,
  type MembersResponse,
  MergePhase,
  type MergeRequest,
  MergeResponse,
  Metric,
  Scope,
  SniffmeshClient,
  type TopRow,
  type TopTalkersResponse,
} from '../../src/query/generated/sniffmesh.js';
import { clientCredentials, tlsChannelOptions } from '../../src/query/tls-credentials.js';
import { loadTlsMaterial } from '../../src/query/tls-identity.js';
import { compareScoredKeys } from '../../src/query/tput.js';
import { summarize } from '../capture/sample-stats.js';
import {
  type BenchOutcome,
  benchCommand,
  integerArgument,
  integerListArgument,
  quickOr,
  runBench,
  valueOption,
} from '../common/bench-command.js';
import { formatTargets, judged, notInRun, type TargetResult, unjudged } from '../common/targets.js';
import type { HostHintsMessage, HostStartMessage } from './mesh-node-host.js';
import { measureSerfQuery, nearestRankPercentile, type SerfQueryResult } from './serf-query.js';

/**
 * The transport of one pass: plaintext, or mutual TLS with the certificates in `dir` (made by
 * `sniffmesh certs` once per run: ca.crt, a member certificate per node, and one for this client, which
 * asks Merge directly for ship-everything and so needs a member certificate).
 */
interface Transport {
  dir: string;
  channel(): ChannelCredentials;
  options: Record<string, string>;
}

const PLAINTEXT: Transport = { dir: '', channel: () => credentials.createInsecure(), options: {} };

async function tlsTransport(nodes: number): Promise<Transport> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sniffmesh-bench-tls-'));
  const { initCertificateAuthority, issueCertificate } = await import(
    '../../src/cli/certificate-authority.js'
  );
  await initCertificateAuthority(dir);
  for (let index = 0; index < nodes; index++)
    await issueCertificate(dir, `n${String(index).padStart(2, '0')}`, 'member');
  for (const name of ['bench-client', 'capturing']) await issueCertificate(dir, name, 'member');
  const material = loadTlsMaterial(
    { tlsCa: `${dir}/ca.crt`, tlsCert: `${dir}/bench-client.crt`, tlsKey: `${dir}/bench-client.key` },
    ['member'],
  );
  return { dir, channel: () => clientCredentials(material, {}), options: tlsChannelOptions({}) };
}

const HOST_PATH = fileURLToPath(new URL('./mesh-node-host.js', import.meta.url));
const WINDOW_SECONDS = 300;
/** Flows spread over this many seconds (inside the window for the whole run: tables are built once). */
const SPREAD_SECONDS = 200;
const SHIP_EVERYTHING_RUNS = 5;
/** Agents started by measureUnderCapture, killed on exit whatever the reason. */
const capturingAgents = new Set<ChildProcess>();

interface SizeResult {
  nodes: number;
  flowsPerNode: number;
  setupSeconds: number;
  workerRssMb: number;
  firstQueryMs: number;
  /** A repeated question (the coordinator sends the previous answer's hint: one round trip). */
  latency: { p50: number; p99: number; max: number };
  rowsTransferred: number;
  bytesTransferred: number;
  /** The same question with merge hints off: every query runs all three TPUT phases. */
  noHints: { p50: number; p99: number; max: number; rows: number; bytes: number; exact: boolean };
  nodesOk: number;
  exact: boolean;
  shipEverything: { p50: number; max: number; rows: number; bytes: number };
  sameAnswer: boolean;
  serf: SerfQueryResult | null;
  /** Why `serf` is null although serf query was asked for. */
  serfError?: string;
  /**
   * --tls both: the same questions again on the same data with mutual TLS on every connection (client to
   * n00 and n00 to every peer), measured after the plaintext pass in the same run.
   */
  tls?: {
    latency: { p50: number; p99: number; max: number };
    noHints: { p50: number; p99: number; max: number };
    exact: boolean;
    sameAnswer: boolean;
  };
  /** The same query asked of an agent that captures (replays a capture in a loop) at full speed. */
  underCapture: {
    p50: number;
    p99: number;
    nodesOk: number;
    framesPerSecond: number;
    exact: boolean;
  } | null;
}

function call<T>(invoke: (cb: (error: ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => invoke((e, v) => (e ? reject(e) : resolve(v as T))));
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function startWorkers(
  nodes: number,
  workers: number,
  flowsPerNode: number,
  transport: Transport,
): Promise<{
  children: ChildProcess[];
  rssBytes: number;
  gossipBasePort: number;
}> {
  const gossipBasePort = 21000 + Math.floor(Math.random() * 20000);
  const perWorker = Math.ceil(nodes / workers);
  const children: ChildProcess[] = [];
  let rssBytes = 0;
  const start = (first: number, count: number, seed: string) =>
    new Promise<void>((resolve, reject) => {
      // SNIFFMESH_BENCH_WORKER_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the workers.
      const execArgv = (process.env.SNIFFMESH_BENCH_WORKER_ARGS ?? '').split(' ').filter((arg) => arg !== '');
      const child = fork(HOST_PATH, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
      children.push(child);
      child.on(
        'message',
        (m: { type: string; rssBytes?: number; error?: string; nodes?: { grpc: string }[] }) => {
          if (m.type === 'ready') {
            rssBytes += m.rssBytes ?? 0;
            (child as ChildProcess & { firstGrpc?: string }).firstGrpc = m.nodes?.[0]?.grpc;
            resolve();
          } else if (m.type === 'failed') reject(new Error(`worker failed: ${m.error}`));
        },
      );
      child.on('exit', (code) => reject(new Error(`worker exited with ${code}`)));
      const message: HostStartMessage = {
        type: 'start',
        firstNode: first,
        nodes: count,
        flowsPerNode,
        seed,
        gossipBasePort,
        spreadSeconds: SPREAD_SECONDS,
        tlsDir: transport.dir,
      };
      child.send(message);
    });
  try {
    await start(0, Math.min(perWorker, nodes), '');
    const rest: Promise<void>[] = [];
    for (let first = perWorker; first < nodes; first += perWorker) {
      rest.push(start(first, Math.min(perWorker, nodes - first), `127.0.0.1:${gossipBasePort}`));
    }
    await Promise.all(rest);
  } catch (error) {
    for (const child of children) child.kill('SIGKILL');
    throw error;
  }
  return { children, rssBytes, gossipBasePort };
}

const MEMBERS_READY_TIMEOUT_MS = 20_000;

async function waitForMembers(client: SniffmeshClient, nodes: number): Promise<MembersResponse> {
  const until = Date.now() + MEMBERS_READY_TIMEOUT_MS;
  for (;;) {
    const members = await call<MembersResponse>((cb) => client.members({}, cb));
    const ready = members.members.filter((m) => m.state === 1 && m.grpc !== '').length;
    if (ready === nodes) return members;
    if (Date.now() > until)
      throw new Error(
        `only ${ready} of ${nodes} members ready after ${MEMBERS_READY_TIMEOUT_MS / 1000} s: ${members.members.map((m) => `${m.name}:${m.state}:${m.grpc}`).join(' ')}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

function topRequest() {
  return {
    group: Grouping.GROUPING_HOST,
    by: Metric.METRIC_BYTES,
    windowSeconds: WINDOW_SECONDS,
    limit: 10,
    filters: undefined,
    scope: Scope.SCOPE_CLUSTER,
    deadlineMs: 10_000,
  };
}

/** The baseline: every node sends its whole table (same window, same counting rule); merged here. */
async function shipEverything(
  members: MembersResponse,
  reference: TopTalkersResponse,
  transport: Transport,
): Promise<{ ms: number; rows: TopRow[]; rowCount: number; bytes: number }> {
  const started = performance.now();
  const networks = [...new Set(members.members.flatMap((m) => m.networks))];
  const window = {
    group: Grouping.GROUPING_HOST,
    by: Metric.METRIC_BYTES,
    fromSecond: reference.windowFromSecond,
    toSecond: reference.windowToSecond,
    filters: undefined,
    memberNetworks: networks,
  };
  let rowCount = 0;
  let bytes = 0;
  const sums = new Map<string, TopRow>();
  await Promise.all(
    members.members.map(async (member) => {
      const client = new SniffmeshClient(member.grpc, transport.channel(), {
        ...transport.options,
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
      });
      try {
        const request: MergeRequest = {
          queryId: `ship-${started}`,
          window,
          phase: MergePhase.MERGE_PHASE_ABOVE_THRESHOLD,
          k: 0,
          threshold: 0,
          keys: [],
          requestId: 0,
        };
        const response = await call<MergeResponse>((cb) =>
          client.merge(request, new Metadata(), { deadline: Date.now() + 60_000 }, cb),
        );
        rowCount += response.rows.length;
        bytes += MergeResponse.encode(response).finish().length;
        for (const row of response.rows) {
          const sum = sums.get(row.key);
          if (sum === undefined) sums.set(row.key, { ...row });
          else {
            sum.bytes += row.bytes;
            sum.packets += row.packets;
            sum.flows += row.flows;
            sum.forwardBytes += row.forwardBytes;
            sum.forwardPackets += row.forwardPackets;
          }
        }
      } finally {
        client.close();
      }
    }),
  );
  const rows = [...sums.values()]
    .sort((a, b) => compareScoredKeys({ key: a.key, score: a.bytes }, { key: b.key, score: b.bytes }))
    .slice(0, 10);
  return { ms: performance.now() - started, rows, rowCount, bytes };
}

async function measureSize(
  nodes: number,
  options: {
    flows: number;
    queries: number;
    workers: number;
    serfQueries: number;
    captureLoadAt: number;
    captureFile: string;
  },
  transport: Transport = PLAINTEXT,
  /** The TLS pass of --tls both: latencies and answers only (ship-everything once, for the answer). */
  latencyOnly = false,
): Promise<SizeResult> {
  log(`\n== ${nodes} nodes, ${options.flows} flows each${transport.dir === '' ? '' : ', mutual TLS'} ==`);
  const setupStarted = performance.now();
  const { children, rssBytes, gossipBasePort } = await startWorkers(
    nodes,
    Math.min(options.workers, nodes),
    options.flows,
    transport,
  );
  try {
    const first = (children[0] as ChildProcess & { firstGrpc?: string }).firstGrpc ?? '';
    const client = new SniffmeshClient(first, transport.channel(), transport.options);
    const members = await waitForMembers(client, nodes);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`setup ${setupSeconds.toFixed(1)} s (stores filled, ${nodes} members alive)`);
    const ask = () =>
      call<TopTalkersResponse>((cb) =>
        client.topTalkers(topRequest(), new Metadata(), { deadline: Date.now() + 20_000 }, cb),
      );
    const t = performance.now();
    const warm = await ask();
    const firstQueryMs = performance.now() - t;
    log(`first query (tables built) ${firstQueryMs.toFixed(0)} ms`);
    for (let i = 0; i < 5; i++) await ask();
    /** `options.queries` queries one after another: their latencies, the last answer, all exact. */
    const timeQueries = async () => {
      const times: number[] = [];
      let answer = warm;
      let allExact = true;
      for (let i = 0; i < options.queries; i++) {
        const began = performance.now();
        answer = await ask();
        times.push(performance.now() - began);
        allExact &&= answer.exact;
      }
      return { times, answer, allExact };
    };
    const hinted = await timeQueries();
    const latencies = hinted.times;
    const last = hinted.answer;
    const exact = hinted.allExact;
    if (process.env.SNIFFMESH_BENCH_DEBUG) {
      log(
        `elapsed on n00 ${last.elapsedMs.toFixed(1)} ms; per-node last-phase ms: ${last.nodes.map((n) => n.latencyMs.toFixed(1)).join(' ')}`,
      );
    }
    const s = summarize(latencies);
    log(
      `TPUT: p50 ${s.median.toFixed(1)} ms, p99 ${nearestRankPercentile(latencies, 99).toFixed(1)} ms, ` +
        `${last.rowsTransferred} rows / ${last.bytesTransferred} B`,
    );
    // First-time questions: the coordinator (n00, hosted by the first worker) without merge hints.
    const setHints = (on: boolean) =>
      new Promise<void>((resolve) => {
        const worker = children[0] as ChildProcess;
        const done = (m: { type: string }) => {
          if (m.type !== 'hintsSet') return;
          worker.off('message', done);
          resolve();
        };
        worker.on('message', done);
        worker.send({ type: 'hints', on } satisfies HostHintsMessage);
      });
    await setHints(false);
    const { times: cold, answer: coldLast, allExact: coldExact } = await timeQueries();
    await setHints(true);
    const noHints = {
      p50: summarize(cold).median,
      p99: nearestRankPercentile(cold, 99),
      max: summarize(cold).max,
      rows: coldLast.rowsTransferred,
      bytes: coldLast.bytesTransferred,
      exact: coldExact,
    };
    log(
      `TPUT without hints (3 phases): p50 ${noHints.p50.toFixed(1)} ms, p99 ${noHints.p99.toFixed(1)} ms, ` +
        `${noHints.rows} rows / ${noHints.bytes} B`,
    );
    const ships: number[] = [];
    let shipped = await shipEverything(members, last, transport);
    for (let i = 0; i < (latencyOnly ? 1 : SHIP_EVERYTHING_RUNS); i++) {
      shipped = await shipEverything(members, last, transport);
      ships.push(shipped.ms);
    }
    const rowsOf = (rows: readonly TopRow[]) => JSON.stringify(rows.map((r) => [r.key, r.bytes, r.packets]));
    const sameAnswer =
      rowsOf(shipped.rows) === rowsOf(last.rows) && rowsOf(coldLast.rows) === rowsOf(last.rows);
    log(
      `ship everything: p50 ${summarize(ships).median.toFixed(0)} ms, ${shipped.rowCount} rows / ` +
        `${shipped.bytes} B; same answer: ${sameAnswer}`,
    );
    client.close();
    const underCapture =
      nodes === options.captureLoadAt && !latencyOnly
        ? await measureUnderCapture(nodes, gossipBasePort, options.captureFile, options.queries, transport)
        : null;
    return {
      underCapture,
      nodes,
      flowsPerNode: options.flows,
      setupSeconds,
      workerRssMb: rssBytes / 1e6,
      firstQueryMs,
      latency: { p50: s.median, p99: nearestRankPercentile(latencies, 99), max: s.max },
      noHints,
      rowsTransferred: last.rowsTransferred,
      bytesTransferred: last.bytesTransferred,
      nodesOk: last.nodes.filter((n) => n.status === 1).length,
      exact,
      shipEverything: {
        p50: summarize(ships).median,
        max: summarize(ships).max,
        rows: shipped.rowCount,
        bytes: shipped.bytes,
      },
      sameAnswer,
      serf: null,
    };
  } finally {
    for (const child of children) if (child.connected) child.send({ type: 'stop' });
    await new Promise((r) => setTimeout(r, 2000));
    for (const child of children) child.kill('SIGKILL');
  }
}

/**
 * Adds one real `sniffmesh agent` to the mesh whose capture process replays `captureFile` in a loop as
 * fast as it can (one core busy decoding and counting, its tables changing every second), and asks IT
 * the cluster query: the capture path must not starve the event loop that serves gRPC.
 */
async function measureUnderCapture(
  nodes: number,
  gossipBasePort: number,
  captureFile: string,
  queries: number,
  transport: Transport,
): Promise<NonNullable<SizeResult['underCapture']>> {
  const grpcPort = 40000 + Math.floor(Math.random() * 10000);
  const grpc = `127.0.0.1:${grpcPort}`;
  log(`\n-- ${nodes} nodes + one agent capturing at full speed (replaying ${captureFile} in a loop)`);
  const agent = spawn(
    process.execPath,
    [
      fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)),
      'agent',
      '--name',
      'capturing',
      '--timing',
      'local',
      '--gossip',
      `127.0.0.1:${gossipBasePort + 500}`,
      '--grpc',
      grpc,
      '--seeds',
      `127.0.0.1:${gossipBasePort}`,
      '--pcap',
      captureFile,
      '--replay-speed',
      '0',
      '--loop',
      // The generated capture's address plan: its traffic counts as this agent's own (sent/received).
      '--local-net',
      '198.18.0.0/15',
      '--local-net',
      '2001:db8::/32',
      ...(transport.dir === ''
        ? []
        : [
            '--tls-ca',
            `${transport.dir}/ca.crt`,
            '--tls-cert',
            `${transport.dir}/capturing.crt`,
            '--tls-key',
            `${transport.dir}/capturing.key`,
          ]),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  capturingAgents.add(agent);
  try {
    const client = new SniffmeshClient(grpc, transport.channel(), transport.options);
    const until = Date.now() + 60_000;
    for (;;) {
      const members = await call<MembersResponse>((cb) => client.members({}, cb)).catch(() => null);
      if (
        members !== null &&
        members.members.filter((m) => m.state === 1 && m.grpc !== '').length === nodes + 1
      )
        break;
      if (Date.now() > until) throw new Error('the capturing agent did not join within 60 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const framesAt = async () => (await call<{ packets: number }>((cb) => client.stats({}, cb))).packets;
    const ask = () =>
      call<TopTalkersResponse>((cb) =>
        client.topTalkers(topRequest(), new Metadata(), { deadline: Date.now() + 20_000 }, cb),
      );
    for (let i = 0; i < 5; i++) await ask();
    const frames0 = await framesAt();
    const started = performance.now();
    const latencies: number[] = [];
    let nodesOk = 0;
    let exact = true;
    for (let i = 0; i < queries; i++) {
      const t = performance.now();
      const answer = await ask();
      const ms = performance.now() - t;
      latencies.push(ms);
      if (process.env.SNIFFMESH_BENCH_DEBUG && ms > 25) {
        const slowest = [...answer.nodes].sort((a, b) => b.latencyMs - a.latencyMs).slice(0, 3);
        log(
          `slow query ${ms.toFixed(1)} ms (on the agent ${answer.elapsedMs.toFixed(1)} ms, ` +
            `${answer.rowsTransferred} rows): slowest ${slowest.map((n) => `${n.name} ${n.latencyMs.toFixed(1)}`).join(', ')}`,
        );
      }
      nodesOk = answer.nodes.filter((n) => n.status === 1).length;
      exact &&= answer.exact;
    }
    const framesPerSecond = ((await framesAt()) - frames0) / ((performance.now() - started) / 1000);
    client.close();
    const result = {
      p50: summarize(latencies).median,
      p99: nearestRankPercentile(latencies, 99),
      nodesOk,
      framesPerSecond,
      exact,
    };
    log(
      `under capture: p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, ` +
        `${nodesOk} nodes ok, capture ${(framesPerSecond / 1e6).toFixed(2)} M frames/s`,
    );
    return result;
  } finally {
    agent.kill('SIGKILL');
    capturingAgents.delete(agent);
  }
}

function table(results: SizeResult[]): string {
  const lines = [
    'nodes | repeated question p50 / p99 / max ms, rows / bytes | first-time question (3 phases) p50 / p99 ms, rows / bytes | ship-everything p50 ms, rows / bytes | moved vs ship (first-time) | same | exact | serf query p50 / p99 ms | our p99 vs serf p50',
    '--- | --- | --- | --- | --- | --- | --- | --- | ---',
  ];
  for (const r of results) {
    const share = r.noHints.bytes / r.shipEverything.bytes;
    const p99 = Math.max(r.latency.p99, r.noHints.p99);
    lines.push(
      [
        r.nodes,
        `${r.latency.p50.toFixed(1)} / ${r.latency.p99.toFixed(1)} / ${r.latency.max.toFixed(1)}, ${r.rowsTransferred} / ${r.bytesTransferred}`,
        `${r.noHints.p50.toFixed(1)} / ${r.noHints.p99.toFixed(1)}, ${r.noHints.rows} / ${r.noHints.bytes}`,
        `${r.shipEverything.p50.toFixed(0)}, ${r.shipEverything.rows} / ${r.shipEverything.bytes}`,
        `${(share * 100).toFixed(2)} %`,
        r.sameAnswer ? 'yes' : 'NO',
        r.exact && r.noHints.exact ? 'yes' : 'no',
        r.serf === null ? '-' : `${r.serf.p50Ms.toFixed(0)} / ${r.serf.p99Ms.toFixed(0)}`,
        r.serf === null ? '-' : `${(p99 / r.serf.p50Ms).toFixed(3)}x`,
      ].join(' | '),
    );
  }
  return lines.join('\n');
}

/** --tls both: each size's TLS latencies beside its plaintext ones (ratios = TLS / plaintext). */
function tlsTable(results: SizeResult[]): string {
  const lines = [
    'nodes | plaintext repeated p50 / p99 ms | TLS repeated p50 / p99 ms | p99 ratio | plaintext first-time p50 / p99 ms | TLS first-time p50 / p99 ms | p99 ratio | TLS exact, same answer',
    '--- | --- | --- | --- | --- | --- | --- | ---',
  ];
  for (const r of results) {
    if (r.tls === undefined) continue;
    const pair = (l: { p50: number; p99: number }) => `${l.p50.toFixed(1)} / ${l.p99.toFixed(1)}`;
    lines.push(
      [
        r.nodes,
        pair(r.latency),
        pair(r.tls.latency),
        `${(r.tls.latency.p99 / r.latency.p99).toFixed(3)}x`,
        pair(r.noHints),
        pair(r.tls.noHints),
        `${(r.tls.noHints.p99 / r.noHints.p99).toFixed(3)}x`,
        `${r.tls.exact ? 'yes' : 'no'}, ${r.tls.sameAnswer ? 'yes' : 'NO'}`,
      ].join(' | '),
    );
  }
  return lines.join('\n');
}

/** TLS may cost at most this much p99 over plaintext (issue 11's target). */
const TLS_P99_RATIO_TARGET = 1.15;

function latencyOf(result: SizeResult, kind: 'repeated' | 'first-time'): { p50: number; p99: number } {
  return kind === 'repeated' ? result.latency : result.noHints;
}

/**
 * The issue's targets. Exactness, the same answer as ship-everything and "faster than serf query" hold
 * at every size; the latency and transfer targets are the issue's at 32 and 64 nodes (not in a run
 * without those sizes); the under-capture one at --capture-load-at.
 */
function checkTargets(settings: QuerySettings, outcomes: readonly SizeOutcome[]): TargetResult[] {
  const targets: TargetResult[] = [];
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  for (const size of [32, 64])
    if (!settings.sizes.includes(size))
      targets.push(notInRun(`${size} nodes: latency targets`, `--sizes has no ${size}`));
  for (const { nodes, result, error } of outcomes) {
    const sizeTargets: [string, (r: SizeResult) => [boolean, string]][] = [];
    sizeTargets.push([
      `${nodes} nodes: every answer exact (repeated and first-time questions)`,
      (r) => [r.exact && r.noHints.exact, r.exact && r.noHints.exact ? 'all exact' : 'some answers inexact'],
    ]);
    sizeTargets.push([
      `${nodes} nodes: same answer as ship-everything`,
      (r) => [r.sameAnswer, r.sameAnswer ? 'same' : 'different'],
    ]);
    if (nodes === 32) {
      for (const kind of ['repeated', 'first-time'] as const) {
        const pick = (r: SizeResult) => latencyOf(r, kind);
        sizeTargets.push([`32 nodes, ${kind}: p50 <= 15 ms`, (r) => [pick(r).p50 <= 15, ms(pick(r).p50)]]);
        sizeTargets.push([`32 nodes, ${kind}: p99 <= 50 ms`, (r) => [pick(r).p99 <= 50, ms(pick(r).p99)]]);
      }
      sizeTargets.push([
        '32 nodes: transfer <= 5 % of ship-everything',
        (r) => {
          const share = Math.max(r.bytesTransferred, r.noHints.bytes) / r.shipEverything.bytes;
          return [share <= 0.05, `${(share * 100).toFixed(2)} %`];
        },
      ]);
    }
    if (nodes === 64) {
      for (const kind of ['repeated', 'first-time'] as const) {
        const pick = (r: SizeResult) => latencyOf(r, kind);
        sizeTargets.push([`64 nodes, ${kind}: p99 <= 100 ms`, (r) => [pick(r).p99 <= 100, ms(pick(r).p99)]]);
      }
    }
    if (nodes === settings.captureLoadAt) {
      sizeTargets.push([
        `${nodes} nodes + a capturing agent asked: p50 <= 15 ms, p99 <= 50 ms`,
        (r) => {
          const u = r.underCapture;
          if (u === null) return [false, 'not measured'];
          return [
            u.p50 <= 15 && u.p99 <= 50,
            `p50 ${ms(u.p50)}, p99 ${ms(u.p99)} while capturing ${(u.framesPerSecond / 1e6).toFixed(2)} M frames/s`,
          ];
        },
      ]);
    }
    if (settings.tls === 'both') {
      sizeTargets.push([
        `${nodes} nodes, TLS: every answer exact and the same as ship-everything`,
        (r) => [
          r.tls !== undefined && r.tls.exact && r.tls.sameAnswer,
          r.tls === undefined ? 'not measured' : `exact ${r.tls.exact}, same ${r.tls.sameAnswer}`,
        ],
      ]);
      for (const kind of ['repeated', 'first-time'] as const) {
        sizeTargets.push([
          `${nodes} nodes, TLS, ${kind}: p99 <= ${TLS_P99_RATIO_TARGET}x plaintext (ratio)`,
          (r) => {
            if (r.tls === undefined) return [false, 'not measured'];
            const plain = latencyOf(r, kind).p99;
            const secure = kind === 'repeated' ? r.tls.latency.p99 : r.tls.noHints.p99;
            return [
              secure <= plain * TLS_P99_RATIO_TARGET,
              `${ms(secure)} vs ${ms(plain)}: ${(secure / plain).toFixed(3)}x`,
            ];
          },
        ]);
      }
    }
    for (const [description, judge] of sizeTargets) {
      if (result === undefined) targets.push(unjudged(description, error ?? 'not measured'));
      else targets.push(judged(description, ...judge(result)));
    }
    const serfTarget = `${nodes} nodes: faster than serf query (our worst p99 < its p50)`;
    if (!settings.serf) targets.push(notInRun(serfTarget, '--no-serf'));
    else if (result === undefined) targets.push(unjudged(serfTarget, error ?? 'not measured'));
    else if (result.serf === null)
      targets.push(unjudged(serfTarget, result.serfError ?? 'serf not measured'));
    else {
      const p99 = Math.max(result.latency.p99, result.noHints.p99);
      targets.push(
        judged(
          serfTarget,
          p99 < result.serf.p50Ms,
          `${ms(p99)} vs serf p50 ${result.serf.p50Ms.toFixed(0)} ms`,
        ),
      );
    }
  }
  return targets;
}

/** A reproducible capture with ~100k flows for the capturing agent (generated once, then reused). */
function captureFileForLoad(): string {
  const file = `${process.env.SNIFFMESH_BENCH_DIR ?? '/tmp/sniffmesh-bench'}/query-load-1m.pcap`;
  if (!existsSync(file)) {
    log(`generating ${file} (1M packets, 100k flows, fixed seed)...`);
    execFileSync(
      process.execPath,
      [
        fileURLToPath(new URL('../capture/generate-capture.js', import.meta.url)),
        '--packets',
        '1000000',
        '--flows',
        '100000',
        '--seed',
        '44',
        '--out',
        file,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
  return file;
}

interface QuerySettings {
  sizes: number[];
  flows: number;
  queries: number;
  workers: number;
  serfQueries: number;
  serf: boolean;
  /** The size at which an extra capturing agent is asked too; 0 = never. */
  captureLoadAt: number;
  /** off: plaintext; on: every pass over mutual TLS; both: plaintext, then the latencies again over TLS. */
  tls: 'off' | 'on' | 'both';
  json: boolean;
}

interface SizeOutcome {
  nodes: number;
  result?: SizeResult;
  /** Why the size has no result. */
  error?: string;
}

const NAME = 'bench:query';
const MAX_NODES = 128;
/** --quick: 4 nodes of 20,000 flows, 20 queries per kind, 3 serf queries, no capturing agent. */
const QUICK = { sizes: [4], flows: 20_000, queries: 20, serfQueries: 3, captureLoadAt: 0 };

function command(): Command {
  return benchCommand(
    NAME,
    'latency and transfer of a cluster top-10 query (exact TPUT) against ship-everything and serf query',
    `Measures, per cluster size: nodes with their own flow store of --flows flows, real gossip and gRPC on loopback
(in --workers processes); the client asks node n00 for the cluster top 10 by host over 5 minutes, --queries
times as a repeated question (merge hints) and as a first-time one (3 TPUT phases); "ship everything" asks
every node for its whole table. Serf's own fan-out (serf query) at the same sizes, in a namespace the
benchmark creates (needs root and serf). Targets: every answer exact and equal to ship-everything, faster
than serf query (every size); at 32 nodes p50 <= 15 ms, p99 <= 50 ms, transfer <= 5 %; at 64 nodes
p99 <= 100 ms; at --capture-load-at nodes, a capturing agent asked: p50 <= 15 ms, p99 <= 50 ms.
--quick: ${QUICK.sizes.join(',')} nodes, ${QUICK.flows.toLocaleString('en-US')} flows, ${QUICK.queries} queries, ${QUICK.serfQueries} serf queries, no capturing agent.`,
  )
    .addOption(
      valueOption(
        '--sizes <list>',
        `cluster sizes, 2..${MAX_NODES}`,
        integerListArgument(2, MAX_NODES),
        [8, 32, 64],
      ),
    )
    .addOption(valueOption('--flows <N>', 'flows per node', integerArgument(1), 100_000))
    .addOption(valueOption('--queries <N>', 'queries per kind of question and size', integerArgument(1), 200))
    .addOption(valueOption('--workers <N>', 'processes hosting the nodes', integerArgument(1, 16), 2))
    .addOption(valueOption('--serf-queries <N>', 'serf queries per size', integerArgument(1), 20))
    .option('--no-serf', 'leave serf query out')
    .addOption(
      valueOption(
        '--capture-load-at <N>',
        'size at which a capturing agent is added and asked; 0 = never',
        integerArgument(0, MAX_NODES),
        32,
      ),
    )
    .addOption(
      new Option(
        '--tls <mode>',
        'off = plaintext; on = mutual TLS on every connection; both = each size plaintext, then over TLS beside it',
      )
        .choices(['off', 'on', 'both'])
        .default('off'),
    )
    .option('--quick', 'smoke run (see below)')
    .option('--json', 'print one JSON object instead of the report');
}

function settingsFrom(program: Command): QuerySettings {
  const quick = program.getOptionValue('quick') === true;
  return {
    sizes: quickOr(program, 'sizes', quick, QUICK.sizes),
    flows: quickOr(program, 'flows', quick, QUICK.flows),
    queries: quickOr(program, 'queries', quick, QUICK.queries),
    workers: program.getOptionValue('workers') as number,
    serfQueries: quickOr(program, 'serfQueries', quick, QUICK.serfQueries),
    serf: program.getOptionValue('serf') as boolean,
    captureLoadAt: quickOr(program, 'captureLoadAt', quick, QUICK.captureLoadAt),
    tls: program.getOptionValue('tls') as QuerySettings['tls'],
    json: program.getOptionValue('json') === true,
  };
}

async function run(settings: QuerySettings): Promise<BenchOutcome> {
  const options = {
    flows: settings.flows,
    queries: settings.queries,
    workers: settings.workers,
    serfQueries: settings.serfQueries,
    captureLoadAt: settings.captureLoadAt,
    captureFile: settings.sizes.includes(settings.captureLoadAt) ? captureFileForLoad() : '',
  };
  const outcomes: SizeOutcome[] = [];
  const transport = settings.tls === 'off' ? PLAINTEXT : await tlsTransport(Math.max(...settings.sizes));
  for (const nodes of settings.sizes) {
    let result: SizeResult;
    try {
      result = await measureSize(nodes, options, settings.tls === 'on' ? transport : PLAINTEXT);
      if (settings.tls === 'both') {
        const secure = await measureSize(nodes, options, transport, true);
        result.tls = {
          latency: secure.latency,
          noHints: secure.noHints,
          exact: secure.exact && secure.noHints.exact,
          sameAnswer: secure.sameAnswer,
        };
        log(
          `TLS beside plaintext: repeated p99 ${(secure.latency.p99 / result.latency.p99).toFixed(3)}x, ` +
            `first-time p99 ${(secure.noHints.p99 / result.noHints.p99).toFixed(3)}x`,
        );
      }
    } catch (error) {
      const message = (error as Error).message;
      log(`${NAME}: ${nodes} nodes failed: ${message}`);
      outcomes.push({ nodes, error: `${nodes} nodes: ${message}` });
      continue;
    }
    if (settings.serf) {
      log(`serf query at ${nodes} members (${options.serfQueries} queries)...`);
      try {
        result.serf = await measureSerfQuery({
          members: nodes,
          queries: options.serfQueries,
          onProgress: log,
        });
      } catch (error) {
        result.serfError = (error as Error).message;
        log(`${NAME}: serf query failed: ${result.serfError}`);
      }
    }
    outcomes.push({ nodes, result });
  }
  if (transport.dir !== '') rmSync(transport.dir, { recursive: true, force: true });
  const targets = checkTargets(settings, outcomes);
  const results = outcomes.flatMap((outcome) => (outcome.result ? [outcome.result] : []));
  if (settings.json)
    return {
      output: JSON.stringify(
        { windowSeconds: WINDOW_SECONDS, results, failures: outcomes.filter((o) => o.error), targets },
        null,
        2,
      ),
      targets,
    };
  const failures = outcomes.flatMap((outcome) => (outcome.error ? [`FAILED: ${outcome.error}`] : []));
  return {
    output:
      `cluster top-10 by host over a ${WINDOW_SECONDS}-second window, ${options.flows} flows per node, ` +
      `${options.queries} queries per size (latency measured by the client, one gRPC hop to node n00)\n\n` +
      `${table(results)}\n${settings.tls === 'both' ? `\nmutual TLS beside plaintext (same data, same run; ratios are TLS / plaintext)\n\n${tlsTable(results)}\n` : ''}${settings.tls === 'on' ? '\n(every connection above is mutual TLS)\n' : ''}${failures.length ? `\n${failures.join('\n')}\n` : ''}\n${formatTargets(targets)}`,
    targets,
  };
}

// Worker processes exit when their IPC channel closes, serf query removes its namespace on 'exit'; the
// capturing agent is ours to kill. A signal ends the process through process.exit, so 'exit' runs.
process.on('exit', () => {
  for (const agent of capturingAgents) agent.kill('SIGKILL');
});
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const)
  process.on(signal, () => {
    log(`${NAME}: ${signal}: stopping`);
    process.exit(code);
  });
// Worker processes and grpc-js handles would keep the loop alive: exit explicitly.
process.exit(await runBench(command(), process.argv.slice(2), settingsFrom, run));
