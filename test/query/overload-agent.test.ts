import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../../cluster/local/agent-process.js';
import {
  Grouping,
  Metric,
  NodeStatus,
  Scope,
  SniffmeshClient,
  type TopTalkersRequest,
  type TopTalkersResponse,
} from '../../src/query/generated/sniffmesh.js';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { buildPcap } from '../helpers/capture-writer.js';
import { ipFrame } from '../helpers/ip-frames.js';
import { ipv4 } from '../helpers/naive-traffic-reference.js';
import { requireBuiltCli } from '../helpers/repo-paths.js';
import { freeUdpPort } from '../membership/free-udp-port.js';
import { SourceAddressRelay } from './source-address-relay.js';

/**
 * The overload of issue 11, against a real agent process on loopback (`npm run build` first) replaying a
 * capture: 20 clients (each its own 127.0.0.N address, through a relay) keep 1,000 cluster queries in
 * flight for 5 s. Before: every call returned OK with empty rows and the node "timeout", RSS 107 -> 240 MB.
 * Now: the excess is refused at once with RESOURCE_EXHAUSTED naming the limit; every admitted call answers
 * with the real rows; the agent's resident memory stays within a stated bound.
 */

const CLIENTS = 20;
const IN_FLIGHT_PER_CLIENT = 50;
const LOAD_SECONDS = 5;
/**
 * How much the agent's resident memory may grow under the load: 110 MB. Measured with the limits, on a
 * shared 2-core machine at load 6-10: +25 to +51 MB over eight runs (HTTP/2 state of 1,000 calls in
 * flight, 64 queries' state, garbage not yet collected); before them, +133 MB on this load (issue 11).
 * On a quiet host with more calls admitted (2,243 OK, 7,276 refused) it grew +81 MB once: the growth
 * follows how many answers are in flight and when V8 collects, so the bound is that maximum plus a third.
 */
const RSS_GROWTH_BOUND_MB = 110;
const CALL_DEADLINE_MS = 10_000;
/** A refused client waits this long before asking again (gRPC retry policies start at 100 ms or more). */
const REFUSED_BACKOFF_MS = 100;

const HOSTS = [ipv4(10, 7, 0, 1), ipv4(10, 7, 0, 2), ipv4(10, 7, 0, 3), ipv4(10, 7, 0, 4)];
const PACKETS_PER_FLOW = 40;

function capture(): Uint8Array {
  const records = [];
  const second = Math.floor(Date.now() / 1000) - 30;
  for (let i = 0; i < HOSTS.length; i++) {
    for (let p = 0; p < PACKETS_PER_FLOW; p++) {
      records.push({
        seconds: second + i,
        fraction: p * 1000,
        data: ipFrame({
          src: HOSTS[i] as (typeof HOSTS)[number],
          dst: HOSTS[(i + 1) % HOSTS.length] as (typeof HOSTS)[number],
          protocol: 6,
          srcPort: 40000 + i,
          dstPort: 443,
          length: 100 * (i + 1),
        }),
      });
    }
  }
  return buildPcap({ records }).bytes;
}

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) / 1024;
}

const REQUEST: TopTalkersRequest = {
  group: Grouping.GROUPING_HOST,
  by: Metric.METRIC_BYTES,
  windowSeconds: 0,
  limit: 10,
  filters: undefined,
  scope: Scope.SCOPE_CLUSTER,
  deadlineMs: 0,
};

type Outcome = { ok: true; response: TopTalkersResponse } | { ok: false; code: number; details: string };

function ask(client: SniffmeshClient): Promise<Outcome> {
  return new Promise((resolve) =>
    client.topTalkers(
      REQUEST,
      new Metadata(),
      { deadline: Date.now() + CALL_DEADLINE_MS },
      (error, response) =>
        resolve(
          error
            ? { ok: false, code: error.code, details: error.details }
            : { ok: true, response: response as TopTalkersResponse },
        ),
    ),
  );
}

describe('a real agent under 1,000 concurrent cluster queries for 5 s', () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'sniffmesh-overload-'));
  chmodSync(directory, 0o755);
  const relays: SourceAddressRelay[] = [];
  const clients: SniffmeshClient[] = [];
  let agent: AgentProcess;
  let grpcAddress = '';

  beforeAll(async () => {
    requireBuiltCli();
    const file = path.join(directory, 'a.pcap');
    writeFileSync(file, capture());
    const port = await freeTcpPort();
    grpcAddress = `127.0.0.1:${port}`;
    agent = new AgentProcess({
      name: 'a',
      gossip: `127.0.0.1:${await freeUdpPort()}`,
      extraArgs: ['--capture', '--pcap', file, '--replay-speed', '0', '--grpc', grpcAddress],
    });
    for (let i = 0; i < CLIENTS; i++) {
      const relay = new SourceAddressRelay({ host: '127.0.0.1', port }, `127.0.0.${i + 2}`);
      relays.push(relay);
      clients.push(new SniffmeshClient(await relay.start(), credentials.createInsecure()));
    }
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const relay of relays) await relay.stop();
    agent?.signal('SIGKILL');
    await agent?.exited;
    rmSync(directory, { recursive: true, force: true });
  });

  it('refuses the excess with RESOURCE_EXHAUSTED, answers every admitted call with the rows, in bounded memory', async () => {
    const first = clients[0] as SniffmeshClient;
    let expected: TopTalkersResponse | undefined;
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      const outcome = await ask(first);
      if (outcome.ok && outcome.response.totals?.ipPackets === HOSTS.length * PACKETS_PER_FLOW) {
        expected = outcome.response;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (expected === undefined) throw new Error(`the agent never answered with its capture: ${agent.stderr}`);
    const rows = JSON.stringify(expected.rows);
    expect(expected.rows).toHaveLength(HOSTS.length);

    // Every client connected first: the load is calls, not 20 connection handshakes at once.
    await Promise.all(
      clients.map(
        (client) =>
          new Promise<void>((resolve, reject) =>
            client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())),
          ),
      ),
    );
    const pid = agent.pid as number;
    const baselineMb = rssMb(pid);
    let peakMb = baselineMb;
    const sampler = setInterval(() => {
      peakMb = Math.max(peakMb, rssMb(pid));
    }, 50);
    const counts = new Map<string, number>();
    const wrong: string[] = [];
    const latencies: number[] = [];
    const stopAt = performance.now() + LOAD_SECONDS * 1000;
    const loop = async (client: SniffmeshClient) => {
      while (performance.now() < stopAt) {
        const outcome = await ask(client);
        if (outcome.ok) {
          counts.set('OK', (counts.get('OK') ?? 0) + 1);
          latencies.push(outcome.response.elapsedMs);
          const nodes = outcome.response.nodes;
          if (
            nodes.length !== 1 ||
            nodes[0]?.status !== NodeStatus.NODE_STATUS_OK ||
            JSON.stringify(outcome.response.rows) !== rows
          ) {
            wrong.push(`OK without the data: ${JSON.stringify(nodes)}`);
          }
          continue;
        }
        const name = status[outcome.code] ?? String(outcome.code);
        counts.set(name, (counts.get(name) ?? 0) + 1);
        if (outcome.code !== status.RESOURCE_EXHAUSTED) wrong.push(`${name}: ${outcome.details}`);
        else if (!/at most \d+ \(maxConcurrentQueries(PerClient)?\)/.test(outcome.details)) {
          wrong.push(`a refusal that does not name its limit: ${outcome.details}`);
        }
        // A refused client backs off a little before asking again, as a well-behaved one does.
        await new Promise((resolve) => setTimeout(resolve, REFUSED_BACKOFF_MS));
      }
    };
    await Promise.all(
      clients.flatMap((client) => Array.from({ length: IN_FLIGHT_PER_CLIENT }, () => loop(client))),
    );
    clearInterval(sampler);
    latencies.sort((x, y) => x - y);
    const percentile = (p: number) => (latencies[Math.floor((latencies.length - 1) * p)] ?? 0).toFixed(0);
    const summary =
      `${JSON.stringify(Object.fromEntries(counts))}; admitted query time on the agent p50 ${percentile(0.5)} ms, ` +
      `p90 ${percentile(0.9)} ms, max ${percentile(1)} ms; agent RSS ${baselineMb.toFixed(0)} MB -> peak ` +
      `${peakMb.toFixed(0)} MB (+${(peakMb - baselineMb).toFixed(0)} MB)`;
    console.log(`overload: ${summary}`);
    expect(wrong.slice(0, 3), summary).toEqual([]);
    expect(counts.get('OK') ?? 0, summary).toBeGreaterThanOrEqual(DEFAULT_QUERY_CONFIG.maxConcurrentQueries);
    expect(counts.get('RESOURCE_EXHAUSTED') ?? 0, summary).toBeGreaterThan(0);
    expect(peakMb - baselineMb, summary).toBeLessThan(RSS_GROWTH_BOUND_MB);
    // Afterwards a single question is answered at once with the rows.
    const after = await ask(first);
    expect(after.ok && JSON.stringify(after.response.rows)).toBe(rows);
  }, 90_000);
});
