import { status as GrpcStatus } from '@grpc/grpc-js';
import { SniffmeshError } from '../util/errors.js';

/** A gRPC status as the wire delivers it: a code and the server's (or the library's) details. */
export interface GrpcFailure {
  code: number;
  details: string;
}

/**
 * A query to one agent that failed: the agent's address, the gRPC status code and the server's own words
 * stay on the error for scripts; `message` is the one line the CLI prints.
 */
export class QueryError extends SniffmeshError {
  override name = 'QueryError';
  /** HOST:PORT of the agent asked. */
  readonly address: string;
  /** The gRPC status code (grpc-js `status`). */
  readonly grpcCode: number;
  readonly details: string;

  constructor(address: string, failure: GrpcFailure, message: string) {
    super(`QUERY_${GrpcStatus[failure.code] ?? 'UNKNOWN'}`, message);
    this.address = address;
    this.grpcCode = failure.code;
    this.details = failure.details;
  }
}

/**
 * Turns a gRPC failure into the one line a user can act on. `deadlineMs` is the deadline the call had,
 * so a timeout says how long we waited.
 */
export function queryErrorFrom(address: string, failure: GrpcFailure, deadlineMs?: number): QueryError {
  const details = oneLine(failure.details);
  switch (failure.code) {
    case GrpcStatus.UNAVAILABLE:
      return new QueryError(
        address,
        failure,
        `no sniffmesh agent answers at ${address} (start one with: sniffmesh agent --grpc ${address})`,
      );
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new QueryError(
        address,
        failure,
        deadlineMs === undefined
          ? `${address} did not answer in time`
          : `${address} did not answer within ${deadlineMs} ms`,
      );
    case GrpcStatus.INVALID_ARGUMENT:
      return new QueryError(address, failure, `${address} rejected the request: ${details}`);
    default: {
      const name = GrpcStatus[failure.code] ?? `status ${failure.code}`;
      return new QueryError(address, failure, `${address}: ${name}: ${details || '(no details)'}`);
    }
  }
}

/** Server messages may span lines; the CLI prints errors as exactly one. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').trim();
}
