import { connect } from 'node:net';

/** What a TCP connect attempt found. */
export type TcpProbeResult = 'open' | 'refused' | 'timeout';

/**
 * Opens and closes one TCP connection to host:port, giving up after `timeoutMs`.
 *
 * Why: grpc-js never aborts a TCP connect that is still in progress when the channel closes, so an
 * address that drops SYNs (a firewalled or vanished host) keeps the process alive for the kernel's whole
 * SYN retry time (over 2 minutes) after the call itself has failed. Probing first with a socket we can
 * destroy bounds the wait; on an answering port it costs one extra round trip.
 */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<TcpProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (result: TcpProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.once('connect', () => finish('open'));
    // Refused, unreachable, unknown host name: nothing to talk to either way.
    socket.once('error', () => finish('refused'));
  });
}
