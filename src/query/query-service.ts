import type { ServerDuplexStream, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { MembershipEvent as MemberEvent, MemberInfo } from '../membership/member.js';
import type { Membership } from '../membership/membership.js';
import type { LocalQueryEngine } from '../node/agent/local-query-engine.js';
import { clientIdentityOf } from './client-identity.js';
import type { ClusterQuery } from './cluster-query.js';
import { ConcurrencyLimit, type Release } from './concurrency-limit.js';
import {
  type Member,
  MemberState,
  type MembershipEvent,
  MembershipEventType,
  type MembershipUpdate,
  type MergeRequest,
  type MergeResponse,
  type SniffmeshServer,
  type StatsResponse,
  type TopTalkersRequest,
  type TopTalkersResponse,
  type WatchTopRequest,
} from './generated/sniffmesh.js';
import { mergeResponseToWire } from './phase-wire.js';
import type { QueryConfig } from './query-config.js';
import { validateMergeRequest, validateTopRequest, validateWatchTopRequest } from './request-validation.js';
import { grpcStatusOf, InvalidRequestError } from './service-errors.js';

export interface QueryServiceOptions {
  readonly membership: Membership;
  readonly engine: LocalQueryEngine | null;
  readonly clusterQuery: ClusterQuery;
  readonly config: QueryConfig;
  readonly version: string;
  readonly startedAtMs: number;
}

const STATES: Record<MemberInfo['state'], MemberState> = {
  alive: MemberState.MEMBER_STATE_ALIVE,
  suspect: MemberState.MEMBER_STATE_SUSPECT,
  failed: MemberState.MEMBER_STATE_FAILED,
  left: MemberState.MEMBER_STATE_LEFT,
};

const EVENT_TYPES: Record<MemberEvent['type'], MembershipEventType> = {
  joined: MembershipEventType.MEMBERSHIP_EVENT_TYPE_JOINED,
  suspect: MembershipEventType.MEMBERSHIP_EVENT_TYPE_SUSPECT,
  failed: MembershipEventType.MEMBERSHIP_EVENT_TYPE_FAILED,
  recovered: MembershipEventType.MEMBERSHIP_EVENT_TYPE_RECOVERED,
  left: MembershipEventType.MEMBERSHIP_EVENT_TYPE_LEFT,
  updated: MembershipEventType.MEMBERSHIP_EVENT_TYPE_UPDATED,
};

export function toProtoMember(member: MemberInfo): Member {
  return {
    id: member.id,
    name: member.name,
    gossip: member.gossip,
    grpc: member.grpc,
    version: member.version,
    captureInterface: member.captureInterface,
    captureFilter: member.captureFilter,
    startedAtMs: member.startedAtMs,
    state: STATES[member.state],
    incarnation: member.incarnation,
    local: member.local,
    networks: [...member.networks],
  };
}

function answer<Req, Res>(work: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    let promise: Promise<Res>;
    try {
      promise = work(call.request, call);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (response) => callback(null, response),
      (error: unknown) => callback(grpcStatusOf(error)),
    );
  };
}

/**
 * Ends a server stream with the status `error` maps to, exactly as a unary call would answer it. (Not
 * `call.destroy(error)`: grpc-js then tears the stream down without ever sending a status, and the client
 * waits until its deadline; emitting 'error' is grpc-js's way to end a server stream with a status.)
 */
function failStream(call: ServerWritableStream<unknown, unknown>, error: unknown): void {
  const failure = grpcStatusOf(error);
  if (call.destroyed || call.writableEnded) return;
  call.emit('error', Object.assign(new Error(failure.details), failure));
}

function emptyMergeResponse(): MergeResponse {
  return {
    rows: [],
    transit: [],
    totals: undefined,
    undecoded: [],
    evictedPackets: 0,
    evictedBytes: 0,
    windowComplete: false,
    node: '',
    requestId: 0,
    error: '',
    errorCode: 0,
    windowToSecond: 0,
  };
}

/** The gRPC handlers every node serves (proto/sniffmesh.proto). */
export function createQueryService(options: QueryServiceOptions): SniffmeshServer {
  const { membership, engine, clusterQuery, config } = options;
  const queries = new ConcurrencyLimit({
    what: 'concurrent queries',
    perNodeName: 'maxConcurrentQueries',
    perClientName: 'maxConcurrentQueriesPerClient',
    perNode: config.maxConcurrentQueries,
    perClient: config.maxConcurrentQueriesPerClient,
  });
  const watches = new ConcurrencyLimit({
    what: 'open watch streams',
    perNodeName: 'maxWatchStreams',
    perClientName: 'maxWatchStreamsPerClient',
    perNode: config.maxWatchStreams,
    perClient: config.maxWatchStreamsPerClient,
  });
  /** A watch stream's slot, given back once however the stream ends (cancelled, closed, failed). */
  const watchSlot = (call: ServerWritableStream<unknown, unknown>): Release => {
    const release = watches.acquire(clientIdentityOf(call));
    call.on('cancelled', release);
    call.on('close', release);
    call.on('error', release);
    call.on('finish', release);
    return release;
  };

  return {
    // Checked first (a bad request is INVALID_ARGUMENT whatever the load), then a slot or RESOURCE_EXHAUSTED.
    topTalkers: answer((request: TopTalkersRequest, call): Promise<TopTalkersResponse> => {
      const valid = validateTopRequest(request, config);
      const release = queries.acquire(clientIdentityOf(call));
      return clusterQuery.topTalkers(valid).finally(release);
    }),

    watchTop: (call: ServerWritableStream<WatchTopRequest, TopTalkersResponse>) => {
      let valid: ReturnType<typeof validateWatchTopRequest>;
      try {
        valid = validateWatchTopRequest(call.request, config);
        watchSlot(call);
      } catch (error) {
        failStream(call, error);
        return;
      }
      const { query, intervalMs } = valid;
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      const stop = () => {
        stopped = true;
        clearTimeout(timer);
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      const tick = async () => {
        if (stopped) return;
        const began = Date.now();
        try {
          // The first refresh runs at once: a request only the cluster can judge (an unknown member in
          // filters.nodes) fails here with TopTalkers' status and message.
          const response = await clusterQuery.topTalkers(query);
          if (stopped) return;
          call.write(response);
        } catch (error) {
          stop();
          failStream(call, error);
          return;
        }
        timer = setTimeout(tick, Math.max(0, intervalMs - (Date.now() - began)));
      };
      void tick();
    },

    members: answer(async () => ({ members: membership.members().map(toProtoMember) })),

    watchMembers: (call: ServerWritableStream<unknown, MembershipUpdate>) => {
      try {
        watchSlot(call);
      } catch (error) {
        failStream(call, error);
        return;
      }
      // Subscribe before taking the snapshot, holding events back until it is written: none is lost.
      const held: MembershipEvent[] = [];
      let live = false;
      const unsubscribe = membership.onEvent((event) => {
        const update: MembershipEvent = {
          type: EVENT_TYPES[event.type],
          timeMs: event.timeMs,
          member: toProtoMember(event.member),
        };
        if (live) call.write({ event: update });
        else held.push(update);
      });
      const stop = () => unsubscribe();
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      call.write({ snapshot: { members: membership.members().map(toProtoMember) } });
      for (const event of held) call.write({ event });
      live = true;
    },

    stats: answer(async (): Promise<StatsResponse> => {
      const self = membership.self();
      const uptimeSeconds = (Date.now() - options.startedAtMs) / 1000;
      if (engine === null) {
        return {
          name: self.name,
          version: options.version,
          uptimeSeconds,
          captureInterface: '',
          captureFilter: '',
          packets: 0,
          bytes: 0,
          kernelDrops: undefined,
          undecoded: [],
          flows: 0,
          evictedFlows: 0,
        };
      }
      const s = await engine.stats();
      return {
        name: self.name,
        version: options.version,
        uptimeSeconds,
        captureInterface: s.captureInterface,
        captureFilter: s.captureFilter,
        packets: s.packets,
        bytes: s.bytes,
        kernelDrops: s.kernelDrops ?? undefined,
        undecoded: Object.entries(s.undecoded).map(([reason, packets]) => ({ reason, packets })),
        flows: s.flows,
        evictedFlows: s.evictedFlows,
      };
    }),

    merge: answer(merge),

    mergeStream: (call: ServerDuplexStream<MergeRequest, MergeResponse>) => {
      // Answers go back in whatever order they finish, each with its request_id; a bad request fails
      // only itself (error and error_code in its answer: the status and message Merge would give), never
      // the stream. A client that half-closes still gets every answer it asked for, then the status.
      let pending = 0;
      let ended = false;
      const endIfDone = () => {
        if (ended && pending === 0 && !call.destroyed && !call.writableEnded) call.end();
      };
      const reply = (response: MergeResponse) => {
        pending--;
        if (!call.destroyed && !call.writableEnded) call.write(response);
        endIfDone();
      };
      call.on('data', (request: MergeRequest) => {
        pending++;
        let promise: Promise<MergeResponse>;
        try {
          promise = merge(request);
        } catch (error) {
          promise = Promise.reject(error);
        }
        promise.then(
          (response) => reply({ ...response, requestId: request.requestId }),
          (error: unknown) => {
            const failure = grpcStatusOf(error);
            reply({
              ...emptyMergeResponse(),
              requestId: request.requestId,
              error: failure.details,
              errorCode: failure.code,
            });
          },
        );
      });
      call.on('end', () => {
        ended = true;
        endIfDone();
      });
      call.on('error', () => {});
    },
  };

  function merge(request: MergeRequest): Promise<MergeResponse> {
    const valid = validateMergeRequest(request, config);
    if (engine === null) throw new InvalidRequestError(`${membership.self().name} captures nothing`);
    return engine.merge(valid).then((answer) => mergeResponseToWire(answer));
  }
}
