import { Metadata, status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Filters,
  MembershipUpdate,
  MembersRequest,
  MembersResponse,
  MergeRequest,
  MergeResponse,
  Scope,
  StatsRequest,
  StatsResponse,
  TopTalkersRequest,
  TopTalkersResponse,
  WatchMembersRequest,
  WatchTopRequest,
} from '../../src/query/generated/sniffmesh.js';
import { forceGc } from '../helpers/heap-probe.js';
import { type QueryNode, startQueryNode } from '../helpers/query-node.js';
import { recentStore } from '../helpers/twin-stores.js';
import { METHOD_NAMES, type MethodName, RawGrpcClient } from './raw-grpc-client.js';

/**
 * Seeded property-based fuzzing of every gRPC request type against one real node's server on loopback
 * (issue 11 item 8): random field values (encoded by the generated code, so they decode) and random raw
 * bytes (sent by a client with identity serializers). Every call ends in a clear status before its
 * deadline (never DEADLINE_EXCEEDED: no hang), the node stays alive and answers a valid query with the
 * same rows afterwards, and the process's resident memory stays under a stated bound.
 */

const FUZZ_SEED = 20_261_204;
/** Runs per method and kind (field values, raw bytes, mutated valid bodies): ~2,000 calls in all. */
const RUNS = 100;
/** Every call's deadline: a refusal is immediate and an answer here takes milliseconds. */
const CALL_DEADLINE_MS = 5000;
/**
 * Resident memory the process may grow by at its peak over the whole fuzz: 300 MB. The process is the
 * server and the fuzzer: most of the growth is the fuzzer's own (bodies of up to 4 MB, lists of 70,000
 * entries, grpc-js per-call state and garbage between collections). Measured: +145 to +171 MB.
 */
const RSS_GROWTH_BOUND_MB = 300;
/**
 * Heap still in use after a full collection at the end, beyond the one at the start: 30 MB. What the
 * server keeps of ~2,000 calls (nothing but caches: window tables, checked network lists, hints).
 * Measured: +3.1 to +3.2 MB.
 */
const RETAINED_HEAP_BOUND_MB = 30;

/** Statuses that are a clear answer to a request; INTERNAL only as grpc-js's "could not decode". */
const CLEAR_CODES = new Set<number>([
  status.OK,
  status.INVALID_ARGUMENT,
  status.FAILED_PRECONDITION,
  status.RESOURCE_EXHAUSTED,
]);
const UNDECODABLE = 'Error deserializing request';

let node: QueryNode;
let raw: RawGrpcClient;
let expectedRows: string;
let baselineRssMb = 0;
let baselineHeapMb = 0;
let peakRssMb = 0;

const rssMb = () => process.memoryUsage().rss / 2 ** 20;

const VALID_TOP: TopTalkersRequest = {
  group: 0,
  by: 0,
  windowSeconds: 0,
  limit: 5,
  filters: undefined,
  scope: Scope.SCOPE_CLUSTER,
  deadlineMs: 0,
};

function askValid(): Promise<TopTalkersResponse> {
  return new Promise((resolve, reject) =>
    node.client.topTalkers(VALID_TOP, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (e, r) =>
      e ? reject(e) : resolve(r as TopTalkersResponse),
    ),
  );
}

beforeAll(async () => {
  const store = recentStore();
  node = await startQueryNode(store);
  raw = new RawGrpcClient(node.server.address);
  expectedRows = JSON.stringify((await askValid()).rows);
  forceGc();
  baselineHeapMb = process.memoryUsage().heapUsed / 2 ** 20;
  baselineRssMb = rssMb();
  peakRssMb = baselineRssMb;
});
afterAll(async () => {
  raw.close();
  await node.stop();
});

// ---- arbitraries: field values of every request type ----

const uint32 = fc.oneof(
  fc.constantFrom(0, 1, 2, 5, 10, 1000, 1001, 3600, 3601, 30_000, 30_001, 604_800, 604_801, 4_294_967_295),
  fc.nat({ max: 4_294_967_295 }),
);
const enumValue = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const text = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength: 16 }),
    fc.string({ unit: 'binary', maxLength }),
    fc.constantFrom('a', '10.0.0.0/8', '198.18.0.0/24', '::1', '2001:db8::/32', '10.0.0.0/33', '', '\x1b[2J'),
  );
/** A list: a few entries, a few hundred, tens of thousands of one short entry, or one huge string. */
const list = <T>(item: fc.Arbitrary<T>, filler: T, huge?: (n: number) => T) =>
  fc.oneof(
    fc.array(item, { maxLength: 4 }),
    fc.array(item, { maxLength: 300 }),
    fc.nat({ max: 70_000 }).map((n) => Array<T>(n).fill(filler)),
    ...(huge === undefined ? [] : [fc.nat({ max: 100_000 }).map((n) => [huge(n)])]),
  );
const huge = (n: number) => 'x'.repeat(n);
const filters: fc.Arbitrary<Filters | undefined> = fc.option(
  fc.record({
    cidrs: list(text(80), '10.0.0.0/8', huge),
    ports: list(uint32, 80),
    protocols: list(uint32, 6),
    nodes: list(text(300), 'a', huge),
  }),
  { nil: undefined },
);
const topRequest: fc.Arbitrary<TopTalkersRequest> = fc.record({
  group: enumValue,
  by: enumValue,
  windowSeconds: uint32,
  limit: uint32,
  filters,
  scope: enumValue,
  deadlineMs: fc.oneof(fc.constantFrom(0, 1, 50), uint32),
});
const nowSecond = Math.floor(Date.now() / 1000);
const second = fc.oneof(
  fc.integer({ min: nowSecond - 100, max: nowSecond + 100 }),
  fc.constantFrom(0, -1, nowSecond - 2, nowSecond + 3600),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
);
const mergeRequest: fc.Arbitrary<MergeRequest> = fc.record({
  queryId: fc.oneof(text(200), fc.nat({ max: 100_000 }).map(huge)),
  window: fc.option(
    fc.record({
      group: enumValue,
      by: enumValue,
      fromSecond: second,
      toSecond: second,
      filters,
      memberNetworks: list(text(80), '198.18.0.0/24', huge),
    }),
    { nil: undefined },
  ),
  phase: enumValue,
  k: uint32,
  threshold: fc.oneof(fc.double(), fc.constantFrom(0, 1, -1, Number.NaN, Number.POSITIVE_INFINITY)),
  keys: list(text(600), '198.18.0.1', huge),
  requestId: uint32,
});

/** A valid-protobuf body per method, from random field values. */
const FIELD_BODIES: Record<MethodName, fc.Arbitrary<Buffer>> = {
  TopTalkers: topRequest.map((r) => Buffer.from(TopTalkersRequest.encode(r).finish())),
  WatchTop: fc
    .record({ query: fc.option(topRequest, { nil: undefined }), intervalSeconds: uint32 })
    .map((r) => Buffer.from(WatchTopRequest.encode(r).finish())),
  // No fields: random unknown fields, which a decoder must skip.
  Members: fc.uint8Array({ maxLength: 64 }).map((bytes) => unknownField(bytes)),
  WatchMembers: fc.uint8Array({ maxLength: 64 }).map((bytes) => unknownField(bytes)),
  Stats: fc.uint8Array({ maxLength: 64 }).map((bytes) => unknownField(bytes)),
  Merge: mergeRequest.map((r) => Buffer.from(MergeRequest.encode(r).finish())),
  MergeStream: mergeRequest.map((r) => Buffer.from(MergeRequest.encode(r).finish())),
};

/** Field 15, length-delimited, holding `bytes`: unknown to every request type. */
function unknownField(bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x7a, bytes.length]), Buffer.from(bytes)]);
}

/** Raw bytes: random, and a valid body with bytes overwritten, cut or extended. */
function rawBodies(method: MethodName): fc.Arbitrary<Buffer> {
  const mutated = fc
    .tuple(
      FIELD_BODIES[method],
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 8 }),
      fc.nat(),
    )
    .map(([body, flips, cut]) => {
      const copy = Buffer.from(body);
      for (const [at, value] of flips) if (copy.length > 0) copy[at % copy.length] = value;
      return copy.subarray(0, copy.length === 0 ? 0 : cut % (copy.length + 1));
    });
  return fc.oneof(
    fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
    mutated,
  );
}

/** The answer's first message must decode as the method's response type. */
const DECODERS: Record<MethodName, (bytes: Buffer) => unknown> = {
  TopTalkers: (b) => TopTalkersResponse.decode(b),
  WatchTop: (b) => TopTalkersResponse.decode(b),
  Members: (b) => MembersResponse.decode(b),
  WatchMembers: (b) => MembershipUpdate.decode(b),
  Stats: (b) => StatsResponse.decode(b),
  Merge: (b) => MergeResponse.decode(b),
  MergeStream: (b) => MergeResponse.decode(b),
};

async function expectClearOutcome(method: MethodName, body: Buffer, decodable: boolean): Promise<void> {
  const outcome = await raw.call(method, body, CALL_DEADLINE_MS);
  peakRssMb = Math.max(peakRssMb, rssMb());
  const where = `${method} with ${body.length} bytes ${body.subarray(0, 48).toString('hex')}: ${status[outcome.code]} ${outcome.details.slice(0, 200)}`;
  expect(outcome.code, where).not.toBe(status.DEADLINE_EXCEEDED);
  if (outcome.code === status.INTERNAL) {
    // Only grpc-js's refusal of bytes that are not the request type; never a handler that threw.
    expect(outcome.details, where).toBe(UNDECODABLE);
    expect(decodable, `${where}: a body the generated code encoded must decode`).toBe(false);
  } else {
    expect(CLEAR_CODES.has(outcome.code), where).toBe(true);
  }
  expect(outcome.details.length, where).toBeLessThanOrEqual(1100);
  if (outcome.code === status.OK) {
    expect(outcome.messages.length, where).toBe(1);
    const answer = DECODERS[method](outcome.messages[0] as Buffer);
    if (method === 'MergeStream') {
      const code = (answer as MergeResponse).errorCode;
      expect([0, status.INVALID_ARGUMENT, status.FAILED_PRECONDITION], where).toContain(code);
    }
  }
}

describe('every gRPC request type, fuzzed against the real server', () => {
  it.each(METHOD_NAMES)(
    '%s: random field values end in a clear status, never a hang',
    async (method) => {
      await fc.assert(
        fc.asyncProperty(FIELD_BODIES[method], (body) => expectClearOutcome(method, body, true)),
        { seed: FUZZ_SEED, numRuns: RUNS },
      );
    },
    120_000,
  );

  it.each(METHOD_NAMES)(
    '%s: random and mutated raw bytes end in a clear status, never a hang',
    async (method) => {
      // grpc-js answers INTERNAL "could not decode" exactly when the generated decoder throws.
      await fc.assert(
        fc.asyncProperty(rawBodies(method), (body) =>
          expectClearOutcome(method, body, decodes(method, body)),
        ),
        { seed: FUZZ_SEED + 1, numRuns: RUNS * 2 },
      );
    },
    120_000,
  );

  it('the node is alive afterwards, answers a valid query with the same rows, and memory stayed bounded', async () => {
    expect(JSON.stringify((await askValid()).rows)).toBe(expectedRows);
    const growth = peakRssMb - baselineRssMb;
    forceGc();
    const retained = process.memoryUsage().heapUsed / 2 ** 20 - baselineHeapMb;
    console.log(
      `fuzz: RSS ${baselineRssMb.toFixed(0)} MB -> peak ${peakRssMb.toFixed(0)} MB (+${growth.toFixed(0)} MB); ` +
        `heap retained after GC ${retained >= 0 ? '+' : ''}${retained.toFixed(1)} MB`,
    );
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND_MB);
    expect(retained).toBeLessThan(RETAINED_HEAP_BOUND_MB);
  });
});

/** Whether the generated decoder accepts `body` as `method`'s request (grpc-js then calls the handler). */
function decodes(method: MethodName, body: Buffer): boolean {
  const decoders: Record<MethodName, (bytes: Buffer) => unknown> = {
    TopTalkers: (b) => TopTalkersRequest.decode(b),
    WatchTop: (b) => WatchTopRequest.decode(b),
    Members: (b) => MembersRequest.decode(b),
    WatchMembers: (b) => WatchMembersRequest.decode(b),
    Stats: (b) => StatsRequest.decode(b),
    Merge: (b) => MergeRequest.decode(b),
    MergeStream: (b) => MergeRequest.decode(b),
  };
  try {
    decoders[method](body);
    return true;
  } catch {
    return false;
  }
}
