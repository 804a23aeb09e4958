import { randomBytes } from 'node:crypto';
import { type EnvelopeDropReason, openDatagram, SENDER_ID_BYTES, sealDatagram } from './datagram-envelope.js';
import type {
  DatagramCounters,
  DatagramDropReason,
  DatagramHandler,
  DatagramTransport,
} from './datagram-transport.js';
import type { HostPort } from './gossip-address.js';
import type { GossipKeyring } from './gossip-keyring.js';
import { ReplayGuard } from './replay-guard.js';

/** Every reason a gossip datagram is dropped before the protocol acts on it. */
export type TransportDropReason =
  | DatagramDropReason
  | EnvelopeDropReason
  | 'replayed'
  | 'stale'
  | 'malformed';

export type TransportCounters = DatagramCounters<TransportDropReason>;

export interface EnvelopeTransportOptions {
  /** Authenticate every datagram (HMAC-SHA256); without it datagrams are framed but anyone may send. */
  readonly keyring: GossipKeyring | undefined;
  /** Authenticated datagrams older than this by the sender's clock are dropped (MembershipConfig). */
  readonly replayWindowMs: number;
}

/**
 * A decorator over any datagram transport (memberlist wraps its transport for labels and encryption the
 * same way): seals every outbound payload in the envelope (datagram-envelope.ts) and opens every inbound
 * datagram, dropping and counting what is unauthenticated, forged (wrong key or tag) or, in keyed
 * clusters, replayed or stale. The handler sees only the payload of datagrams that passed.
 */
export class EnvelopeTransport implements DatagramTransport {
  private readonly droppedHere: Record<Exclude<TransportDropReason, DatagramDropReason>, number> = {
    truncated: 0,
    'bad-version': 0,
    unauthenticated: 0,
    'unexpected-tag': 0,
    'unknown-key': 0,
    'bad-tag': 0,
    replayed: 0,
    stale: 0,
    malformed: 0,
  };
  private readonly senderId = randomBytes(SENDER_ID_BYTES);
  private sequence = 0;
  private readonly replayGuard: ReplayGuard;

  constructor(
    private readonly inner: DatagramTransport,
    private readonly options: EnvelopeTransportOptions,
  ) {
    this.replayGuard = new ReplayGuard(options.replayWindowMs);
  }

  start(onPayload: DatagramHandler): Promise<HostPort> {
    return this.inner.start((datagram, from) => this.receive(datagram, from, onPayload));
  }

  get localAddress(): HostPort | undefined {
    return this.inner.localAddress;
  }

  /** The inner transport's counters (sealed datagrams, so envelope bytes included) and every drop. */
  get counters(): TransportCounters {
    const inner = this.inner.counters;
    return { ...inner, dropped: { ...inner.dropped, ...this.droppedHere } };
  }

  send(payload: Buffer, to: string): void {
    this.sequence = (this.sequence + 1) >>> 0;
    const datagram = sealDatagram(
      payload,
      { senderId: this.senderId, sequence: this.sequence, sentAtMs: Date.now() },
      this.options.keyring,
    );
    this.inner.send(datagram, to);
  }

  /** Counts a datagram the protocol layer found malformed after it passed the envelope. */
  countMalformed(): void {
    this.droppedHere.malformed++;
  }

  close(): void {
    this.inner.close();
  }

  private receive(datagram: Buffer, from: string, onPayload: DatagramHandler): void {
    const opened = openDatagram(datagram, this.options.keyring);
    if (!opened.ok) {
      this.droppedHere[opened.reason]++;
      return;
    }
    if (this.options.keyring !== undefined) {
      const verdict = this.replayGuard.check(opened.senderId, opened.sequence, opened.sentAtMs, Date.now());
      if (verdict !== 'fresh') {
        this.droppedHere[verdict === 'duplicate' ? 'replayed' : 'stale']++;
        return;
      }
    }
    onPayload(opened.payload, from);
  }
}
