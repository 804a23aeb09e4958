import {
  type ChannelCredentials,
  type ClientOptions,
  credentials,
  makeGenericClientConstructor,
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
import { PeerMergeStream } from './peer-merge-stream.js';
import { clientCredentials, tlsChannelOptions } from './tls-credentials.js';
import type { TlsMaterial } from './tls-identity.js';

/** Encoded size of each Merge answer received, recorded when it is decoded (no second encode to count it). */
const receivedBytes = new WeakMap<MergeResponse, number>();

function decodeMeasured(buffer: Buffer): MergeResponse {
  const response = MergeResponse.decode(buffer);
  receivedBytes.set(response, buffer.length);
  return response;
}

/** The generated client, with a Merge decoder that also records the answer's size on the wire. */
const MeasuringClient = makeGenericClientConstructor(
  {
    ...SniffmeshService,
    merge: { ...SniffmeshService.merge, responseDeserialize: decodeMeasured },
    mergeStream: { ...SniffmeshService.mergeStream, responseDeserialize: decodeMeasured },
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
 *
 * With `tls`, each channel is mutual TLS pinned to the member it was opened for: the server must present
 * a member certificate naming that member, so a gossip record pointing a member's gRPC address at some
 * other server (forged, or stale after a move) fails that peer's handshake instead of feeding the merge.
 */
export class PeerPool {
  private readonly clients = new Map<
    string,
    { address: string; client: SniffmeshClient; stream: PeerMergeStream }
  >();
  private readonly unsubscribe: () => void;

  constructor(
    membership: Membership,
    private readonly options: { keepaliveMs: number; tls?: TlsMaterial | null },
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
    const tls = this.options.tls ?? null;
    const channelCredentials =
      tls === null ? credentials.createInsecure() : clientCredentials(tls, { memberName: member.name });
    const client = new MeasuringClient(member.grpc, channelCredentials, {
      ...(tls === null ? {} : tlsChannelOptions({ memberName: member.name })),
      'grpc.keepalive_time_ms': this.options.keepaliveMs,
      'grpc.keepalive_timeout_ms': this.options.keepaliveMs,
      // Fail fast when a peer is down: the fan-out reports it rather than waiting for a reconnect.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
    const stream = new PeerMergeStream(
      client,
      (response) => receivedBytes.get(response) ?? MergeResponse.encode(response).finish().length,
    );
    this.clients.set(member.id, { address: member.grpc, client, stream });
    return client;
  }

  /** Closes clients of members no longer in `keep` (ids): records reaped or replaced by a restart. */
  retainOnly(keep: ReadonlySet<string>): void {
    for (const id of [...this.clients.keys()]) if (!keep.has(id)) this.drop(id);
  }

  /**
   * Asks a peer one merge phase over its long-lived merge stream (peer-merge-stream.ts); the request is
   * abandoned when `signal` aborts (deadline passed).
   */
  merge(member: MemberInfo, request: MergeRequest, signal: AbortSignal): Promise<MergeAnswer> {
    this.clientFor(member);
    const entry = this.clients.get(member.id)!;
    return entry.stream.ask(request, signal);
  }

  close(): void {
    this.unsubscribe();
    for (const id of [...this.clients.keys()]) this.drop(id);
  }

  private drop(id: string): void {
    const known = this.clients.get(id);
    if (known === undefined) return;
    this.clients.delete(id);
    known.stream.close();
    known.client.close();
  }
}
