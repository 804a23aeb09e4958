import type { Server as NetServer, Socket } from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { formatHostPort, parseHostPort } from '../membership/gossip-address.js';
import { SniffmeshError } from '../util/errors.js';
import { authorizeCalls } from './call-authorization.js';
import { type SniffmeshServer, SniffmeshService } from './generated/sniffmesh.js';
import { DEFAULT_QUERY_CONFIG, type QueryConfig } from './query-config.js';
import { serverCredentials } from './tls-credentials.js';
import type { TlsMaterial } from './tls-identity.js';

/** A running gRPC server for the sniffmesh service. */
export interface RunningQueryServer {
  /** host:port actually bound (port 0 resolved). */
  readonly address: string;
  /** Stops accepting calls, cancels open streams after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves `handlers` on `bind` (host:port). A port in use or an address that is not this host's fails
 * with one clear error. With `tls`, every connection is mutual TLS (a client without a certificate from
 * the CA is refused at the handshake) and every call is authorized by its certificate's role
 * (call-authorization.ts); without it the server is plaintext, which the agent allows only on loopback
 * or with --insecure (secure-defaults.ts).
 */
export async function startQueryServer(
  bind: string,
  handlers: SniffmeshServer,
  config: Pick<QueryConfig, 'maxRequestBytes' | 'maxStreamsPerConnection'> = DEFAULT_QUERY_CONFIG,
  tls: TlsMaterial | null = null,
): Promise<RunningQueryServer> {
  const { host } = parseHostPort(bind, '--grpc', true);
  const server = new Server({
    // Watch streams and idle peers are fine; a client that stops reading is not kept for ever.
    'grpc.keepalive_time_ms': 30_000,
    // A larger request is refused with RESOURCE_EXHAUSTED before it is decoded (query-config.ts).
    'grpc.max_receive_message_length': config.maxRequestBytes,
    'grpc.max_concurrent_streams': config.maxStreamsPerConnection,
  });
  server.addService(SniffmeshService, authorizeCalls(handlers, tls !== null));
  const serverTls = tls === null ? ServerCredentials.createInsecure() : serverCredentials(tls);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bind, serverTls, (error, boundPort) => {
      if (error) {
        reject(
          new SniffmeshError(
            'GRPC_BIND',
            `--grpc ${bind}: cannot listen: ${error.message}` +
              (/in use/i.test(error.message)
                ? ' (another agent on this port? pick another with --grpc)'
                : /EADDRNOTAVAIL|not available/i.test(error.message)
                  ? ' (no interface of this host has that address)'
                  : ''),
          ),
        );
      } else resolve(boundPort);
    });
  });
  disableNagle(server);
  return {
    address: formatHostPort(host, port),
    close: (graceMs = 1000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/**
 * grpc-js sets TCP_NODELAY on client connections but not on the server's: a small answer then waits for
 * the client's delayed ACK (40 ms on Linux) whenever an earlier write is still unacknowledged, which is
 * every fan-out (measured: every peer answered a merge phase in ~30 ms instead of ~1 ms). grpc-js has no
 * option for it, so reach its (private, pinned by the exact version in package.json) map of HTTP/2
 * servers and switch Nagle off on every connection they accept.
 */
function disableNagle(server: Server): void {
  const servers = (server as unknown as { http2Servers?: Map<NetServer, unknown> }).http2Servers;
  if (!(servers instanceof Map)) {
    throw new Error(
      'grpc-js internals changed (no http2Servers map): revisit disableNagle in query-server.ts',
    );
  }
  for (const http2Server of servers.keys()) {
    http2Server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  }
}
