/**
 * `npm run bench:query`: latency and transfer of a cluster top-10 (host, bytes, 5-minute window) at 8, 32
 * and 64 nodes with 100k flows each, exact TPUT against "every node ships its whole table", and Serf's
 * own fan-out (`serf query`) at the same sizes, side by side in one run.
 *
 *   node dist/bench/query/run.js [--sizes 8,32,64] [--flows 100000] [--queries 200] [--workers 2]
 *                                [--serf-queries 20] [--no-serf] [--json]
 *
 * Nodes run as servers in a few worker processes (mesh-node-host.ts): each node has its own FlowStore,
 * real gossip membership and gRPC server on loopback; the machine cannot hold 64 agents with their
 * capture processes. The query goes to node n00 over gRPC from this process, as `sniffmesh top` would.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
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
import { compareScoredKeys } from '../../src/query/tput.js';
import { UsageError } from '../../src/util/errors.js';
import { summarize } from '../capture/sample-stats.js';
import type { HostHintsMessage, HostStartMessage } from './mesh-node-host.js';
import { measureSerfQuery, nearestRankPercentile, type SerfQueryResult } from './serf-query.js';

const HOST_PATH = fileURLToPath(new URL('./mesh-node-host.js', import.meta.url));
const WINDOW_SECONDS = 300;
/** Flows spread over this many seconds (inside the window for the whole run: tables are built once). */
const SPREAD_SECONDS = 200;
const SHIP_EVERYTHING_RUNS = 5;

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
      };
      child.send(message);
    });
  await start(0, Math.min(perWorker, nodes), '');
  const rest: Promise<void>[] = [];
  for (let first = perWorker; first < nodes; first += perWorker) {
    rest.push(start(first, Math.min(perWorker, nodes - first), `127.0.0.1:${gossipBasePort}`));
  }
  await Promise.all(rest);
  return { children, rssBytes, gossipBasePort };
}

async function waitForMembers(client: SniffmeshClient, nodes: number): Promise<MembersResponse> {
  const until = Date.now() + 20_000;
  for (;;) {
    const members = await call<MembersResponse>((cb) => client.members({}, cb));
    const ready = members.members.filter((m) => m.state === 1 && m.grpc !== '').length;
    if (ready === nodes) return members;
    if (Date.now() > until)
      throw new Error(
        `only ${ready} of ${nodes} members ready after 60 s: ${members.members.map((m) => `${m.name}:${m.state}:${m.grpc}`).join(' ')}`,
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
      const client = new SniffmeshClient(member.grpc, credentials.createInsecure(), {
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
): Promise<SizeResult> {
  log(`\n== ${nodes} nodes, ${options.flows} flows each ==`);
  const setupStarted = performance.now();
  const { children, rssBytes, gossipBasePort } = await startWorkers(
    nodes,
    Math.min(options.workers, nodes),
    options.flows,
  );
  try {
    const first = (children[0] as ChildProcess & { firstGrpc?: string }).firstGrpc ?? '';
    const client = new SniffmeshClient(first, credentials.createInsecure());
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
    let shipped = await shipEverything(members, last);
    for (let i = 0; i < SHIP_EVERYTHING_RUNS; i++) {
      shipped = await shipEverything(members, last);
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
      nodes === options.captureLoadAt
        ? await measureUnderCapture(nodes, gossipBasePort, options.captureFile, options.queries)
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
    for (const child of children) child.send({ type: 'stop' });
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
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  try {
    const client = new SniffmeshClient(grpc, credentials.createInsecure());
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

function verdicts(results: SizeResult[]): string[] {
  const out: string[] = [];
  const verdict = (ok: boolean) => (ok ? 'pass' : 'FAIL');
  for (const r of results) {
    // Targets hold for both kinds of question; transfer is judged on the first-time one (it moves more).
    const both = [
      ['repeated', r.latency],
      ['first-time', r.noHints],
    ] as const;
    if (r.nodes === 32) {
      for (const [kind, l] of both) {
        out.push(`32 nodes, ${kind}: p50 ${l.p50.toFixed(1)} ms <= 15: ${verdict(l.p50 <= 15)}`);
        out.push(`32 nodes, ${kind}: p99 ${l.p99.toFixed(1)} ms <= 50: ${verdict(l.p99 <= 50)}`);
      }
      const share = Math.max(r.bytesTransferred, r.noHints.bytes) / r.shipEverything.bytes;
      out.push(`32 nodes: transfer ${(share * 100).toFixed(2)} % <= 5 %: ${verdict(share <= 0.05)}`);
      out.push(`32 nodes: same answer as ship-everything: ${verdict(r.sameAnswer)}`);
    }
    if (r.nodes === 64) {
      for (const [kind, l] of both) {
        out.push(`64 nodes, ${kind}: p99 ${l.p99.toFixed(1)} ms <= 100: ${verdict(l.p99 <= 100)}`);
      }
    }
    if (r.underCapture !== null) {
      const u = r.underCapture;
      out.push(
        `${r.nodes} nodes + a capturing agent asked: p50 ${u.p50.toFixed(1)} ms, p99 ${u.p99.toFixed(1)} ms ` +
          `while capturing ${(u.framesPerSecond / 1e6).toFixed(2)} M frames/s: ` +
          `${verdict(u.p50 <= 15 && u.p99 <= 50)} (targets of 32 nodes)`,
      );
    }
    if (r.serf !== null) {
      const p99 = Math.max(r.latency.p99, r.noHints.p99);
      out.push(
        `${r.nodes} nodes: faster than serf query (our worst p99 ${p99.toFixed(1)} ms vs its p50 ` +
          `${r.serf.p50Ms.toFixed(0)} ms): ${verdict(p99 < r.serf.p50Ms)}`,
      );
    }
  }
  return out;
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '8,32,64' },
      flows: { type: 'string', default: '100000' },
      queries: { type: 'string', default: '200' },
      workers: { type: 'string', default: '2' },
      'serf-queries': { type: 'string', default: '20' },
      'no-serf': { type: 'boolean', default: false },
      'capture-load-at': { type: 'string', default: '32' },
      json: { type: 'boolean', default: false },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 128))
    throw new UsageError('--sizes: integers 1..128');
  const options = {
    flows: Number(values.flows),
    queries: Number(values.queries),
    workers: Number(values.workers),
    serfQueries: Number(values['serf-queries']),
    captureLoadAt: Number(values['capture-load-at']),
    captureFile: captureFileForLoad(),
  };
  const results: SizeResult[] = [];
  for (const nodes of sizes) {
    const result = await measureSize(nodes, options);
    if (!values['no-serf']) {
      log(`serf query at ${nodes} members (${options.serfQueries} queries)...`);
      result.serf = await measureSerfQuery({ members: nodes, queries: options.serfQueries, onProgress: log });
    }
    results.push(result);
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ windowSeconds: WINDOW_SECONDS, results }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `cluster top-10 by host over a ${WINDOW_SECONDS}-second window, ${options.flows} flows per node, ` +
      `${options.queries} queries per size (latency measured by the client, one gRPC hop to node n00)\n\n` +
      `${table(results)}\n\n${verdicts(results).join('\n')}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:query: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
