import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Per-address frames and bytes, keyed by canonical address text. */
export type HostCounts = Map<string, { packets: number; bytes: number }>;

export interface TsharkHostResult {
  hosts: HostCounts;
  frames: number;
  /** tshark's stderr (it reports damaged files there and exits non-zero, after printing what it read). */
  stderr: string;
}

/**
 * The independent oracle: tshark's view of each frame's outermost IP header, aggregated per address the
 * way `sniffmesh analyze --group host` defines it (a frame counts once for each distinct address among
 * that header's source and destination; bytes are frame.len).
 *
 * The outermost IP layer is whichever of `ip` and `ipv6` comes first in frame.protocols; with
 * `-E occurrence=f` the address fields are that layer's when it is the first of its kind.
 * `displayFilter` (tshark -Y) restricts the frames, e.g. to a time window.
 */
export async function tsharkHostCounts(file: string, displayFilter?: string): Promise<TsharkHostResult> {
  let stdout = '';
  let stderr = '';
  try {
    const result = await execFileAsync(
      'tshark',
      [
        '-n',
        '-r',
        file,
        '-T',
        'fields',
        '-E',
        'occurrence=f',
        '-E',
        'separator=/t',
        '-e',
        'frame.len',
        '-e',
        'frame.protocols',
        '-e',
        'ip.src',
        '-e',
        'ip.dst',
        '-e',
        'ipv6.src',
        '-e',
        'ipv6.dst',
        ...(displayFilter === undefined ? [] : ['-Y', displayFilter]),
      ],
      { maxBuffer: 512 * 1024 * 1024 },
    );
    stdout = result.stdout;
    stderr = result.stderr;
  } catch (error) {
    // tshark exits 2 on a damaged file after printing every frame it could read.
    const e = error as { stdout?: string; stderr?: string };
    stdout = e.stdout ?? '';
    stderr = e.stderr ?? String(error);
  }
  const hosts: HostCounts = new Map();
  let frames = 0;
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    frames++;
    const [lenText, protocols, ipSrc, ipDst, ip6Src, ip6Dst] = line.split('\t');
    const bytes = Number(lenText);
    const layers = protocols.split(':');
    const v4 = layers.indexOf('ip');
    const v6 = layers.indexOf('ipv6');
    let src: string | undefined;
    let dst: string | undefined;
    if (v4 >= 0 && (v6 < 0 || v4 < v6)) {
      src = ipSrc;
      dst = ipDst;
    } else if (v6 >= 0) {
      src = ip6Src;
      dst = ip6Dst;
    }
    if (!src || !dst) continue;
    add(hosts, src, bytes);
    if (dst !== src) add(hosts, dst, bytes);
  }
  return { hosts, frames, stderr };
}

function add(hosts: HostCounts, address: string, bytes: number): void {
  const entry = hosts.get(address);
  if (entry === undefined) hosts.set(address, { packets: 1, bytes });
  else {
    entry.packets += 1;
    entry.bytes += bytes;
  }
}

/** Differences between two per-address tables, as readable lines; [] when equal. */
export function diffHostCounts(ours: HostCounts, oracle: HostCounts): string[] {
  const lines: string[] = [];
  for (const [address, o] of oracle) {
    const s = ours.get(address);
    if (s === undefined) lines.push(`${address}: tshark ${o.packets} pkts/${o.bytes} B, sniffmesh none`);
    else if (s.packets !== o.packets || s.bytes !== o.bytes) {
      lines.push(`${address}: tshark ${o.packets} pkts/${o.bytes} B, sniffmesh ${s.packets}/${s.bytes}`);
    }
  }
  for (const [address, s] of ours) {
    if (!oracle.has(address)) lines.push(`${address}: sniffmesh ${s.packets} pkts/${s.bytes} B, tshark none`);
  }
  return lines;
}
