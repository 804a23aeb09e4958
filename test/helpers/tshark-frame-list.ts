import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * tshark's per-frame view of a capture file (lengths, interface, timestamp), as the independent oracle
 * for the capture-file reader. Results are cached under os.tmpdir() keyed by file content, tshark
 * version and arguments, so only the first run pays tshark's ~0.4 s start-up per file.
 */

export interface TsharkFrame {
  originalLength: number;
  capturedLength: number;
  /** pcapng interface index; null for classic pcap and for frames tshark gives none. */
  interfaceIndex: number | null;
  /** Nanoseconds since the epoch; null when the record has no timestamp (pcapng simple packet). */
  timeNanos: bigint | null;
}

export interface TsharkFrameList {
  /** Packet records only: tshark's non-packet records (pcapng custom blocks) are left out. */
  frames: TsharkFrame[];
  exitCode: number;
  /** tshark's complaint, without its "Running as user root" noise; '' when it had none. */
  complaint: string;
}

const TSHARK_ARGS = [
  '-n',
  '-o',
  'tcp.desegment_tcp_streams:FALSE',
  '-T',
  'fields',
  '-E',
  'separator=/t',
  '-e',
  'frame.len',
  '-e',
  'frame.cap_len',
  '-e',
  'frame.interface_id',
  '-e',
  'frame.time_epoch',
  '-e',
  'frame.encap_type',
];

const CACHE_DIR = path.join(tmpdir(), 'sniffmesh-tshark-frame-lists');

export function tsharkAvailable(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let versionLine: string | null = null;
function tsharkVersion(): string {
  versionLine ??= execFileSync('tshark', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  return versionLine;
}

export async function tsharkFrameList(file: string): Promise<TsharkFrameList> {
  const key = createHash('sha256')
    .update(readFileSync(file))
    .update(tsharkVersion())
    .update(TSHARK_ARGS.join(' '))
    .digest('hex');
  const cacheFile = path.join(CACHE_DIR, `${key}.json`);
  let raw: { stdout: string; stderr: string; exitCode: number };
  try {
    raw = JSON.parse(readFileSync(cacheFile, 'utf8'));
  } catch {
    raw = await runTshark(file);
    mkdirSync(CACHE_DIR, { recursive: true });
    writeFileSync(cacheFile, JSON.stringify(raw));
  }
  return parseFrameList(raw);
}

async function runTshark(file: string): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  try {
    const { stdout, stderr } = await execFileAsync('tshark', ['-r', file, ...TSHARK_ARGS], {
      maxBuffer: 256 * 1024 * 1024,
    });
    return { stdout, stderr, exitCode: 0 };
  } catch (error) {
    // tshark exits non-zero on a damaged or unsupported file, after printing what it could read.
    const e = error as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? String(error), exitCode: e.code ?? -1 };
  }
}

function parseFrameList(raw: { stdout: string; stderr: string; exitCode: number }): TsharkFrameList {
  const frames: TsharkFrame[] = [];
  for (const line of raw.stdout.split('\n')) {
    if (line === '') continue;
    const [len, capLen, interfaceId, epoch, encapType] = line.split('\t');
    if (encapType === '' || encapType === undefined) continue; // not a packet (e.g. a custom block)
    frames.push({
      originalLength: Number(len),
      capturedLength: Number(capLen),
      interfaceIndex: interfaceId === '' ? null : Number(interfaceId),
      timeNanos: epoch === '' ? null : epochToNanos(epoch),
    });
  }
  const complaint = raw.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('Running as user'))
    .join(' ');
  return { frames, exitCode: raw.exitCode, complaint };
}

/**
 * tshark's frame.time_epoch ("1340954905.298858000", "-5.000000001") to nanoseconds, exactly.
 * tshark prints the file's nanosecond field unnormalised: "1418145370.1000000000" is 1418145370 s plus
 * 1e9 ns, read here as such; a field of 2^31 or more overflows its signed 32 bits and prints as
 * "-1418145370.2147483648", which means nothing: null, not compared.
 */
export function epochToNanos(epoch: string): bigint | null {
  const negative = epoch.startsWith('-');
  const [whole, fraction = ''] = (negative ? epoch.slice(1) : epoch).split('.');
  if (fraction.length > 9 && negative) return null;
  const fractionNanos = fraction.length > 9 ? BigInt(fraction) : BigInt(fraction.padEnd(9, '0'));
  const nanos = BigInt(whole) * 1_000_000_000n + fractionNanos;
  return negative ? -nanos : nanos;
}

/** Runs `work` over `items` with at most `limit` in flight (tshark runs are CPU-heavy; 2 cores). */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  });
  await Promise.all(workers);
  return results;
}
