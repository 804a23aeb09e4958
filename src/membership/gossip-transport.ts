import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
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

/**
 * The gossip socket, membership's production transport: binds exactly the address asked for (swim binds
 * every interface) and counts socket errors instead of throwing them (in swim any socket error kills the
 * process). Authentication and replay protection wrap it (envelope-transport.ts).
 */
export class UdpGossipTransport implements DatagramTransport {
  readonly counters = newDatagramCounters();
  private socket: Socket | undefined;
  private bound: HostPort | undefined;

  constructor(private readonly bind: HostPort) {}

  start(onDatagram: DatagramHandler): Promise<HostPort> {
    const { host, port } = this.bind;
    const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', reuseAddr: false });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      const onBindError = (error: NodeJS.ErrnoException) => {
        this.socket = undefined;
        socket.close();
        reject(new GossipBindError(formatHostPort(host, port), error));
      };
      socket.once('error', onBindError);
      socket.bind(port, host, () => {
        socket.off('error', onBindError);
        // After binding, errors (e.g. ICMP unreachable reported on some systems) are counted only.
        socket.on('error', () => {
          this.counters.sendErrors++;
        });
        socket.on('message', (datagram, remote) => this.receive(datagram, remote, onDatagram));
        this.bound = { host, port: socket.address().port };
        resolve(this.bound);
      });
    });
  }

  get localAddress(): HostPort | undefined {
    return this.bound;
  }

  send(datagram: Buffer, to: string): void {
    const socket = this.socket;
    const target = parseGossipAddress(to);
    if (socket === undefined || target === undefined) {
      this.counters.sendErrors++;
      return;
    }
    countOutbound(this.counters, datagram);
    socket.send(datagram, target.port, target.host, (error) => {
      if (error) this.counters.sendErrors++;
    });
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

  private receive(datagram: Buffer, remote: RemoteInfo, onDatagram: DatagramHandler): void {
    if (admitInbound(this.counters, datagram))
      onDatagram(datagram, formatHostPort(remote.address, remote.port));
  }
}

/** The production default: a UDP socket bound to exactly the address asked for. */
export const udpGossipTransport: DatagramTransportFactory = (bind) => new UdpGossipTransport(bind);
