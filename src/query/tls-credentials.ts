import type { PeerCertificate } from 'node:tls';
import { type ChannelCredentials, credentials, ServerCredentials } from '@grpc/grpc-js';
import { identityFromSubjectAltName, type TlsIdentity, type TlsMaterial } from './tls-identity.js';

/**
 * The server side of mutual TLS: the agent presents its member certificate and requires a client
 * certificate signed by a CA in the bundle, checked at the handshake (a client without one never
 * reaches a handler). What each identity may call is call-authorization.ts's job.
 */
export function serverCredentials(material: TlsMaterial): ServerCredentials {
  return ServerCredentials.createSsl(
    material.ca,
    [{ private_key: material.key, cert_chain: material.cert }],
    true,
  );
}

/** Why a server's certificate was refused, or undefined when it is the one expected. */
export function serverIdentityProblem(
  certificate: PeerCertificate,
  expected: { memberName?: string },
): Error | undefined {
  const identity = identityFromSubjectAltName(certificate.subjectaltname);
  if (identity === null) return new Error('the server certificate names no sniffmesh member');
  if (identity.role !== 'member') {
    return new Error(
      `the server certificate is a ${identity.role} certificate (${identity.name}), not a member's`,
    );
  }
  if (expected.memberName !== undefined && identity.name !== expected.memberName) {
    return new Error(
      `the server certificate names member ${JSON.stringify(identity.name)}, not ${JSON.stringify(expected.memberName)} ` +
        "(its membership record points at another member's server)",
    );
  }
  return undefined;
}

/**
 * Client credentials for one connection. The chain is checked against the CA bundle by TLS itself; the
 * host name check is replaced by the identity check: members are reached by address (often an IP), and
 * what matters is which member answers. `memberName` pins the member (a peer asked by the fan-out must
 * be the member its gossip record names, so a forged record cannot send a query to another server);
 * without it any member certificate is accepted (the CLI asking "the agent at HOST:PORT").
 */
export function clientCredentials(
  material: TlsMaterial,
  expected: { memberName?: string },
): ChannelCredentials {
  return credentials.createSsl(material.ca, material.key, material.cert, {
    checkServerIdentity: (_host, certificate) => serverIdentityProblem(certificate, expected),
  });
}

/**
 * Channel options for a TLS channel: the name put in SNI and :authority instead of the address (an IP
 * there is not allowed by RFC 6066, and Node warns). The member name when a member is pinned, else a
 * fixed label; the certificate check above does not depend on it.
 */
export function tlsChannelOptions(expected: { memberName?: string }): Record<string, string> {
  return { 'grpc.ssl_target_name_override': expected.memberName ?? 'sniffmesh-agent' };
}

/** The identity of the client on the far end of a TLS connection, or null (plaintext, or none in it). */
export function peerIdentity(certificate: PeerCertificate | undefined): TlsIdentity | null {
  if (certificate === undefined) return null;
  return identityFromSubjectAltName(certificate.subjectaltname);
}
