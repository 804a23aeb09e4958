import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Filters,
  Grouping,
  type MergePhase,
  MergeRequest,
  MergeResponse,
  Metric,
  Scope,
  type TopTalkersRequest,
  TopTalkersResponse,
  WatchTopRequest,
} from '../../src/query/generated/sniffmesh.js';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { type QueryNode, startQueryNode } from '../helpers/query-node.js';
import { mergeRequest } from '../helpers/query-requests.js';
import { recentStore } from '../helpers/twin-stores.js';
import { type MethodName, RawGrpcClient } from './raw-grpc-client.js';

/**
 * Every streaming method answers an invalid request exactly as its unary twin does (issue 11 item 6):
 * WatchTop as TopTalkers, MergeStream as Merge, WatchMembers as Members; the same code and the same
 * message, at once. Against one real node's gRPC server on loopback.
 */

/** "At once": a refusal needs no fan-out and no data; this leaves room for a loaded machine. */
const AT_ONCE_MS = 1500;
/** The client's deadline on every call: a status that never comes shows as DEADLINE_EXCEEDED. */
const CALL_DEADLINE_MS = 5000;

let node: QueryNode;
let raw: RawGrpcClient;

beforeAll(async () => {
  const store = recentStore();
  node = await startQueryNode(store);
  raw = new RawGrpcClient(node.server.address);
});
afterAll(async () => {
  raw.close();
  await node.stop();
});

interface Status {
  code: number;
  details: string;
  elapsedMs: number;
}

function noFilters(overrides: Partial<Filters> = {}): Filters {
  return { cidrs: [], ports: [], protocols: [], nodes: [], ...overrides };
}

function top(overrides: Partial<TopTalkersRequest> = {}): TopTalkersRequest {
  return {
    group: Grouping.GROUPING_HOST,
    by: Metric.METRIC_BYTES,
    windowSeconds: 0,
    limit: 10,
    filters: noFilters(),
    scope: Scope.SCOPE_CLUSTER,
    deadlineMs: 0,
    ...overrides,
  };
}

function unaryTop(request: TopTalkersRequest): Promise<Status> {
  const started = performance.now();
  return new Promise((resolve) =>
    node.client.topTalkers(request, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (error) =>
      resolve({
        code: error?.code ?? status.OK,
        details: error?.details ?? '',
        elapsedMs: performance.now() - started,
      }),
    ),
  );
}

/** A WatchTop's status; a message before it fails the test (an invalid request must not be answered). */
function watchTop(request: TopTalkersRequest, intervalSeconds = 0): Promise<Status & { messages: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    let messages = 0;
    const stream = node.client.watchTop({ query: request, intervalSeconds }, new Metadata(), {
      deadline: Date.now() + CALL_DEADLINE_MS,
    });
    stream.on('data', () => {
      messages++;
      stream.cancel();
    });
    stream.on('error', (error: ServiceError) =>
      resolve({ code: error.code, details: error.details, elapsedMs: performance.now() - started, messages }),
    );
    stream.on('end', () =>
      resolve({ code: status.OK, details: '', elapsedMs: performance.now() - started, messages }),
    );
  });
}

const LONG_CIDR = 'x'.repeat(60_000);

/** Invalid TopTalkers requests, each a different rule (and the brief's combination of four). */
const INVALID_TOP: [string, TopTalkersRequest][] = [
  ['an unknown grouping', top({ group: 99 as Grouping })],
  ['an unknown metric', top({ by: 7 as Metric })],
  ['an unknown scope', top({ scope: 5 as Scope })],
  ['a cluster limit beyond the maximum', top({ limit: 5000 })],
  ['a window beyond retention', top({ windowSeconds: 1_000_000_000 })],
  ['a deadline beyond the maximum', top({ deadlineMs: DEFAULT_QUERY_CONFIG.maxDeadlineMs + 1 })],
  ['an unknown member in filters.nodes', top({ filters: noFilters({ nodes: ['nobody'] }) })],
  ['a malformed CIDR', top({ filters: noFilters({ cidrs: ['10.0.0.0/33'] }) })],
  ['a 60 kB CIDR', top({ filters: noFilters({ cidrs: [LONG_CIDR] }) })],
  ['a port beyond 65535', top({ filters: noFilters({ ports: [70_000] }) })],
  ['a protocol beyond 255', top({ filters: noFilters({ protocols: [300] }) })],
  ['too many CIDRs', top({ filters: noFilters({ cidrs: Array(300).fill('10.0.0.0/8') }) })],
  ['a 1000-character member name', top({ filters: noFilters({ nodes: ['n'.repeat(1000)] }) })],
  [
    'group 99, limit 5000, window 1e9 and an unknown node',
    top({
      group: 99 as Grouping,
      limit: 5000,
      windowSeconds: 1_000_000_000,
      filters: noFilters({ nodes: ['nobody'] }),
    }),
  ],
];

describe('WatchTop answers every invalid request as TopTalkers does', () => {
  it.each(INVALID_TOP)('%s: the same code and message, at once, and no update', async (_, request) => {
    const [unary, stream] = await Promise.all([unaryTop(request), watchTop(request)]);
    expect(unary.code).not.toBe(status.OK);
    expect(unary.code).not.toBe(status.DEADLINE_EXCEEDED);
    expect({ code: stream.code, details: stream.details }).toEqual({
      code: unary.code,
      details: unary.details,
    });
    expect(stream.messages).toBe(0);
    expect(unary.elapsedMs).toBeLessThan(AT_ONCE_MS);
    expect(stream.elapsedMs).toBeLessThan(AT_ONCE_MS);
  });

  it('refuses what only a watch has: no query, or an interval beyond the maximum', async () => {
    const noQuery = await new Promise<Status>((resolve) => {
      const stream = node.client.watchTop({ query: undefined, intervalSeconds: 1 }, new Metadata(), {
        deadline: Date.now() + CALL_DEADLINE_MS,
      });
      stream.on('data', () => stream.cancel());
      stream.on('error', (e: ServiceError) => resolve({ code: e.code, details: e.details, elapsedMs: 0 }));
    });
    expect(noQuery).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'watch request without a query',
    });
    const slow = await watchTop(top(), DEFAULT_QUERY_CONFIG.maxWatchIntervalSeconds + 1);
    expect(slow.code).toBe(status.INVALID_ARGUMENT);
    expect(slow.details).toMatch(/^interval_seconds 3601: at most 3600/);
    expect(slow.messages).toBe(0);
  });

  it('answers a valid watch at once with the answer TopTalkers gives', async () => {
    const request = top({ scope: Scope.SCOPE_LOCAL, limit: 5 });
    const unary = await new Promise<TopTalkersResponse>((resolve, reject) =>
      node.client.topTalkers(request, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (e, r) =>
        e ? reject(e) : resolve(r as TopTalkersResponse),
      ),
    );
    const first = await raw.call(
      'WatchTop',
      Buffer.from(WatchTopRequest.encode({ query: request, intervalSeconds: 1 }).finish()),
      CALL_DEADLINE_MS,
    );
    expect(first.code).toBe(status.OK);
    const streamed = TopTalkersResponse.decode(first.messages[0] as Buffer);
    expect(streamed.rows.length).toBeGreaterThan(0);
    expect(streamed.rows).toEqual(unary.rows);
  });
});

function merge(overrides: Partial<MergeRequest> = {}): MergeRequest {
  return mergeRequest({ requestId: 7, ...overrides });
}

function mergeWindow(overrides: Partial<NonNullable<MergeRequest['window']>>): MergeRequest['window'] {
  return { ...(merge().window as NonNullable<MergeRequest['window']>), ...overrides };
}

const INVALID_MERGE: [string, MergeRequest][] = [
  ['no window', merge({ window: undefined })],
  ['an unknown grouping', merge({ window: mergeWindow({ group: 99 as Grouping }) })],
  ['an unknown phase', merge({ phase: 0 as MergePhase })],
  ['a window that ends before it begins', merge({ window: mergeWindow({ fromSecond: 100, toSecond: 50 }) })],
  ['a negative from_second', merge({ window: mergeWindow({ fromSecond: -5 }) })],
  ['k beyond the maximum', merge({ k: 5000 })],
  ['a negative threshold', merge({ threshold: -1 })],
  ['a threshold that is not a number', merge({ threshold: Number.NaN })],
  ['too many keys', merge({ keys: Array(70_000).fill('k') })],
  ['a 2000-character key', merge({ keys: ['k'.repeat(2000)] })],
  ['a 1000-character query id', merge({ queryId: 'q'.repeat(1000) })],
  ['a malformed member network', merge({ window: mergeWindow({ memberNetworks: ['nope'] }) })],
  ['a 60 kB member network', merge({ window: mergeWindow({ memberNetworks: [LONG_CIDR] }) })],
  ['a bad filter', merge({ window: mergeWindow({ filters: noFilters({ ports: [1e6] }) }) })],
  [
    'a window far ahead of the clock (FAILED_PRECONDITION)',
    merge({ window: mergeWindow({ toSecond: Math.floor(Date.now() / 1000) + 3600 }) }),
  ],
];

describe('MergeStream answers every invalid request as Merge does', () => {
  it.each(INVALID_MERGE)('%s: the same code and message, in its answer', async (_, request) => {
    const body = Buffer.from(MergeRequest.encode(request).finish());
    const [unary, streamed] = await Promise.all([
      raw.call('Merge', body, CALL_DEADLINE_MS),
      raw.call('MergeStream', body, CALL_DEADLINE_MS),
    ]);
    expect(unary.code).not.toBe(status.OK);
    expect(unary.code).not.toBe(status.DEADLINE_EXCEEDED);
    expect(streamed.code).toBe(status.OK);
    const answer = MergeResponse.decode(streamed.messages[0] as Buffer);
    expect({ code: answer.errorCode, details: answer.error, requestId: answer.requestId }).toEqual({
      code: unary.code,
      details: unary.details,
      requestId: 7,
    });
    expect(unary.elapsedMs).toBeLessThan(AT_ONCE_MS);
    expect(streamed.elapsedMs).toBeLessThan(AT_ONCE_MS);
  });

  it('answers every request of a client that half-closes at once, then ends with OK', async () => {
    const stream = node.client.mergeStream(new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS });
    const answers: MergeResponse[] = [];
    const ended = new Promise<number>((resolve) => {
      stream.on('data', (answer: MergeResponse) => answers.push(answer));
      stream.on('status', (s: { code: number }) => resolve(s.code));
      stream.on('error', () => {});
    });
    stream.write(merge({ requestId: 1 }));
    stream.write(merge({ requestId: 2, k: 5000 }));
    stream.end();
    expect(await ended).toBe(status.OK);
    expect(answers.map((a) => a.requestId).sort()).toEqual([1, 2]);
    expect(answers.find((a) => a.requestId === 1)?.rows.length).toBeGreaterThan(0);
    expect(answers.find((a) => a.requestId === 2)?.errorCode).toBe(status.INVALID_ARGUMENT);
  });
});

/** Bodies no method accepts: undecodable protobuf, and one byte beyond the request size limit. */
const BAD_BODIES: [string, Buffer][] = [
  ['an undecodable body', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])],
  ['a truncated length-delimited field', Buffer.from([0x0a, 0x40, 0x01])],
  ['a body one byte over the size limit', Buffer.alloc(DEFAULT_QUERY_CONFIG.maxRequestBytes + 1, 0)],
];

const TWINS: [MethodName, MethodName][] = [
  ['TopTalkers', 'WatchTop'],
  ['Members', 'WatchMembers'],
  ['Merge', 'MergeStream'],
];

describe('every streaming method refuses a bad body as its unary twin does', () => {
  const cases = TWINS.flatMap(([unary, stream]) =>
    BAD_BODIES.map(([what, body]) => [`${stream} and ${unary}: ${what}`, unary, stream, body] as const),
  );
  it.each(cases)('%s', async (_, unaryMethod, streamMethod, body) => {
    const [unary, streamed] = await Promise.all([
      raw.call(unaryMethod, body, CALL_DEADLINE_MS),
      raw.call(streamMethod, body, CALL_DEADLINE_MS),
    ]);
    expect([status.INTERNAL, status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED]).toContain(unary.code);
    expect({ code: streamed.code, details: streamed.details }).toEqual({
      code: unary.code,
      details: unary.details,
    });
    expect(unary.elapsedMs).toBeLessThan(AT_ONCE_MS);
    expect(streamed.elapsedMs).toBeLessThan(AT_ONCE_MS);
  });

  it('a body over the size limit is RESOURCE_EXHAUSTED on every method, and the node keeps answering', async () => {
    const body = Buffer.alloc(DEFAULT_QUERY_CONFIG.maxRequestBytes + 1, 0);
    for (const method of ['TopTalkers', 'Members', 'Stats', 'Merge', 'WatchTop', 'WatchMembers'] as const) {
      const outcome = await raw.call(method, body, CALL_DEADLINE_MS);
      expect(outcome.code, method).toBe(status.RESOURCE_EXHAUSTED);
    }
    const ok = await raw.call('Members', Buffer.alloc(0), CALL_DEADLINE_MS);
    expect(ok.code).toBe(status.OK);
  });
});
