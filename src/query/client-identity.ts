/**
 * Who a call comes from, for the per-client limits: the one place that decides it. Today the peer's IP
 * address (all connections from one host count as one client); with TLS it becomes the client
 * certificate's identity.
 */

/** What the identity is read from: a grpc-js server call. */
export interface CallPeer {
  getPeer(): string;
}

/**
 * The client's identity: its IP address without the port ("127.0.0.1", "::1"), or the peer text as grpc-js
 * gave it when that is not host:port (a Unix socket path, "unknown").
 */
export function clientIdentityOf(call: CallPeer): string {
  const peer = call.getPeer();
  // grpc-js: "127.0.0.1:52314", "[::1]:52314", sometimes with a scheme ("ipv4:127.0.0.1:52314").
  const text = peer.replace(/^(ipv4|ipv6):/, '');
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(text);
  if (bracketed !== null) return bracketed[1] as string;
  const plain = /^([^:]+):\d+$/.exec(text);
  if (plain !== null) return plain[1] as string;
  return peer;
}
