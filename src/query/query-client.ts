import {
  type ClientReadableStream,
  type ClientUnaryCall,
  credentials,
  status as GrpcStatus,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { formatHostPort, type HostPort, parseHostPort } from '../membership/gossip-address.js';
import {
  type MembershipUpdate,
  type MembersResponse,
  SniffmeshClient,
  type StatsResponse,
  type TopTalkersRequest,
  type TopTalkersResponse,
  type WatchTopRequest,
} from './generated/sniffmesh.js';
import { queryErrorFrom } from './query-error.js';
import { probeTcp } from './tcp-probe.js';
import { clientCredentials, tlsChannelOptions } from './tls-credentials.js';
import type { TlsMaterial } from './tls-identity.js';

/** Members and Stats answer from memory: an agent that takes longer is not going to answer. */
export const DEFAULT_CALL_DEADLINE_MS = 2000;
/** How long any call waits for the TCP connection before giving up (a refused port fails at once). */
export const CONNECT_TIMEOUT_MS = 2000;

type UnaryCallback<T> = (error: ServiceError | null, response: T) => void;

/**
 * The client side of the sniffmesh gRPC service for one agent (HOST:PORT). Every call fails fast when
 * nothing listens (a bounded TCP probe before the first call, waitForReady false, a deadline on every
 * unary call) and every failure is a QueryError whose message is one readable line naming the address.
 */
export class QueryClient {
  /** The agent's address as printed in messages: `127.0.0.1:7948`, `[::1]:7948`, `host.name:7948`. */
  readonly address: string;
  private readonly target: HostPort;
  private readonly client: SniffmeshClient;
  /** No TLS on this channel: an UNAVAILABLE from a port that accepts then likely means the agent wants TLS. */
  private readonly plaintext: boolean;
  /** The first call's reachability probe; later calls reuse its outcome. */
  private reachable: Promise<void> | null = null;

  /**
   * `what` names the flag the address came from, for the usage error when it is not HOST:PORT. With
   * `tls` the channel is mutual TLS and the agent must present a member certificate from the CA (any
   * member: the CLI asks "the agent at HOST:PORT", not a named one); without, plaintext (the CLI allows
   * that only to loopback or with --insecure).
   */
  constructor(address: string, what = '--node', tls: TlsMaterial | null = null) {
    this.target = parseHostPort(address, what);
    this.address = formatHostPort(this.target.host, this.target.port);
    this.plaintext = tls === null;
    this.client =
      tls === null
        ? new SniffmeshClient(this.address, credentials.createInsecure())
        : new SniffmeshClient(this.address, clientCredentials(tls, {}), tlsChannelOptions({}));
  }

  /** One cluster (or local) top-talkers question; `deadlineMs` bounds the whole call, fan-out included. */
  topTalkers(request: TopTalkersRequest, deadlineMs: number): Promise<TopTalkersResponse> {
    return this.unary(deadlineMs, (metadata, deadline, callback) =>
      this.client.topTalkers(request, metadata, { deadline }, callback),
    );
  }

  members(deadlineMs = DEFAULT_CALL_DEADLINE_MS): Promise<MembersResponse> {
    return this.unary(deadlineMs, (metadata, deadline, callback) =>
      this.client.members({}, metadata, { deadline }, callback),
    );
  }

  stats(deadlineMs = DEFAULT_CALL_DEADLINE_MS): Promise<StatsResponse> {
    return this.unary(deadlineMs, (metadata, deadline, callback) =>
      this.client.stats({}, metadata, { deadline }, callback),
    );
  }

  /**
   * Streams the top every `request.intervalSeconds` to `onUpdate` until `signal` aborts (resolves) or
   * the agent ends the stream (resolves) or fails (rejects with a QueryError).
   */
  watchTop(
    request: WatchTopRequest,
    onUpdate: (update: TopTalkersResponse) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return this.stream(() => this.client.watchTop(request, failFast()), onUpdate, signal);
  }

  /** Streams a membership snapshot, then every event, like watchTop. */
  watchMembers(onUpdate: (update: MembershipUpdate) => void, signal: AbortSignal): Promise<void> {
    return this.stream(() => this.client.watchMembers({}, failFast()), onUpdate, signal);
  }

  close(): void {
    this.client.close();
  }

  private async unary<T>(
    deadlineMs: number,
    call: (metadata: Metadata, deadline: Date, callback: UnaryCallback<T>) => ClientUnaryCall,
  ): Promise<T> {
    const deadline = new Date(Date.now() + deadlineMs);
    await this.ensureReachable(Math.min(deadlineMs, CONNECT_TIMEOUT_MS));
    return new Promise((resolve, reject) => {
      call(failFast(), deadline, (error, response) => {
        if (error !== null) reject(queryErrorFrom(this.address, error, deadlineMs, this.plaintext));
        else resolve(response);
      });
    });
  }

  private async stream<T>(
    open: () => ClientReadableStream<T>,
    onUpdate: (update: T) => void,
    signal: AbortSignal,
  ): Promise<void> {
    // A stream has no deadline (it runs until Ctrl-C): the probe is what bounds a connect that hangs.
    await this.ensureReachable(CONNECT_TIMEOUT_MS);
    if (signal.aborted) return;
    const call = open();
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', cancel);
        if (error === undefined) resolve();
        else reject(error);
      };
      const cancel = () => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
      call.on('data', (update: T) => {
        if (settled) return;
        try {
          onUpdate(update);
        } catch (error) {
          call.cancel();
          settle(error);
        }
      });
      call.on('error', (error: ServiceError) => {
        // Our own cancel (Ctrl-C) is the normal end of a watch, not a failure.
        if (error.code === GrpcStatus.CANCELLED && signal.aborted) settle();
        else settle(queryErrorFrom(this.address, error, undefined, this.plaintext));
      });
      call.on('end', () => settle());
    });
  }

  /** Rejects with the UNAVAILABLE or DEADLINE_EXCEEDED line when the agent's port does not accept. */
  private ensureReachable(timeoutMs: number): Promise<void> {
    this.reachable ??= probeTcp(this.target.host, this.target.port, timeoutMs).then((result) => {
      if (result === 'refused') {
        throw queryErrorFrom(this.address, { code: GrpcStatus.UNAVAILABLE, details: 'connection refused' });
      }
      if (result === 'timeout') {
        throw queryErrorFrom(
          this.address,
          { code: GrpcStatus.DEADLINE_EXCEEDED, details: 'TCP connect timed out' },
          timeoutMs,
        );
      }
    });
    return this.reachable;
  }
}

/** Metadata that makes a call fail with UNAVAILABLE instead of queueing while the agent is unreachable. */
function failFast(): Metadata {
  return new Metadata({ waitForReady: false });
}
