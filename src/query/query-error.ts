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
export function queryErrorFrom(
  address: string,
  failure: GrpcFailure,
  deadlineMs?: number,
  plaintextToOpenPort = false,
): QueryError {
  const details = oneLine(failure.details);
  switch (failure.code) {
    case GrpcStatus.UNAVAILABLE:
      if (TLS_FAILURE.test(details)) {
        return new QueryError(address, failure, `TLS with ${address} failed: ${clip(details)}`);
      }
      if (plaintextToOpenPort) {
        return new QueryError(
          address,
          failure,
          `${address} accepts connections but does not speak plaintext gRPC: an agent with TLS? ` +
            'give --tls-ca/--tls-cert/--tls-key (a client certificate: sniffmesh certs issue DIR NAME --client)',
        );
      }
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

/** What grpc-js's UNAVAILABLE details say when the connection died in or of the TLS handshake. */
const TLS_FAILURE =
  /certificate|ssl|tls|handshake|wrong version number|packet length too long|server certificate/i;

/** The first 300 characters of a library message (they can quote whole certificates). */
function clip(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

/** Server messages may span lines; the CLI prints errors as exactly one. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').trim();
}
