import type { ServerDuplexStream, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { MembershipEvent as MemberEvent, MemberInfo } from '../membership/member.js';
import type { Membership } from '../membership/membership.js';
import type { LocalQueryEngine } from '../node/agent/local-query-engine.js';
import type { ClusterQuery } from './cluster-query.js';
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
import { validateMergeRequest, validateTopRequest } from './request-validation.js';
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

function answer<Req, Res>(work: (request: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    let promise: Promise<Res>;
    try {
      promise = work(call.request);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (response) => callback(null, response),
      (error: unknown) => callback(grpcStatusOf(error)),
    );
  };
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
  const topTalkers = (request: TopTalkersRequest): Promise<TopTalkersResponse> =>
    clusterQuery.topTalkers(validateTopRequest(request, config));

  return {
    topTalkers: answer(topTalkers),

    watchTop: (call: ServerWritableStream<WatchTopRequest, TopTalkersResponse>) => {
      const request = call.request;
      let valid: ReturnType<typeof validateTopRequest>;
      try {
        if (request.query === undefined) throw new InvalidRequestError('watch request without a query');
        valid = validateTopRequest(request.query, config);
        if (request.intervalSeconds > config.maxWatchIntervalSeconds) {
          throw new InvalidRequestError(
            `interval_seconds ${request.intervalSeconds}: at most ${config.maxWatchIntervalSeconds}`,
          );
        }
      } catch (error) {
        call.destroy(Object.assign(new Error(grpcStatusOf(error).details), grpcStatusOf(error)));
        return;
      }
      const intervalMs = (request.intervalSeconds || config.defaultWatchIntervalSeconds) * 1000;
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
          const response = await clusterQuery.topTalkers(valid);
          if (stopped) return;
          call.write(response);
        } catch (error) {
          stop();
          call.destroy(Object.assign(new Error(grpcStatusOf(error).details), grpcStatusOf(error)));
          return;
        }
        timer = setTimeout(tick, Math.max(0, intervalMs - (Date.now() - began)));
      };
      void tick();
    },

    members: answer(async () => ({ members: membership.members().map(toProtoMember) })),

    watchMembers: (call: ServerWritableStream<unknown, MembershipUpdate>) => {
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
      // only itself (error and error_code in its answer), never the stream.
      call.on('data', (request: MergeRequest) => {
        let promise: Promise<MergeResponse>;
        try {
          promise = merge(request);
        } catch (error) {
          promise = Promise.reject(error);
        }
        promise.then(
          (response) => {
            if (!call.destroyed) call.write({ ...response, requestId: request.requestId });
          },
          (error: unknown) => {
            const failure = grpcStatusOf(error);
            if (call.destroyed) return;
            call.write({
              ...emptyMergeResponse(),
              requestId: request.requestId,
              error: failure.details,
              errorCode: failure.code,
            });
          },
        );
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  };

  function merge(request: MergeRequest): Promise<MergeResponse> {
    const valid = validateMergeRequest(request, config);
    if (engine === null) throw new InvalidRequestError(`${membership.self().name} captures nothing`);
    return engine.merge(valid).then((answer) => mergeResponseToWire(answer));
  }
}
