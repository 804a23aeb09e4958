/**
 * `sniffmesh capture` end to end on a veth pair between two network namespaces this test creates:
 * datagrams of exactly known sizes cross the link and the command must count exactly those frames and
 * bytes, per host and per flow, with the direction seen from the capturing host. Needs root (CI is root)
 * and a build; skipped with a message otherwise. Namespaces are deleted afterwards.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectOutput,
  createVethNamespacePair,
  deleteAllNamespaces,
  isRoot,
  runInNamespace,
  sendUdpDatagrams,
  spawnInNamespace,
  type VethNamespacePair,
} from '../helpers/netns.js';
import { requireBuiltCli } from '../helpers/repo-paths.js';

const TEST_UDP_PORT = 47_002;
/** Ethernet (14) + IPv4 (20) + UDP (8) around each payload. */
const FRAME_OVERHEAD_BYTES = 42;
/** 300 payload sizes from 1 to 1,400 bytes (below the MTU: no fragments). */
const PAYLOAD_SIZES = Array.from({ length: 300 }, (_, i) => ((i * 577) % 1400) + 1);

const root = isRoot();
if (!root) console.warn('skipping sniffmesh capture namespace tests: they need root (CI runs as root)');

function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`no '${pattern}' on stderr within ${timeoutMs} ms: ${text}`)),
      timeoutMs,
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function send(pair: VethNamespacePair, sizes: readonly number[]): Promise<void> {
  return sendUdpDatagrams(pair, TEST_UDP_PORT, sizes);
}

interface CaptureJson {
  rows: Record<string, unknown>[];
  totals: { packets: number; bytes: number };
  capture: { frames: number; kernelDrops: number | null; interface: string };
}

describe.skipIf(!root)('sniffmesh capture across a veth pair', () => {
  let pair: VethNamespacePair;
  let cli: string;

  beforeAll(() => {
    cli = requireBuiltCli();
    pair = createVethNamespacePair();
  });
  afterAll(() => deleteAllNamespaces());

  async function captureWhileSending(extraArgs: string[], stop: 'duration' | 'sigint'): Promise<CaptureJson> {
    const args = [
      cli,
      'capture',
      '-i',
      pair.receiverInterface,
      '--filter',
      `udp port ${TEST_UDP_PORT}`,
      '--json',
    ];
    if (stop === 'duration') args.push('--duration', '3');
    const child = spawnInNamespace(pair.receiverNamespace, 'node', [...args, ...extraArgs]);
    const output = collectOutput(child);
    await waitForStderr(child, /capturing on/, 15_000);
    await send(pair, PAYLOAD_SIZES);
    if (stop === 'sigint') {
      await new Promise((r) => setTimeout(r, 1000));
      child.kill('SIGINT');
    }
    const result = await output;
    expect(result.exitCode, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as CaptureJson;
  }

  const expectedBytes = PAYLOAD_SIZES.reduce((sum, size) => sum + size + FRAME_OVERHEAD_BYTES, 0);

  it('counts exactly the frames and bytes sent, per host, with the receiver recorded as this host', async () => {
    const json = await captureWhileSending(['--group', 'host', '--limit', '0'], 'duration');
    expect(json.totals).toMatchObject({ packets: PAYLOAD_SIZES.length, bytes: expectedBytes });
    expect(json.capture.frames).toBe(PAYLOAD_SIZES.length);
    expect(json.capture.kernelDrops).toBe(0);
    const byKey = new Map(json.rows.map((row) => [row.key, row]));
    expect(byKey.get(pair.senderAddress)).toMatchObject({
      packets: PAYLOAD_SIZES.length,
      bytes: expectedBytes,
      sentBytes: expectedBytes,
      receivedBytes: 0,
    });
    expect(byKey.get(pair.receiverAddress)).toMatchObject({
      packets: PAYLOAD_SIZES.length,
      bytes: expectedBytes,
      receivedBytes: expectedBytes,
    });
    expect(json.rows).toHaveLength(2);
  });

  it('reports the single flow with its ports and direction "received", and stops cleanly on SIGINT', async () => {
    const json = await captureWhileSending(['--group', 'flow', '--limit', '0'], 'sigint');
    expect(json.rows).toHaveLength(1);
    expect(json.rows[0]).toMatchObject({
      protocol: 'udp',
      src: pair.senderAddress,
      dst: pair.receiverAddress,
      dstPort: TEST_UDP_PORT,
      packets: PAYLOAD_SIZES.length,
      bytes: expectedBytes,
      direction: 'received',
    });
  });

  it('with --disable-offloads switches segmentation offloads off while capturing and restores them', async () => {
    const offloads = async () => {
      const result = await runInNamespace(pair.receiverNamespace, 'ethtool', ['-k', pair.receiverInterface]);
      const on = (feature: string) => new RegExp(`^${feature}: on`, 'm').test(result.stdout);
      return { gso: on('generic-segmentation-offload'), tso: on('tcp-segmentation-offload') };
    };
    const before = await offloads();
    expect(before.gso || before.tso, 'a veth starts with segmentation offloads on').toBe(true);
    const child = spawnInNamespace(pair.receiverNamespace, 'node', [
      cli,
      'capture',
      '-i',
      pair.receiverInterface,
      '--filter',
      `udp port ${TEST_UDP_PORT}`,
      '--json',
      '--duration',
      '3',
      '--disable-offloads',
    ]);
    const output = collectOutput(child);
    await waitForStderr(child, /capturing on/, 15_000);
    expect(await offloads()).toEqual({ gso: false, tso: false });
    await send(pair, PAYLOAD_SIZES);
    const result = await output;
    expect(result.exitCode, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as CaptureJson;
    expect(json.totals).toMatchObject({ packets: PAYLOAD_SIZES.length, bytes: expectedBytes });
    expect(await offloads()).toEqual(before);
  });

  it('fails with exit code 1 and one clear line for an unknown interface', async () => {
    const result = await runInNamespace(pair.receiverNamespace, 'node', [
      cli,
      'capture',
      '-i',
      'nosuch0',
      '--duration',
      '1',
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toMatch(/^sniffmesh: no interface named nosuch0 \(available: .*lo/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
