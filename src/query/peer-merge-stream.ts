import { type ClientDuplexStream, type ServiceError, status } from '@grpc/grpc-js';
import type { MergeAnswer } from './cluster-top.js';
import type { MergeRequest, MergeResponse, SniffmeshClient } from './generated/sniffmesh.js';
import { PeerCallError } from './service-errors.js';

interface Pending {
  resolve: (answer: MergeAnswer) => void;
  reject: (error: Error) => void;
  done: () => void;
}

/**
 * One long-lived MergeStream to one peer, carrying every merge phase of every query as a message tagged
 * with a request id. A unary call per peer and phase costs an HTTP/2 stream with headers and trailers
 * (~1 ms of CPU on each side with grpc-js); a message on an open stream costs a tenth of that, which is
 * what lets a 32-node fan-out finish in milliseconds on a small machine.
 *
 * A request whose caller gave up (deadline) is forgotten; its late answer is dropped. When the stream
 * breaks (peer gone, connection reset), every request in flight fails with the reason, and the next
 * request opens a new stream.
 */
export class PeerMergeStream {
  private stream: ClientDuplexStream<MergeRequest, MergeResponse> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly client: SniffmeshClient,
    /** Encoded size of an answer, recorded by the client's decoder (0 when unknown). */
    private readonly sizeOf: (response: MergeResponse) => number,
  ) {}

  ask(request: MergeRequest, signal: AbortSignal): Promise<MergeAnswer> {
    if (signal.aborted)
      return Promise.reject(new PeerCallError(status.DEADLINE_EXCEEDED, 'cancelled at the deadline'));
    const stream = this.open();
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(id);
        reject(new PeerCallError(status.DEADLINE_EXCEEDED, 'cancelled at the deadline'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, reject, done: () => signal.removeEventListener('abort', onAbort) });
      stream.write({ ...request, requestId: id });
    });
  }

  /** Fails what is in flight and closes the stream. */
  close(): void {
    const stream = this.stream;
    this.stream = null;
    this.failAll(new PeerCallError(status.CANCELLED, 'connection to the peer closed'));
    stream?.cancel();
  }

  private open(): ClientDuplexStream<MergeRequest, MergeResponse> {
    if (this.stream !== null) return this.stream;
    const stream = this.client.mergeStream();
    stream.on('data', (response: MergeResponse) => {
      const waiter = this.pending.get(response.requestId);
      if (waiter === undefined) return;
      this.pending.delete(response.requestId);
      waiter.done();
      if (response.error !== '') {
        waiter.reject(new PeerCallError(response.errorCode, response.error));
      } else {
        waiter.resolve({ response, bytes: this.sizeOf(response) });
      }
    });
    const broken = (error: Error) => {
      if (this.stream === stream) this.stream = null;
      this.failAll(error);
    };
    stream.on('error', (error: ServiceError) =>
      broken(new PeerCallError(error.code, error.details || error.message)),
    );
    stream.on('end', () => broken(new PeerCallError(status.UNAVAILABLE, 'the peer ended the merge stream')));
    this.stream = stream;
    return stream;
  }

  private failAll(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const waiter of waiting) {
      waiter.done();
      waiter.reject(error);
    }
  }
}
