import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Grouping,
  MergePhase,
  type MergeRequest,
  type MergeResponse,
  Metric,
} from '../../src/query/generated/sniffmesh.js';
import { PeerMergeStream } from '../../src/query/peer-merge-stream.js';
import { PeerCallError } from '../../src/query/service-errors.js';
import { type QueryNode, startQueryNode } from '../helpers/query-node.js';
import { everythingReadable, feed, newStore } from '../helpers/twin-stores.js';

/**
 * The coordinator's long-lived merge stream to a peer (peer-merge-stream.ts) against a real node's query
 * service on loopback: answers matched to requests, a bad request failing only itself with its status
 * code, deadlines; and, through the same real server, that a merge never changes what a node stores.
 */

const running: QueryNode[] = [];
afterEach(async () => {
  for (const node of running.splice(0)) await node.stop();
});

const NOW_SECOND = () => Math.floor(Date.now() / 1000);

function mergeRequest(
  overrides: Partial<MergeRequest> & { toSecond?: number; fromSecond?: number } = {},
): MergeRequest {
  const { toSecond, fromSecond, ...rest } = overrides;
  const to = toSecond ?? NOW_SECOND() - 2;
  return {
    queryId: 'q',
    window: {
      group: Grouping.GROUPING_HOST,
      by: Metric.METRIC_BYTES,
      fromSecond: fromSecond ?? to - 9,
      toSecond: to,
      filters: undefined,
      memberNetworks: [],
    },
    phase: MergePhase.MERGE_PHASE_LOCAL_TOP,
    k: 5,
    threshold: 0,
    keys: [],
    requestId: 0,
    ...rest,
  };
}

function unaryMerge(node: QueryNode, request: MergeRequest): Promise<MergeResponse> {
  return new Promise((resolve, reject) =>
    node.client.merge(request, new Metadata(), { deadline: Date.now() + 5000 }, (error, response) =>
      error ? reject(error) : resolve(response as MergeResponse),
    ),
  );
}

async function recentNode(): Promise<QueryNode> {
  const store = newStore();
  const now = NOW_SECOND();
  feed([store], now - 20, now - 3, 5, 100);
  store.advanceTo(now - 2);
  const node = await startQueryNode(store);
  running.push(node);
  return node;
}

describe('PeerMergeStream against a real query service', () => {
  it('matches concurrent answers to their requests: each equals the unary Merge answer', async () => {
    const node = await recentNode();
    const stream = new PeerMergeStream(node.client, () => 0);
    const signal = new AbortController().signal;
    const requests = [
      Grouping.GROUPING_HOST,
      Grouping.GROUPING_PORT,
      Grouping.GROUPING_PAIR,
      Grouping.GROUPING_PROTO,
    ].flatMap((group) =>
      [3, 7].map((k) => {
        const request = mergeRequest({ k });
        (request.window as NonNullable<MergeRequest['window']>).group = group;
        return request;
      }),
    );
    const answers = await Promise.all(requests.map((request) => stream.ask(request, signal)));
    for (const [i, request] of requests.entries()) {
      const unary = await unaryMerge(node, request);
      expect({ ...answers[i]?.response, requestId: 0 }).toEqual(unary);
      expect(unary.rows.length).toBeGreaterThan(0);
      expect(unary.rows.length).toBeLessThanOrEqual(request.k);
    }
    stream.close();
  });

  it('fails a bad request alone, with its status code as data, and keeps answering the others', async () => {
    const node = await recentNode();
    const stream = new PeerMergeStream(node.client, () => 0);
    const signal = new AbortController().signal;
    const bad = mergeRequest({ k: 5000 });
    const [good, refused, later] = await Promise.allSettled([
      stream.ask(mergeRequest(), signal),
      stream.ask(bad, signal),
      stream.ask(mergeRequest({ k: 2 }), signal),
    ]);
    expect(good.status).toBe('fulfilled');
    expect(later.status === 'fulfilled' && later.value.response.rows.length).toBe(2);
    expect(refused.status).toBe('rejected');
    const error = (refused as PromiseRejectedResult).reason as PeerCallError;
    expect(error).toBeInstanceOf(PeerCallError);
    expect(error.grpcCode).toBe(status.INVALID_ARGUMENT);
    expect(error.message).toMatch(/^INVALID_ARGUMENT: k 5000: at most 1000/);
    // The unary twin answers the same bad request with the same status.
    const unary = await unaryMerge(node, bad).catch((e: ServiceError) => e);
    expect((unary as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    stream.close();
  });

  it('gives up on a request at its deadline with DEADLINE_EXCEEDED, and the stream goes on', async () => {
    const node = await recentNode();
    const stream = new PeerMergeStream(node.client, () => 0);
    const aborted = new AbortController();
    aborted.abort();
    const error = await stream.ask(mergeRequest(), aborted.signal).catch((e: unknown) => e);
    expect((error as PeerCallError).grpcCode).toBe(status.DEADLINE_EXCEEDED);
    const answer = await stream.ask(mergeRequest(), new AbortController().signal);
    expect(answer.response.rows.length).toBe(5);
    stream.close();
  });

  it('fails what is in flight with the connection status when the peer goes away', async () => {
    const node = await recentNode();
    const stream = new PeerMergeStream(node.client, () => 0);
    await stream.ask(mergeRequest(), new AbortController().signal);
    await node.server.close(0);
    const error = await stream.ask(mergeRequest(), new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PeerCallError);
    expect([status.UNAVAILABLE, status.CANCELLED, status.INTERNAL]).toContain(
      (error as PeerCallError).grpcCode,
    );
    stream.close();
  });
});

describe('a merge never changes what a node stores (through the real gRPC server)', () => {
  it('a future to_second within the tolerance is answered from closed seconds; beyond it, FAILED_PRECONDITION; later windows equal a node never asked', async () => {
    const asked = newStore();
    const never = newStore();
    const now = NOW_SECOND();
    feed([asked, never], now - 12, now - 1, 7, 150);
    const node = await startQueryNode(asked);
    running.push(node);
    const closed = asked.lastClosedSecond as number;
    expect(closed).toBe(now - 2);

    // Two seconds ahead (within the 5 s tolerance): OK, not complete, and the newest second read named.
    const soon = mergeRequest({ toSecond: now + 2, fromSecond: now - 10 });
    for (const phase of [MergePhase.MERGE_PHASE_LOCAL_TOP, MergePhase.MERGE_PHASE_ABOVE_THRESHOLD]) {
      const answer = await unaryMerge(node, { ...soon, phase, threshold: phase === 1 ? 0 : 1 });
      expect(answer.windowComplete).toBe(false);
      expect(answer.windowToSecond).toBe(closed);
    }
    const stream = new PeerMergeStream(node.client, () => 0);
    const streamed = await stream.ask(
      { ...soon, phase: MergePhase.MERGE_PHASE_EXACT, keys: ['198.18.0.1'] },
      new AbortController().signal,
    );
    expect(streamed.response.windowToSecond).toBe(closed);

    // Thirty seconds ahead: refused, on both the unary call and the stream, with the same status.
    const far = mergeRequest({ toSecond: now + 30 });
    const unaryError = (await unaryMerge(node, far).catch((e: ServiceError) => e)) as ServiceError;
    expect(unaryError.code).toBe(status.FAILED_PRECONDITION);
    expect(unaryError.details).toMatch(/after this node's clock \(tolerance 5 s\)/);
    const streamError = (await stream
      .ask(far, new AbortController().signal)
      .catch((e: unknown) => e)) as PeerCallError;
    expect(streamError.grpcCode).toBe(status.FAILED_PRECONDITION);
    stream.close();

    expect(asked.lastClosedSecond).toBe(closed);
    // Traffic in the seconds the requests named, then both closed alike.
    feed([asked, never], now - 1, now + 31, 8, 100);
    asked.advanceTo(now + 32);
    never.advanceTo(now + 32);
    expect(everythingReadable(asked, now + 31, now - 12)).toEqual(
      everythingReadable(never, now + 31, now - 12),
    );
  });
});
