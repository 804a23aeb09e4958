import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { UsageError } from '../util/errors.js';

/** Longest host:port text accepted from the network (`[v6 with embedded v4]:65535` is 55). */
export const MAX_ADDRESS_CHARS = 64;

/** host:port as given by a user: host is an IPv4 address, a bracketed IPv6 address or a DNS name. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port` (IPv6 as `[::1]:7946`). `what` names the flag for the error message.
 * With `allowPortZero` the OS picks the port (tests).
 */
export function parseHostPort(text: string, what: string, allowPortZero = false): HostPort {
  const trimmed = text.trim();
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(trimmed);
  if (match === null) {
    throw new UsageError(`${what}: '${text}' is not host:port (IPv6 as [addr]:port)`);
  }
  const host = match[1] ?? match[2] ?? '';
  if (match[1] !== undefined && isIP(host) !== 6) {
    throw new UsageError(`${what}: '${host}' is not an IPv6 address`);
  }
  const port = Number(match[3]);
  if (port > 65535 || (port === 0 && !allowPortZero)) {
    throw new UsageError(`${what}: port ${port} is out of range (1-65535)`);
  }
  return { host, port };
}

/** The canonical gossip address string of a member: `1.2.3.4:7946` or `[::1]:7946`. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Parses a canonical gossip address (an IP literal, never a name) received from the network.
 * Returns undefined for anything else, so a forged record can never make us send to a bad address.
 */
export function parseGossipAddress(text: unknown): HostPort | undefined {
  if (typeof text !== 'string' || text.length > MAX_ADDRESS_CHARS) return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const host = match[1] ?? match[2] ?? '';
  const family = isIP(host);
  if (family === 0 || (match[1] !== undefined && family !== 6)) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}

/**
 * Resolves a host name to one address of the gossip socket's family (a udp4 socket cannot send to the
 * ::1 that `localhost` may resolve to first); IP literals pass through.
 */
export async function resolveHost(host: string, family: 4 | 6 = 4): Promise<string> {
  if (isIP(host) !== 0) return host;
  const { address } = await lookup(host, { family });
  return address;
}

/** A seed's host:port resolved (resolveHost) to a gossip address string. */
export async function resolveSeed(seed: HostPort, family: 4 | 6 = 4): Promise<string> {
  return formatHostPort(await resolveHost(seed.host, family), seed.port);
}

/** The advertised host must be an IP literal (it is what peers send to); a wildcard bind address is
 * replaced by this host's first non-internal address of the same family. */
export async function resolveAdvertiseHost(host: string, family: 4 | 6): Promise<string> {
  if (host === '0.0.0.0' || host === '::') {
    const familyName = family === 6 ? 'IPv6' : 'IPv4';
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) {
        if (!address.internal && address.family === familyName) return address.address;
      }
    }
    throw new UsageError(
      `--gossip binds ${host} but this host has no non-loopback ${familyName} address: give --advertise`,
    );
  }
  return resolveHost(host, family);
}
