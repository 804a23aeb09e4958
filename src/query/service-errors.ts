import { status } from '@grpc/grpc-js';
import { SniffmeshError } from '../util/errors.js';
import { statusName } from './grpc-status.js';
import { boundText } from './input-quote.js';
import { MAX_ERROR_DETAILS_CHARS } from './query-config.js';

/**
 * Errors of the query service as data: each carries the gRPC status it becomes, so a failure keeps its
 * code from the node that raised it, across a peer's merge stream, up to the answer's `nodes[].code`.
 */

/** A request the service refuses; becomes gRPC INVALID_ARGUMENT with this message. */
export class InvalidRequestError extends SniffmeshError {
  override name = 'InvalidRequestError';
  readonly grpcCode = status.INVALID_ARGUMENT;
  constructor(message: string) {
    super('INVALID_ARGUMENT', message, { exitCode: 2 });
  }
}

/**
 * A window that ends further ahead of this node's clock than the skew tolerance
 * (QueryConfig.maxClockSkewMs): the clocks disagree by more than an answer can hide. FAILED_PRECONDITION.
 */
export class ClockSkewError extends SniffmeshError {
  override name = 'ClockSkewError';
  readonly grpcCode = status.FAILED_PRECONDITION;
  constructor(message: string) {
    super('CLOCK_SKEW', message);
  }
}

/**
 * A call beyond one of the node's concurrency limits (QueryConfig.maxConcurrent*, maxWatchStreams*):
 * refused at once with RESOURCE_EXHAUSTED, the message naming the limit and its value. Try again later.
 */
export class LimitExceededError extends SniffmeshError {
  override name = 'LimitExceededError';
  readonly grpcCode = status.RESOURCE_EXHAUSTED;
  constructor(
    /** The QueryConfig field of the limit, e.g. 'maxConcurrentQueriesPerClient'. */
    readonly limit: string,
    readonly value: number,
    message: string,
  ) {
    super('RESOURCE_EXHAUSTED', message);
  }
}

/** A peer's merge phase failed: the status the peer (or the connection to it) gave. */
export class PeerCallError extends SniffmeshError {
  override name = 'PeerCallError';
  constructor(
    readonly grpcCode: number,
    details: string,
  ) {
    super(`PEER_${statusName(grpcCode)}`, `${statusName(grpcCode)}: ${details}`);
  }
}

/**
 * The gRPC status for an error: what the caller did wrong, or what went wrong here. The details are cut to
 * MAX_ERROR_DETAILS_CHARS, so no message, whatever it quotes, can overflow the status trailer.
 */
export function grpcStatusOf(error: unknown): { code: status; details: string } {
  const { code, details } = unboundedStatusOf(error);
  return { code, details: boundText(details, MAX_ERROR_DETAILS_CHARS) };
}

function unboundedStatusOf(error: unknown): { code: status; details: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (
    error instanceof InvalidRequestError ||
    error instanceof ClockSkewError ||
    error instanceof LimitExceededError
  ) {
    return { code: error.grpcCode, details: message };
  }
  if (error instanceof PeerCallError) return { code: error.grpcCode, details: message };
  if (error instanceof SniffmeshError && error.code === 'USAGE') {
    return { code: status.INVALID_ARGUMENT, details: message };
  }
  return { code: status.INTERNAL, details: message };
}
