import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { SniffmeshError } from '../util/errors.js';
import { type EnvelopeDropReason, openDatagram, SENDER_ID_BYTES, sealDatagram } from './datagram-envelope.js';
import { formatHostPort, parseGossipAddress } from './gossip-address.js';
import type { GossipKeyring } from './gossip-keyring.js';
import { ReplayGuard } from './replay-guard.js';

/** Largest datagram accepted (a jumbo frame); anything larger is dropped unread as oversized. */
export const MAX_INBOUND_DATAGRAM_BYTES = 9216;

export type TransportDropReason = EnvelopeDropReason | 'oversized' | 'replayed' | 'stale' | 'malformed';

export interface TransportCounters {
  datagramsSent: number;
  bytesSent: number;
  sendErrors: number;
  datagramsReceived: number;
  bytesReceived: number;
  /** Datagrams dropped before reaching the protocol, by reason. */
  dropped: Record<TransportDropReason, number>;
}

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

export interface GossipTransportOptions {
  readonly bindHost: string;
  readonly bindPort: number;
  readonly keyring: GossipKeyring | undefined;
  readonly replayWindowMs: number;
  /** An authenticated, fresh payload arrived; `from` is the UDP source as a gossip address. */
  readonly onPayload: (payload: Buffer, from: string) => void;
}

/**
 * The gossip socket: binds exactly the address asked for (swim binds every interface), seals every
 * outbound payload in the authenticated envelope and opens, authenticates and replay-checks every
 * inbound datagram. Socket errors are counted, never thrown (in swim any socket error kills the process).
 */
export class GossipTransport {
  readonly counters: TransportCounters = {
    datagramsSent: 0,
    bytesSent: 0,
    sendErrors: 0,
    datagramsReceived: 0,
    bytesReceived: 0,
    dropped: {
      truncated: 0,
      'bad-version': 0,
      unauthenticated: 0,
      'unexpected-tag': 0,
      'unknown-key': 0,
      'bad-tag': 0,
      oversized: 0,
      replayed: 0,
      stale: 0,
      malformed: 0,
    },
  };
  private socket: Socket | undefined;
  private readonly senderId = randomBytes(SENDER_ID_BYTES);
  private sequence = 0;
  private readonly replayGuard: ReplayGuard;
  private boundPort = 0;

  constructor(private readonly options: GossipTransportOptions) {
    this.replayGuard = new ReplayGuard(options.replayWindowMs);
  }

  /** Binds the socket; resolves with the port actually bound (0 asks the OS for a free one). */
  start(): Promise<number> {
    const family = isIP(this.options.bindHost) === 6 ? 'udp6' : 'udp4';
    const socket = createSocket({ type: family, reuseAddr: false });
    this.socket = socket;
    const address = formatHostPort(this.options.bindHost, this.options.bindPort);
    return new Promise((resolve, reject) => {
      const onBindError = (error: NodeJS.ErrnoException) => {
        this.socket = undefined;
        socket.close();
        reject(new GossipBindError(address, error));
      };
      socket.once('error', onBindError);
      socket.bind(this.options.bindPort, this.options.bindHost, () => {
        socket.off('error', onBindError);
        // After binding, errors (e.g. ICMP unreachable reported on some systems) are counted only.
        socket.on('error', () => {
          this.counters.sendErrors++;
        });
        socket.on('message', (datagram, remote) => this.receive(datagram, remote));
        this.boundPort = socket.address().port;
        resolve(this.boundPort);
      });
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** Sends one payload to a canonical gossip address. Drops silently (counted) if closed or unparsable. */
  send(payload: Buffer, to: string): void {
    const socket = this.socket;
    const target = parseGossipAddress(to);
    if (socket === undefined || target === undefined) {
      this.counters.sendErrors++;
      return;
    }
    this.sequence = (this.sequence + 1) >>> 0;
    const datagram = sealDatagram(
      payload,
      { senderId: this.senderId, sequence: this.sequence, sentAtMs: Date.now() },
      this.options.keyring,
    );
    this.counters.datagramsSent++;
    this.counters.bytesSent += datagram.length;
    socket.send(datagram, target.port, target.host, (error) => {
      if (error) this.counters.sendErrors++;
    });
  }

  /** Counts a datagram the protocol layer found malformed after it passed the envelope. */
  countMalformed(): void {
    this.counters.dropped.malformed++;
  }

  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    }
  }

  private receive(datagram: Buffer, remote: RemoteInfo): void {
    this.counters.datagramsReceived++;
    this.counters.bytesReceived += datagram.length;
    if (datagram.length > MAX_INBOUND_DATAGRAM_BYTES) {
      this.counters.dropped.oversized++;
      return;
    }
    const opened = openDatagram(datagram, this.options.keyring);
    if (!opened.ok) {
      this.counters.dropped[opened.reason]++;
      return;
    }
    if (this.options.keyring !== undefined) {
      const verdict = this.replayGuard.check(opened.senderId, opened.sequence, opened.sentAtMs, Date.now());
      if (verdict !== 'fresh') {
        this.counters.dropped[verdict === 'duplicate' ? 'replayed' : 'stale']++;
        return;
      }
    }
    this.options.onPayload(opened.payload, formatHostPort(remote.address, remote.port));
  }
}
