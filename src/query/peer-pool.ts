import {
  type ChannelCredentials,
  type ClientOptions,
  type ClientUnaryCall,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import type { MemberInfo } from '../membership/member.js';
import type { Membership } from '../membership/membership.js';
import type { MergeAnswer } from './cluster-top.js';
import {
  type MergeRequest,
  MergeResponse,
  type SniffmeshClient,
  SniffmeshService,
} from './generated/sniffmesh.js';

/** Encoded size of each Merge answer received, recorded when it is decoded (no second encode to count it). */
const receivedBytes = new WeakMap<MergeResponse, number>();

/** The generated client, with a Merge decoder that also records the answer's size on the wire. */
const MeasuringClient = makeGenericClientConstructor(
  {
    ...SniffmeshService,
    merge: {
      ...SniffmeshService.merge,
      responseDeserialize: (buffer: Buffer): MergeResponse => {
        const response = MergeResponse.decode(buffer);
        receivedBytes.set(response, buffer.length);
        return response;
      },
    },
  },
  'sniffmesh.v1.Sniffmesh',
) as unknown as new (
  address: string,
  credentials: ChannelCredentials,
  options?: Partial<ClientOptions>,
) => SniffmeshClient;

/**
 * One gRPC client per peer, reused by every query (a channel keeps its HTTP/2 connection), and closed as
 * soon as membership says the peer left or failed, or its gRPC address changed. A restarted peer is a new
 * member (new id) and gets a new client; the old one is closed when its record goes.
 */
export class PeerPool {
  private readonly clients = new Map<string, { address: string; client: SniffmeshClient }>();
  private readonly unsubscribe: () => void;

  constructor(
    membership: Membership,
    private readonly options: { keepaliveMs: number },
  ) {
    this.unsubscribe = membership.onEvent((event) => {
      const member = event.member;
      if (event.type === 'left' || event.type === 'failed') this.drop(member.id);
      else if (event.type === 'updated' && this.clients.get(member.id)?.address !== member.grpc) {
        this.drop(member.id);
      }
    });
  }

  /** Open clients (for tests and stats). */
  get size(): number {
    return this.clients.size;
  }

  /** The client for a member (created on first use). */
  clientFor(member: MemberInfo): SniffmeshClient {
    const known = this.clients.get(member.id);
    if (known !== undefined && known.address === member.grpc) return known.client;
    if (known !== undefined) this.drop(member.id);
    const client = new MeasuringClient(member.grpc, credentials.createInsecure(), {
      'grpc.keepalive_time_ms': this.options.keepaliveMs,
      'grpc.keepalive_timeout_ms': this.options.keepaliveMs,
      // Fail fast when a peer is down: the fan-out reports it rather than waiting for a reconnect.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
    this.clients.set(member.id, { address: member.grpc, client });
    return client;
  }

  /** Closes clients of members no longer in `keep` (ids): records reaped or replaced by a restart. */
  retainOnly(keep: ReadonlySet<string>): void {
    for (const id of [...this.clients.keys()]) if (!keep.has(id)) this.drop(id);
  }

  /** Asks a peer one merge phase; the call is cancelled when `signal` aborts (deadline passed). */
  merge(
    member: MemberInfo,
    request: MergeRequest,
    signal: AbortSignal,
    deadlineMs: number,
  ): Promise<MergeAnswer> {
    const client = this.clientFor(member);
    return new Promise((resolve, reject) => {
      let call: ClientUnaryCall | null = null;
      const onAbort = () => call?.cancel();
      call = client.merge(
        request,
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
        (error: ServiceError | null, response?: MergeResponse) => {
          signal.removeEventListener('abort', onAbort);
          if (error !== null || response === undefined) {
            reject(new Error(describeCallError(error)));
            return;
          }
          resolve({
            response,
            bytes: receivedBytes.get(response) ?? MergeResponse.encode(response).finish().length,
          });
        },
      );
      if (signal.aborted) call.cancel();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.unsubscribe();
    for (const id of [...this.clients.keys()]) this.drop(id);
  }

  private drop(id: string): void {
    const known = this.clients.get(id);
    if (known === undefined) return;
    this.clients.delete(id);
    known.client.close();
  }
}

/** "UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:7950" -> a short reason for the node's outcome. */
function describeCallError(error: ServiceError | null): string {
  if (error === null) return 'empty answer';
  const details = error.details || error.message;
  return `${statusName(error.code)}: ${details}`;
}

const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? `status ${code}`;
}
