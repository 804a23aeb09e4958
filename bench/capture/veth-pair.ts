/**
 * Two network namespaces of our own joined by a veth pair: the only place the live benchmark sends
 * traffic. No addresses, no routes, IPv6 off (so the kernel sends nothing of its own, no router
 * solicitations): replayed frames go from the sender's end to the capturer's end and are then dropped
 * by the receiving stack as not-for-us, after the capture tap. MTU 1600 fits full-size QinQ frames.
 *
 * Names carry our pid (`smlive-a-<pid>`), so that leftovers of a killed run can be recognised and
 * removed without touching anyone else's namespaces.
 */

import { execFileSync } from 'node:child_process';
import { LiveCaptureError } from '../../src/util/errors.js';

const NAMESPACE_PREFIX = 'smlive-';
const VETH_MTU_BYTES = 1600;

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class VethPair {
  readonly senderNamespace: string;
  readonly receiverNamespace: string;
  /** Interface names stay under IFNAMSIZ (15 characters). */
  readonly senderInterface: string;
  readonly receiverInterface: string;
  private destroyed = false;

  private constructor(pid: number) {
    this.senderNamespace = `${NAMESPACE_PREFIX}a-${pid}`;
    this.receiverNamespace = `${NAMESPACE_PREFIX}b-${pid}`;
    this.senderInterface = `smla${pid}`;
    this.receiverInterface = `smlb${pid}`;
  }

  /** Creates both namespaces and the pair; on failure removes whatever was created and throws. */
  static create(): VethPair {
    const pair = new VethPair(process.pid);
    try {
      for (const namespace of [pair.senderNamespace, pair.receiverNamespace]) {
        ip(['netns', 'add', namespace]);
        execFileSync(
          'ip',
          [
            'netns',
            'exec',
            namespace,
            'sysctl',
            '-qw',
            'net.ipv6.conf.all.disable_ipv6=1',
            'net.ipv6.conf.default.disable_ipv6=1',
          ],
          { stdio: 'ignore' },
        );
      }
      ip([
        'link',
        'add',
        pair.senderInterface,
        'netns',
        pair.senderNamespace,
        'type',
        'veth',
        'peer',
        'name',
        pair.receiverInterface,
        'netns',
        pair.receiverNamespace,
      ]);
      ip(['-n', pair.senderNamespace, 'link', 'set', pair.senderInterface, 'mtu', `${VETH_MTU_BYTES}`, 'up']);
      ip([
        '-n',
        pair.receiverNamespace,
        'link',
        'set',
        pair.receiverInterface,
        'mtu',
        `${VETH_MTU_BYTES}`,
        'up',
      ]);
    } catch (error) {
      pair.destroy();
      const stderr = (error as { stderr?: Buffer | string }).stderr?.toString().trim();
      throw new LiveCaptureError(
        'LIVE_SETUP_FAILED',
        `cannot create the veth pair ${pair.senderInterface}/${pair.receiverInterface}: ${stderr || (error as Error).message} ` +
          '(needs root and iproute2)',
        pair.receiverInterface,
        error,
      );
    }
    return pair;
  }

  /** Removes both namespaces (the veth pair goes with them). Safe to call twice, synchronous. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const namespace of [this.senderNamespace, this.receiverNamespace]) {
      try {
        ip(['netns', 'del', namespace]);
      } catch {
        // Not created, or already gone.
      }
    }
  }

  /** Number of AF_PACKET sockets bound to the capturing interface (from /proc/net/packet in its namespace). */
  packetSocketsOnReceiver(): number {
    const ifindexText = ip(['-n', this.receiverNamespace, '-o', 'link', 'show', this.receiverInterface]);
    const ifindex = Number(ifindexText.split(':')[0]);
    const table = execFileSync('ip', ['netns', 'exec', this.receiverNamespace, 'cat', '/proc/net/packet'], {
      encoding: 'utf8',
    });
    // Columns: sk RefCnt Type Proto Iface R Rmem User Inode
    return table
      .trim()
      .split('\n')
      .slice(1)
      .filter((line) => Number(line.trim().split(/\s+/)[4]) === ifindex).length;
  }
}

/** Deletes namespaces a previous, killed run of this benchmark left behind (their pid is gone). */
export function removeStaleVethPairs(): string[] {
  const removed: string[] = [];
  let listing = '';
  try {
    listing = ip(['netns', 'list']);
  } catch {
    return removed;
  }
  for (const line of listing.split('\n')) {
    const name = line.trim().split(/\s+/)[0];
    const match = /^smlive-[ab]-(\d+)$/.exec(name ?? '');
    if (!match || processAlive(Number(match[1]))) continue;
    try {
      ip(['netns', 'del', name]);
      removed.push(name);
    } catch {
      // Someone else removed it meanwhile.
    }
  }
  return removed;
}
