import {
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';

/**
 * A gRPC client for the sniffmesh service that sends request bodies as given (identity serializers): any
 * bytes, valid protobuf or not, reach the real server exactly as a hostile client would send them.
 */

export type MethodName =
  | 'TopTalkers'
  | 'WatchTop'
  | 'Members'
  | 'WatchMembers'
  | 'Stats'
  | 'Merge'
  | 'MergeStream';

const SHAPES: Record<MethodName, { requestStream: boolean; responseStream: boolean }> = {
  TopTalkers: { requestStream: false, responseStream: false },
  WatchTop: { requestStream: false, responseStream: true },
  Members: { requestStream: false, responseStream: false },
  WatchMembers: { requestStream: false, responseStream: true },
  Stats: { requestStream: false, responseStream: false },
  Merge: { requestStream: false, responseStream: false },
  MergeStream: { requestStream: true, responseStream: true },
};

export const METHOD_NAMES = Object.keys(SHAPES) as MethodName[];

const identity = (bytes: Buffer): Buffer => bytes;

const RawSniffmeshClient = makeGenericClientConstructor(
  Object.fromEntries(
    METHOD_NAMES.map((name) => [
      name,
      {
        path: `/sniffmesh.v1.Sniffmesh/${name}`,
        ...SHAPES[name],
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    ]),
  ),
  'Sniffmesh',
);

/** How one raw call ended. */
export interface RawOutcome {
  /** The status; a stream that sent a message was cancelled by us after it and counts as OK. */
  readonly code: status;
  readonly details: string;
  /** Response bodies received (at most the first, for streams). */
  readonly messages: Buffer[];
  readonly elapsedMs: number;
}

export class RawGrpcClient {
  private readonly client: Client & Record<string, (...args: unknown[]) => unknown>;

  constructor(readonly address: string) {
    this.client = new RawSniffmeshClient(address, credentials.createInsecure(), {
      // Answers of a real node to a fuzzed request are small; a bound still keeps the test honest.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    }) as never;
  }

  /**
   * Calls `method` with `body` and resolves when its status arrives (or, for a streaming answer, its first
   * message: the stream is then cancelled). Every call has a deadline: a hang shows as DEADLINE_EXCEEDED.
   */
  call(method: MethodName, body: Buffer, deadlineMs: number): Promise<RawOutcome> {
    const started = performance.now();
    const options = { deadline: Date.now() + deadlineMs };
    const shape = SHAPES[method];
    return new Promise((resolve) => {
      const messages: Buffer[] = [];
      let done = false;
      const finish = (code: status, details: string) => {
        if (done) return;
        done = true;
        resolve({ code, details, messages, elapsedMs: performance.now() - started });
      };
      if (!shape.responseStream) {
        (
          this.client[method] as (
            body: Buffer,
            metadata: Metadata,
            options: object,
            callback: (error: ServiceError | null, response?: Buffer) => void,
          ) => void
        )(body, new Metadata(), options, (error, response) => {
          if (response !== undefined) messages.push(response);
          finish(error?.code ?? status.OK, error?.details ?? '');
        });
        return;
      }
      const stream = shape.requestStream
        ? (this.client[method] as (m: Metadata, o: object) => ClientDuplexStream<Buffer, Buffer>)(
            new Metadata(),
            options,
          )
        : (this.client[method] as (b: Buffer, m: Metadata, o: object) => ClientReadableStream<Buffer>)(
            body,
            new Metadata(),
            options,
          );
      stream.on('data', (message: Buffer) => {
        if (messages.length === 0) messages.push(message);
        finish(status.OK, '');
        stream.cancel();
      });
      stream.on('error', (error: ServiceError) => finish(error.code, error.details));
      stream.on('status', (s: { code: status; details: string }) => finish(s.code, s.details));
      if (shape.requestStream) (stream as ClientDuplexStream<Buffer, Buffer>).write(body);
    });
  }

  close(): void {
    this.client.close();
  }
}
