import { SniffmeshError } from '../util/errors.js';
import { isLoopbackHost } from '../util/ip-address.js';

/**
 * Secure by default: what reaches the network is authenticated unless the operator says otherwise.
 * A listener or a client connection on a non-loopback address needs its credential (TLS for gRPC, a
 * key for gossip); `--insecure` is the one explicit way out (a lab, a network already encrypted and
 * closed by other means). Loopback-only meshes (the demo, the tests) need neither: nothing off this
 * machine can reach them.
 */
export class InsecureRefusedError extends SniffmeshError {
  override name = 'InsecureRefusedError';
  constructor(message: string) {
    super('INSECURE_REFUSED', message, { exitCode: 2 });
  }
}

/** The agent's gRPC listener: TLS, loopback, or --insecure. */
export function checkGrpcListener(bindHost: string, tls: boolean, insecure: boolean): void {
  if (tls || insecure || isLoopbackHost(bindHost)) return;
  throw new InsecureRefusedError(
    `refusing plaintext gRPC on ${bindHost}, reachable off this host: give --tls-ca/--tls-cert/--tls-key ` +
      '(sniffmesh certs init DIR; sniffmesh certs issue DIR NAME), bind loopback (--grpc 127.0.0.1:PORT), or --insecure',
  );
}

/** The agent's gossip socket: a key, loopback, or --insecure. */
export function checkGossipListener(bindHost: string, keyed: boolean, insecure: boolean): void {
  if (keyed || insecure || isLoopbackHost(bindHost)) return;
  throw new InsecureRefusedError(
    `refusing unauthenticated gossip on ${bindHost}, reachable off this host: give --gossip-key-file FILE ` +
      "(or SNIFFMESH_GOSSIP_KEY; make one with 'sniffmesh keygen'), bind loopback (--gossip 127.0.0.1:PORT), or --insecure",
  );
}

/** A CLI's connection to an agent: TLS, loopback, or --insecure. */
export function checkClientConnection(host: string, tls: boolean, insecure: boolean): void {
  if (tls || insecure || isLoopbackHost(host)) return;
  throw new InsecureRefusedError(
    `refusing a plaintext query to ${host}, off this host: give --tls-ca/--tls-cert/--tls-key ` +
      '(a client certificate: sniffmesh certs issue DIR NAME --client), or --insecure',
  );
}
