import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on loopback that connects on to `target` from `sourceAddress` (any 127.x.y.z is this host's
 * on Linux): a client connecting through it looks to the server like another host, so per-client limits
 * can be tested without leaving loopback. Bytes are passed through unchanged.
 */
export class SourceAddressRelay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  address = '';

  constructor(
    private readonly target: { host: string; port: number },
    private readonly sourceAddress: string,
  ) {}

  async start(): Promise<string> {
    const server = createServer((incoming) => {
      const outgoing = connect({ ...this.target, localAddress: this.sourceAddress });
      for (const socket of [incoming, outgoing]) {
        // As grpc-js does on its own sockets: a small message must not wait for a delayed ACK.
        socket.setNoDelay(true);
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          incoming.destroy();
          outgoing.destroy();
        });
      }
      incoming.pipe(outgoing);
      outgoing.pipe(incoming);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('relay has no port');
    this.address = `127.0.0.1:${address.port}`;
    return this.address;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
