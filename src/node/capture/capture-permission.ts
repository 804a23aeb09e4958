/**
 * Whether this process may open packet sockets, answered from /proc/self/status without trying.
 *
 * Asking first matters with `cap`: when its open() fails after libpcap created the handle, the
 * half-built capture object aborts the process when it is garbage-collected, so every failure we can
 * predict is better reported before `cap` is called at all.
 */
import { readFileSync } from 'node:fs';

/** Capability numbers from <linux/capability.h>. */
const CAP_NET_RAW_BIT = 13;

/**
 * The effective capability set, or undefined when /proc does not tell (not Linux, /proc not mounted).
 * Root in the initial user namespace has every bit; `setcap cap_net_raw=eip node` grants bit 13.
 */
function readEffectiveCapabilities(): bigint | undefined {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const match = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(status);
  return match === null ? undefined : BigInt(`0x${match[1]}`);
}

/** True when CAP_NET_RAW is effective (or when this cannot be known: then libpcap will tell). */
export function mayOpenPacketSockets(): boolean {
  const effective = readEffectiveCapabilities();
  if (effective === undefined) return true;
  return (effective & (1n << BigInt(CAP_NET_RAW_BIT))) !== 0n;
}

/** The one-line advice every "no permission" error carries. */
export function noPermissionMessage(interfaceName: string): string {
  return (
    `capturing on ${interfaceName} needs root or CAP_NET_RAW; ` +
    'or: sudo setcap cap_net_raw,cap_net_admin=eip $(readlink -f $(which node))'
  );
}
