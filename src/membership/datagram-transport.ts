import { SniffmeshError } from '../util/errors.js';
import type { HostPort } from './gossip-address.js';
import { MAX_INBOUND_DATAGRAM_BYTES } from './membership-config.js';

/**
 * How membership reaches the network: memberlist's `transport.go`, packet half only (gossip has no
 * streams). The SWIM adapter talks to one of these and to nothing else, so the same protocol code runs
 * over UDP (gossip-transport.ts, production) and over an in-memory network (in-memory-datagram-network.ts:
 * many members in one process, with loss, delay and partitions). Features wrap a transport as decorators:
 * authentication and replay protection (envelope-transport.ts) work over either.
 */
export interface DatagramTransport {
  /**
   * Opens the transport and delivers every datagram that arrives afterwards to `onDatagram`. Resolves
   * with the address actually bound (port 0 asks for any free port); rejects with a GossipBindError.
   */
  start(onDatagram: DatagramHandler): Promise<HostPort>;
  /**
   * Sends one datagram to a canonical gossip address (`1.2.3.4:7946`, `[::1]:7946`). Never throws:
   * a datagram that cannot be sent (closed transport, unparsable address, socket error) is counted.
   */
  send(datagram: Buffer, to: string): void;
  /** The address bound; undefined before start() resolved. */
  readonly localAddress: HostPort | undefined;
  /** Stops receiving and sending. Idempotent. */
  close(): void;
  readonly counters: DatagramCounters;
}

/** A datagram arrived; `from` is its source as a canonical gossip address. */
export type DatagramHandler = (datagram: Buffer, from: string) => void;

/** Builds the transport a member binds at `bind` (SwimMembershipOptions.transport). */
export type DatagramTransportFactory = (bind: HostPort) => DatagramTransport;

/** Why a transport drops an inbound datagram before its handler sees it. */
export type DatagramDropReason = 'oversized';

export interface DatagramCounters<DropReason extends string = DatagramDropReason> {
  datagramsSent: number;
  bytesSent: number;
  sendErrors: number;
  datagramsReceived: number;
  bytesReceived: number;
  /** Datagrams dropped before reaching the handler, by reason. */
  dropped: Record<DropReason, number>;
}

export function newDatagramCounters(): DatagramCounters {
  return {
    datagramsSent: 0,
    bytesSent: 0,
    sendErrors: 0,
    datagramsReceived: 0,
    bytesReceived: 0,
    dropped: { oversized: 0 },
  };
}

/**
 * Counts one inbound datagram; false when it is larger than MAX_INBOUND_DATAGRAM_BYTES (dropped unread
 * and counted as oversized). Every transport applies this same rule on receipt.
 */
export function admitInbound(counters: DatagramCounters, datagram: Buffer): boolean {
  counters.datagramsReceived++;
  counters.bytesReceived += datagram.length;
  if (datagram.length > MAX_INBOUND_DATAGRAM_BYTES) {
    counters.dropped.oversized++;
    return false;
  }
  return true;
}

/** Counts one datagram handed to the network. */
export function countOutbound(counters: DatagramCounters, datagram: Buffer): void {
  counters.datagramsSent++;
  counters.bytesSent += datagram.length;
}

/** A transport could not bind its address (code GOSSIP_BIND); `cause.code` says why (EADDRINUSE, ...). */
export class GossipBindError extends SniffmeshError {
  override name = 'GossipBindError';
  constructor(address: string, cause: NodeJS.ErrnoException) {
    const hint =
      cause.code === 'EADDRINUSE'
        ? ' (another process uses this port: pick another with --gossip)'
        : cause.code === 'EADDRNOTAVAIL'
          ? ' (no interface of this host has that address)'
          : '';
    super('GOSSIP_BIND', `cannot listen for gossip on ${address}: ${cause.code ?? cause.message}${hint}`, {
      cause,
    });
  }
}
