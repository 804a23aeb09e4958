import type { PeerCertificate } from 'node:tls';
import { peerIdentity } from './tls-credentials.js';

/**
 * Who a call comes from, for the per-client limits: the one place that decides it. With mutual TLS, the
 * identity the client's certificate proves (`client:alice`, `member:web1`): one person is one client from
 * wherever they connect, and two tools behind one NAT address are two. Without TLS, the peer's IP
 * address (all connections from one host count as one client).
 */

/** What the identity is read from: a grpc-js server call. */
export interface CallPeer {
  getPeer(): string;
  getAuthContext?(): { sslPeerCertificate?: PeerCertificate };
}

/**
 * The client's identity: `role:name` from its certificate under TLS; else its IP address without the
 * port ("127.0.0.1", "::1"), or the peer text as grpc-js gave it when that is not host:port.
 */
export function clientIdentityOf(call: CallPeer): string {
  const certified = peerIdentity(call.getAuthContext?.().sslPeerCertificate);
  if (certified !== null) return `${certified.role}:${certified.name}`;
  const peer = call.getPeer();
  // grpc-js: "127.0.0.1:52314", "[::1]:52314", sometimes with a scheme ("ipv4:127.0.0.1:52314").
  const text = peer.replace(/^(ipv4|ipv6):/, '');
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(text);
  if (bracketed !== null) return bracketed[1] as string;
  const plain = /^([^:]+):\d+$/.exec(text);
  if (plain !== null) return plain[1] as string;
  return peer;
}
