import { isIP } from 'node:net';
import {
  admitInbound,
  countOutbound,
  type DatagramHandler,
  type DatagramTransport,
  type DatagramTransportFactory,
  GossipBindError,
  newDatagramCounters,
} from './datagram-transport.js';
import { formatHostPort, type HostPort, parseGossipAddress } from './gossip-address.js';

/** Datagrams in flight to, or waiting at, one endpoint at most (a socket's receive buffer). */
export const DEFAULT_ENDPOINT_QUEUE_DATAGRAMS = 4096;
/** Port 0 binds the first free port from here up (Linux's ephemeral range). */
const FIRST_EPHEMERAL_PORT = 32768;
const LAST_PORT = 65535;

/** What happens to datagrams on a link. A link's own conditions replace the network's, field by field. */
export interface LinkConditions {
  /** Probability in [0, 1] that a datagram is lost. */
  readonly lossProbability?: number;
  /** One-way delay, ms. 0 = delivered on the next turn of the event loop. */
  readonly delayMs?: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per datagram (so datagrams may be reordered). */
  readonly jitterMs?: number;
}

export interface InMemoryDatagramNetworkOptions extends LinkConditions {
  /** Seed of the generator that draws losses and jitter, so a run's drops are reproducible (given the
   * same sequence of sends). */
  readonly seed?: number;
  /** Datagrams in flight to or queued at one endpoint at most; more are dropped (queueOverflow). */
  readonly queueLimit?: number;
  /** The path's largest datagram (an MTU): larger ones are dropped in transit (oversized). Default: no
   * limit on the path; receivers still drop what exceeds MAX_INBOUND_DATAGRAM_BYTES, as over UDP. */
  readonly maxDatagramBytes?: number;
}

/** What the network did with the datagrams handed to it. Receivers count their own (oversized...). */
export interface NetworkCounters {
  sent: number;
  delivered: number;
  /** Dropped by the loss probability. */
  lost: number;
  /** Dropped because sender and receiver are in different partition groups or their link is cut. */
  partitioned: number;
  /** Dropped because the receiver's queue was full. */
  queueOverflow: number;
  /** Dropped in transit for exceeding maxDatagramBytes. */
  oversized: number;
  /** Addressed to (or arriving at) an address nobody is bound to. */
  unreachable: number;
}

interface Link {
  conditions: LinkConditions;
  cut: boolean;
}

/**
 * Many datagram endpoints in one process (memberlist's MockNetwork), for tests and simulation: each
 * SwimMembership gets an endpoint through `network.transport`, and the protocol runs exactly as over
 * UDP, only the socket is replaced. Datagrams are copied, delivered asynchronously (never inside send),
 * lost with a seeded probability, delayed, and stopped by partitions or cut links. Endpoints receive
 * through the same admission rule as the UDP socket (oversized datagrams dropped and counted).
 */
export class InMemoryDatagramNetwork {
  readonly counters: NetworkCounters = {
    sent: 0,
    delivered: 0,
    lost: 0,
    partitioned: 0,
    queueOverflow: 0,
    oversized: 0,
    unreachable: 0,
  };
  /** A transport factory for SwimMembershipOptions.transport. */
  readonly transport: DatagramTransportFactory = (bind) => new InMemoryEndpoint(this, bind);
  private readonly endpoints = new Map<string, InMemoryEndpoint>();
  private readonly links = new Map<string, Link>();
  /** address -> partition group; addresses absent from the map are in group -1 together. */
  private readonly groups = new Map<string, number>();
  private conditions: Required<LinkConditions>;
  private readonly queueLimit: number;
  private readonly maxDatagramBytes: number;
  private readonly random: () => number;
  private immediate: Array<() => void> = [];
  private immediateScheduled = false;

  constructor(options: InMemoryDatagramNetworkOptions = {}) {
    this.conditions = { lossProbability: 0, delayMs: 0, jitterMs: 0 };
    this.setConditions(options);
    this.queueLimit = options.queueLimit ?? DEFAULT_ENDPOINT_QUEUE_DATAGRAMS;
    this.maxDatagramBytes = options.maxDatagramBytes ?? Number.POSITIVE_INFINITY;
    this.random = mulberry32(options.seed ?? 1);
  }

  /** Changes the conditions of every link that has none of its own (fields not given keep their value). */
  setConditions(conditions: LinkConditions): void {
    this.conditions = { ...this.conditions, ...definedConditions(conditions) };
  }

  /** Gives the link from -> to (and to -> from unless `oneWay`) its own conditions. */
  setLink(from: string, to: string, conditions: LinkConditions, oneWay = false): void {
    for (const [a, b] of oneWay
      ? [[from, to]]
      : [
          [from, to],
          [to, from],
        ]) {
      const link = this.link(a as string, b as string);
      link.conditions = { ...link.conditions, ...definedConditions(conditions) };
    }
  }

  /** Cuts the link between two addresses (one direction only with `oneWay`): nothing gets through. */
  cut(from: string, to: string, oneWay = false): void {
    for (const [a, b] of oneWay
      ? [[from, to]]
      : [
          [from, to],
          [to, from],
        ]) {
      this.link(a as string, b as string).cut = true;
    }
  }

  /** Restores a cut link (both directions unless `oneWay`). */
  restore(from: string, to: string, oneWay = false): void {
    for (const [a, b] of oneWay
      ? [[from, to]]
      : [
          [from, to],
          [to, from],
        ]) {
      const link = this.links.get(linkKey(a as string, b as string));
      if (link !== undefined) link.cut = false;
    }
  }

  /**
   * Splits the network into groups that reach only their own members; every address in no group forms
   * one more group. Replaces any earlier partition; cut links stay cut.
   */
  partition(groups: ReadonlyArray<readonly string[]>): void {
    this.groups.clear();
    groups.forEach((group, index) => {
      for (const address of group) this.groups.set(address, index);
    });
  }

  /** Removes the partition and restores every cut link; loss and delay stay as configured. */
  heal(): void {
    this.groups.clear();
    for (const link of this.links.values()) link.cut = false;
  }

  /** The addresses bound right now. */
  addresses(): string[] {
    return [...this.endpoints.keys()];
  }

  /** @internal */
  bind(endpoint: InMemoryEndpoint, requested: HostPort): HostPort {
    const family = isIP(requested.host);
    if (family === 0 || requested.host === '0.0.0.0' || requested.host === '::') {
      throw new GossipBindError(
        formatHostPort(requested.host, requested.port),
        errno('EADDRNOTAVAIL', 'the in-memory network binds IP literals only, no wildcard'),
      );
    }
    let port = requested.port;
    if (port === 0) {
      port = FIRST_EPHEMERAL_PORT;
      while (port <= LAST_PORT && this.endpoints.has(formatHostPort(requested.host, port))) port++;
    }
    const address = formatHostPort(requested.host, port);
    if (this.endpoints.has(address) || port > LAST_PORT) {
      throw new GossipBindError(address, errno('EADDRINUSE', 'address in use'));
    }
    this.endpoints.set(address, endpoint);
    return { host: requested.host, port };
  }

  /** @internal */
  unbind(address: string, endpoint: InMemoryEndpoint): void {
    if (this.endpoints.get(address) === endpoint) this.endpoints.delete(address);
  }

  /** @internal Decides the datagram's fate now; delivery itself is always asynchronous. */
  transmit(from: string, to: string, datagram: Buffer): void {
    this.counters.sent++;
    if (datagram.length > this.maxDatagramBytes) {
      this.counters.oversized++;
      return;
    }
    const link = this.links.get(linkKey(from, to));
    if (link?.cut === true || (this.groups.get(from) ?? -1) !== (this.groups.get(to) ?? -1)) {
      this.counters.partitioned++;
      return;
    }
    const conditions = link === undefined ? this.conditions : { ...this.conditions, ...link.conditions };
    if (conditions.lossProbability > 0 && this.random() < conditions.lossProbability) {
      this.counters.lost++;
      return;
    }
    const receiver = this.endpoints.get(to);
    if (receiver === undefined) {
      this.counters.unreachable++;
      return;
    }
    if (receiver.queued >= this.queueLimit) {
      this.counters.queueOverflow++;
      return;
    }
    receiver.queued++;
    // A copy, as a socket makes: the sender may reuse its buffer.
    const copy = Buffer.from(datagram);
    const deliver = () => {
      receiver.queued--;
      // Whoever is bound at arrival gets it (a restarted member on the same address, as with UDP).
      const current = this.endpoints.get(to);
      if (current === undefined) {
        this.counters.unreachable++;
        return;
      }
      this.counters.delivered++;
      current.receive(copy, from);
    };
    const delayMs = conditions.delayMs + (conditions.jitterMs > 0 ? this.random() * conditions.jitterMs : 0);
    if (delayMs > 0) setTimeout(deliver, delayMs).unref();
    else this.deliverSoon(deliver);
  }

  /** One setImmediate per batch instead of one per datagram (hundreds of members send thousands). */
  private deliverSoon(deliver: () => void): void {
    this.immediate.push(deliver);
    if (this.immediateScheduled) return;
    this.immediateScheduled = true;
    setImmediate(() => {
      const batch = this.immediate;
      this.immediate = [];
      this.immediateScheduled = false;
      for (const each of batch) each();
    });
  }

  private link(from: string, to: string): Link {
    const key = linkKey(from, to);
    let link = this.links.get(key);
    if (link === undefined) {
      link = { conditions: {}, cut: false };
      this.links.set(key, link);
    }
    return link;
  }
}

/** One address on an InMemoryDatagramNetwork: a DatagramTransport, as a UDP socket is. */
export class InMemoryEndpoint implements DatagramTransport {
  readonly counters = newDatagramCounters();
  /** @internal Datagrams in flight to this endpoint (bounded by the network's queueLimit). */
  queued = 0;
  private bound: HostPort | undefined;
  private address = '';
  private handler: DatagramHandler | undefined;

  constructor(
    private readonly network: InMemoryDatagramNetwork,
    private readonly requested: HostPort,
  ) {}

  async start(onDatagram: DatagramHandler): Promise<HostPort> {
    this.bound = this.network.bind(this, this.requested);
    this.address = formatHostPort(this.bound.host, this.bound.port);
    this.handler = onDatagram;
    return this.bound;
  }

  get localAddress(): HostPort | undefined {
    return this.bound;
  }

  send(datagram: Buffer, to: string): void {
    if (this.handler === undefined || parseGossipAddress(to) === undefined) {
      this.counters.sendErrors++;
      return;
    }
    countOutbound(this.counters, datagram);
    this.network.transmit(this.address, to, datagram);
  }

  close(): void {
    if (this.handler === undefined) return;
    this.handler = undefined;
    this.network.unbind(this.address, this);
  }

  /** @internal */
  receive(datagram: Buffer, from: string): void {
    const handler = this.handler;
    if (handler !== undefined && admitInbound(this.counters, datagram)) handler(datagram, from);
  }
}

function linkKey(from: string, to: string): string {
  return `${from}>${to}`;
}

function definedConditions(conditions: LinkConditions): LinkConditions {
  const result: { -readonly [K in keyof LinkConditions]: LinkConditions[K] } = {};
  if (conditions.lossProbability !== undefined) {
    if (!(conditions.lossProbability >= 0 && conditions.lossProbability <= 1)) {
      throw new RangeError(`loss probability ${conditions.lossProbability} is not in [0, 1]`);
    }
    result.lossProbability = conditions.lossProbability;
  }
  if (conditions.delayMs !== undefined) result.delayMs = Math.max(0, conditions.delayMs);
  if (conditions.jitterMs !== undefined) result.jitterMs = Math.max(0, conditions.jitterMs);
  return result;
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** mulberry32: a small, fast, seedable generator of uniform numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
