/**
 * LiveCaptureSource on a real veth pair between two network namespaces.
 *
 * The capture runs in its own process inside the receiving namespace (the built probe,
 * dist/bench/probe/live-capture-probe-cli.js: `cap` delivers packets only on a main thread), the
 * traffic comes from node's dgram inside the sending namespace, and a BPF filter on the test's UDP
 * port keeps anything else off the count. Needs root, a build (npm run build) and the native helper
 * (npm run build:native); skipped with a message when not root.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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
} from '../../helpers/netns.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const distCaptureDir = path.join(repoRoot, 'dist', 'src', 'node', 'capture');
const probePath = path.join(repoRoot, 'dist', 'bench', 'probe', 'live-capture-probe-cli.js');
const nativeHelperPath = path.join(repoRoot, 'native', 'build', 'Release', 'packet_socket_helper.node');

const TEST_UDP_PORT = 47_001;
/** Ethernet (14) + IPv4 (20) + UDP (8) header bytes around each datagram's payload. */
const UDP_FRAME_OVERHEAD_BYTES = 42;
const WAIT_FOR_FRAMES_MS = 10_000;
const PROGRESS_INTERVAL_MS = 50;

/** 200 payload sizes from 1 to 1,400 bytes (no IP fragmentation at MTU 1500). */
const PAYLOAD_SIZES = Array.from({ length: 200 }, (_, i) => ((i * 373) % 1400) + 1);

const LIST_INTERFACES_SCRIPT = `
const m = await import(process.argv[1]);
const interfaces = m.listNetworkInterfaces();
console.log(JSON.stringify({
  interfaces,
  chosen: m.chooseDefaultInterface(interfaces)?.name,
  local: m.listLocalAddresses().map((a) => ({ ...a, bytes: [...a.bytes] })),
}));
`;

type ProbeRecord = Record<string, unknown> & { event: string };

/** One running probe process and the JSON lines it printed so far. */
class ProbeProcess {
  readonly records: ProbeRecord[] = [];
  readonly finished: ReturnType<typeof collectOutput>;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    this.finished = collectOutput(child);
    child.stdin?.on('error', () => {}); // EPIPE when the probe already exited: its output says why.
    let pending = '';
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() !== '') this.records.push(JSON.parse(line) as ProbeRecord);
        newline = pending.indexOf('\n');
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves with the first record that satisfies `accept`; rejects after `timeoutMs` or at exit. */
  async waitFor(
    accept: (record: ProbeRecord) => boolean,
    what: string,
    timeoutMs = WAIT_FOR_FRAMES_MS,
  ): Promise<ProbeRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.records.find(accept);
      if (found !== undefined) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > deadline) {
        const result = await Promise.race([this.finished, new Promise((r) => setTimeout(r, 200, null))]);
        throw new Error(
          `probe never printed ${what}; records: ${JSON.stringify(this.records)}; ${JSON.stringify(result)}`,
        );
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Waits until the probe has seen `frames` frames (delivered + dropped), then stops it. */
  async stopAfter(frames: number): Promise<ProbeRecord> {
    await this.waitFor(
      (record) =>
        record.event === 'progress' &&
        (record.frames as number) + ((record.kernelDrops as number | null) ?? 0) >= frames,
      `progress with ${frames} frames`,
    );
    return this.stop();
  }

  async stop(): Promise<ProbeRecord> {
    this.child.stdin?.write('stop\n');
    const result = await this.finished;
    const stopped = this.records.find((record) => record.event === 'stopped');
    if (stopped === undefined) throw new Error(`probe did not stop cleanly: ${JSON.stringify(result)}`);
    return stopped;
  }
}

function startProbe(
  pair: VethNamespacePair,
  args: readonly string[],
  options: { env?: Record<string, string>; withoutInterface?: boolean } = {},
): ProbeProcess {
  const interfaceArgs = options.withoutInterface ? [] : ['--interface', pair.receiverInterface];
  const envArgs = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
  const command = envArgs.length === 0 ? 'node' : 'env';
  const commandArgs = [
    ...envArgs,
    ...(envArgs.length === 0 ? [] : ['node']),
    probePath,
    ...interfaceArgs,
    '--report-every-ms',
    String(PROGRESS_INTERVAL_MS),
    ...args,
  ];
  return new ProbeProcess(spawnInNamespace(pair.receiverNamespace, command, commandArgs));
}

function sendDatagrams(pair: VethNamespacePair, sizes: readonly number[]): Promise<void> {
  return sendUdpDatagrams(pair, TEST_UDP_PORT, sizes);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function isCapturing(record: ProbeRecord): boolean {
  return record.event === 'capturing' || record.event === 'error';
}

async function runProbeToError(pair: VethNamespacePair, args: readonly string[], wrapper: string[] = []) {
  const command = wrapper.length === 0 ? 'node' : wrapper[0];
  const result = await runInNamespace(pair.receiverNamespace, command, [
    ...wrapper.slice(1),
    ...(wrapper.length === 0 ? [] : ['node']),
    probePath,
    ...args,
  ]);
  const lines = result.stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '');
  const last = JSON.parse(lines[lines.length - 1] ?? '{}') as ProbeRecord;
  return { result, last };
}

function checkBuildIsFresh(): void {
  if (!existsSync(probePath)) throw new Error(`${probePath} is missing: run npm run build first`);
  for (const [dir, name] of [
    ['src/node/capture', 'live-capture-source'],
    ['bench/probe', 'live-capture-probe-cli'],
    ['src/node/capture', 'packet-socket-helper'],
    ['src/node/capture', 'network-interfaces'],
  ] as const) {
    const source = path.join(repoRoot, dir, `${name}.ts`);
    const built = path.join(repoRoot, 'dist', dir, `${name}.js`);
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(`${built} is older than ${source}: run npm run build first`);
    }
  }
  if (!existsSync(nativeHelperPath))
    throw new Error(`${nativeHelperPath} is missing: run npm run build:native`);
}

describe('LiveCaptureSource outside the main thread', () => {
  it('refuses to capture in a worker thread with an error that says why', async () => {
    checkBuildIsFresh();
    const modulePath = path.join(distCaptureDir, 'live-capture-source.js');
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData).then(async ({ LiveCaptureSource }) => {
        try {
          await new LiveCaptureSource({ interfaceName: 'lo' }).run({ onFrame() {} });
          parentPort.postMessage({ code: 'NO_ERROR' });
        } catch (error) {
          parentPort.postMessage({ code: error.code, message: error.message });
        }
      });
      `,
      { eval: true, workerData: modulePath },
    );
    const reply = await new Promise<{ code: string; message: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(reply.code).toBe('LIVE_CAPTURE_NOT_MAIN_THREAD');
    expect(reply.message).toContain('worker thread');
  });
});

describe.skipIf(!isRoot())('LiveCaptureSource on a veth pair between two network namespaces', () => {
  let pair: VethNamespacePair;

  beforeAll(() => {
    checkBuildIsFresh();
    pair = createVethNamespacePair();
  });

  afterAll(() => {
    deleteAllNamespaces();
  });

  it('counts every frame and every wire byte of a known set of UDP datagrams exactly', async () => {
    const probe = startProbe(pair, ['--filter', `udp dst port ${TEST_UDP_PORT}`]);
    const capturing = await probe.waitFor(isCapturing, 'capturing');
    expect(capturing).toMatchObject({ event: 'capturing', interface: pair.receiverInterface, linkType: 1 });

    await sendDatagrams(pair, PAYLOAD_SIZES);
    const stopped = await probe.stopAfter(PAYLOAD_SIZES.length);

    const frameSizes = PAYLOAD_SIZES.map((size) => size + UDP_FRAME_OVERHEAD_BYTES);
    expect(stopped).toMatchObject({
      frames: PAYLOAD_SIZES.length,
      originalBytes: sum(frameSizes),
      capturedBytes: sum(frameSizes),
      bytesRead: sum(frameSizes),
      minOriginalLength: Math.min(...frameSizes),
      maxOriginalLength: Math.max(...frameSizes),
      linkType: 1,
      kernelDrops: 0,
      kernelPackets: PAYLOAD_SIZES.length,
    });
    // Timestamps are the capture's wall clock, not zero or garbage.
    const now = Date.now();
    expect(stopped.firstFrameEpochMs as number).toBeGreaterThan(now - 60_000);
    expect(stopped.lastFrameEpochMs as number).toBeGreaterThanOrEqual(stopped.firstFrameEpochMs as number);
    expect(stopped.lastFrameEpochMs as number).toBeLessThanOrEqual(now + 1000);
  });

  it('clamps captured bytes to the snaplen but keeps each frame original length', async () => {
    const snaplen = 100;
    const probe = startProbe(pair, [
      '--filter',
      `udp dst port ${TEST_UDP_PORT}`,
      '--snaplen',
      String(snaplen),
    ]);
    await probe.waitFor(isCapturing, 'capturing');
    await sendDatagrams(pair, PAYLOAD_SIZES);
    const stopped = await probe.stopAfter(PAYLOAD_SIZES.length);

    const frameSizes = PAYLOAD_SIZES.map((size) => size + UDP_FRAME_OVERHEAD_BYTES);
    expect(stopped).toMatchObject({
      frames: PAYLOAD_SIZES.length,
      originalBytes: sum(frameSizes),
      capturedBytes: sum(frameSizes.map((size) => Math.min(size, snaplen))),
      maxCapturedLength: snaplen,
    });
  });

  it('captures on the first up, non-loopback interface when none is named', async () => {
    const probe = startProbe(pair, ['--filter', `udp dst port ${TEST_UDP_PORT}`], { withoutInterface: true });
    const capturing = await probe.waitFor(isCapturing, 'capturing');
    expect(capturing).toMatchObject({ event: 'capturing', interface: pair.receiverInterface });
    await sendDatagrams(pair, [10, 20, 30]);
    const stopped = await probe.stopAfter(3);
    expect(stopped).toMatchObject({ frames: 3, originalBytes: 60 + 3 * UDP_FRAME_OVERHEAD_BYTES });
  });

  it("captures on every interface as cooked SLL frames with 'any'", async () => {
    const SLL_HEADER_BYTES = 16;
    const probe = startProbe(pair, ['--interface', 'any', '--filter', `udp dst port ${TEST_UDP_PORT}`], {
      withoutInterface: true,
    });
    const capturing = await probe.waitFor(isCapturing, 'capturing');
    expect(capturing).toMatchObject({ event: 'capturing', interface: 'any', linkType: 113 });
    await sendDatagrams(pair, [10, 20, 30]);
    const stopped = await probe.stopAfter(3);
    const ipBytes = 60 + 3 * (UDP_FRAME_OVERHEAD_BYTES - 14);
    expect(stopped).toMatchObject({
      frames: 3,
      originalBytes: ipBytes + 3 * SLL_HEADER_BYTES,
      kernelDrops: 0,
    });
  });

  /** A probe on a 1 MiB ring of the given layout, and a way to send while it is stopped (SIGSTOP). */
  async function stalledSmallRing(ring: 'tpacket-v2' | 'tpacket-v3') {
    const probe = startProbe(pair, [
      '--filter',
      `udp dst port ${TEST_UDP_PORT}`,
      '--kernel-buffer-bytes',
      String(1 << 20),
      ...(ring === 'tpacket-v2' ? ['--immediate'] : []),
    ]);
    const capturing = await probe.waitFor(isCapturing, 'capturing');
    expect(capturing.ring).toBe(ring);
    const pid = capturing.pid as number;
    const sendWhileStopped = async (count: number): Promise<void> => {
      process.kill(pid, 'SIGSTOP');
      try {
        await sendDatagrams(pair, new Array<number>(count).fill(64));
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    };
    return { probe, sendWhileStopped };
  }

  /** Stops after `sent` 64-byte datagrams: frames + drops add up to it, and some were dropped. */
  async function expectExactDrops(probe: ProbeProcess, sent: number): Promise<number> {
    const stopped = await probe.stopAfter(sent);
    const frames = stopped.frames as number;
    const drops = stopped.kernelDrops as number;
    expect(frames + drops).toBe(sent);
    expect(stopped.kernelPackets).toBe(sent);
    expect(drops).toBeGreaterThan(0);
    expect(stopped.originalBytes).toBe(frames * (64 + UDP_FRAME_OVERHEAD_BYTES));
    return frames;
  }

  it("reports the kernel's drops exactly when the capture stalls and cap's TPACKET_V2 ring overflows", async () => {
    // 1 MiB buys a ring of 16 slots on a veth with offloads on (cap's 64 KiB slots).
    const { probe, sendWhileStopped } = await stalledSmallRing('tpacket-v2');
    await sendWhileStopped(1000);
    await expectExactDrops(probe, 1000);
  });

  it("holds 1,000 frames in 1 MiB of TPACKET_V3 ring, and reports the kernel's drops exactly beyond", async () => {
    // By default the ring is TPACKET_V3: packets packed by size, so 1 MiB holds thousands of small frames.
    const { probe, sendWhileStopped } = await stalledSmallRing('tpacket-v3');
    // What overflowed cap's V2 ring 60 times over fits.
    await sendWhileStopped(1000);
    await probe.waitFor(
      (record) => record.event === 'progress' && (record.frames as number) >= 1000,
      '1000 frames',
    );
    // Far more than fits: some are dropped, and frames + drops still add up.
    await sendWhileStopped(30_000);
    expect(await expectExactDrops(probe, 31_000)).toBeGreaterThan(2_000);
  });

  it('counts frames still in an unfinished TPACKET_V3 block when stopped right after they were sent', async () => {
    const probe = startProbe(pair, ['--filter', `udp dst port ${TEST_UDP_PORT}`]);
    const capturing = await probe.waitFor(isCapturing, 'capturing');
    expect(capturing.ring).toBe('tpacket-v3');
    await sendDatagrams(pair, [100, 200, 300]);
    // No waiting for progress: the kernel hands a partly filled block over only after its 1 s timeout.
    const stopped = await probe.stop();
    expect(stopped).toMatchObject({
      frames: 3,
      kernelDrops: 0,
      originalBytes: 600 + 3 * UDP_FRAME_OVERHEAD_BYTES,
    });
  });

  it('reports kernel drops as unknown, after one warning, when the native helper is unavailable', async () => {
    const probe = startProbe(pair, ['--filter', `udp dst port ${TEST_UDP_PORT}`], {
      env: { SNIFFMESH_DISABLE_NATIVE_HELPER: '1' },
    });
    await probe.waitFor(isCapturing, 'capturing');
    await sendDatagrams(pair, [100, 200]);
    await probe.waitFor((record) => record.event === 'progress' && record.frames === 2, 'two frames');
    const stopped = await probe.stop();
    expect(stopped).toMatchObject({
      frames: 2,
      originalBytes: 300 + 2 * UDP_FRAME_OVERHEAD_BYTES,
      kernelDrops: null,
    });
    const { stderr } = await probe.finished;
    expect(stderr.match(/SNIFFMESH_NATIVE_HELPER_MISSING/g)).toHaveLength(1);
  });

  it('switches promiscuous mode off when asked and leaves it on by default', async () => {
    const IFF_PROMISC = 0x100;
    const readFlags = async (): Promise<number> => {
      const result = await runInNamespace(pair.receiverNamespace, 'cat', [
        `/sys/class/net/${pair.receiverInterface}/flags`,
      ]);
      return Number(result.stdout.trim());
    };
    for (const [args, expectPromiscuous] of [
      [['--no-promiscuous'], false],
      [[], true],
    ] as const) {
      const probe = startProbe(pair, args);
      const capturing = await probe.waitFor(isCapturing, 'capturing');
      expect(capturing.promiscuous).toBe(expectPromiscuous);
      const flags = await readFlags();
      await probe.stop();
      expect((flags & IFF_PROMISC) !== 0).toBe(expectPromiscuous);
    }
    expect((await readFlags()) & IFF_PROMISC).toBe(0);
  });

  it("stops capturing and rejects with the sink's error when the sink throws", async () => {
    const script = `
      const { LiveCaptureSource } = await import(process.argv[1]);
      const source = new LiveCaptureSource({ interfaceName: process.argv[2], filter: process.argv[3] });
      let seen = 0;
      const sink = { onFrame() { seen++; if (seen === 3) throw new Error('sink failed on purpose'); } };
      const running = source.run(sink);
      console.log(JSON.stringify({ event: 'capturing' }));
      try {
        await running;
        console.log(JSON.stringify({ event: 'stopped' }));
      } catch (error) {
        await new Promise((resolve) => setTimeout(resolve, 300)); // Room for frames that should not come.
        console.log(JSON.stringify({ event: 'failed', message: error.message, seen, frames: source.counters().frames }));
      }
    `;
    const probe = new ProbeProcess(
      spawnInNamespace(pair.receiverNamespace, 'node', [
        '--input-type=module',
        '-e',
        script,
        path.join(distCaptureDir, 'live-capture-source.js'),
        pair.receiverInterface,
        `udp dst port ${TEST_UDP_PORT}`,
      ]),
    );
    await probe.waitFor(isCapturing, 'capturing');
    await sendDatagrams(pair, new Array<number>(10).fill(50));
    const failed = await probe.waitFor((record) => record.event !== 'capturing', 'the outcome');
    expect(failed).toEqual({ event: 'failed', message: 'sink failed on purpose', seen: 3, frames: 3 });
    const result = await probe.finished;
    expect(result.exitCode).toBe(0); // Nothing left open: the process ends by itself.
  });

  it('names the available interfaces when asked for one that does not exist', async () => {
    const { result, last } = await runProbeToError(pair, ['--interface', 'nosuch0']);
    expect(result.exitCode).toBe(1);
    expect(last.code).toBe('LIVE_CAPTURE_UNKNOWN_INTERFACE');
    expect(last.message).toBe(
      `no interface named nosuch0 (available: lo (loopback), ${pair.receiverInterface}, or any for all)`,
    );
  });

  it("reports a bad filter with libpcap's own message and the filter text", async () => {
    const { result, last } = await runProbeToError(pair, [
      '--interface',
      pair.receiverInterface,
      '--filter',
      'udp port 99999',
    ]);
    expect(result.exitCode).toBe(1);
    expect(last).toMatchObject({
      code: 'LIVE_CAPTURE_BAD_FILTER',
      message: "bad capture filter 'udp port 99999': illegal port number 99999 > 65535",
    });
  });

  it('reports a bad filter through cap itself when the native helper is unavailable, and survives garbage collection', async () => {
    const modulePath = path.join(distCaptureDir, 'live-capture-source.js');
    // Without the pre-check, cap activates the capture and then fails on the filter; collecting that
    // half-open Cap object would abort the process, so the source keeps it referenced.
    const script = `
      const { LiveCaptureSource } = await import(process.argv[1]);
      try {
        await new LiveCaptureSource({ interfaceName: process.argv[2], filter: 'udp and' }).run({ onFrame() {} });
      } catch (error) {
        console.log(JSON.stringify({ code: error.code, message: error.message }));
      }
      for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
      console.log('survived');
    `;
    const result = await runInNamespace(pair.receiverNamespace, 'env', [
      'SNIFFMESH_DISABLE_NATIVE_HELPER=1',
      'node',
      '--expose-gc',
      '--input-type=module',
      '-e',
      script,
      modulePath,
      pair.receiverInterface,
    ]);
    expect(result.signal).toBeNull();
    expect(result.exitCode).toBe(0);
    const [errorLine, survivedLine] = result.stdout.trim().split('\n');
    expect(JSON.parse(errorLine)).toEqual({
      code: 'LIVE_CAPTURE_BAD_FILTER',
      message: "bad capture filter 'udp and': can't parse filter expression: syntax error",
    });
    expect(survivedLine).toBe('survived');
  });

  it('tells an unprivileged user how to grant CAP_NET_RAW', async () => {
    const { result, last } = await runProbeToError(
      pair,
      ['--interface', pair.receiverInterface],
      // Every capability dropped (CAP_NET_RAW with them) but still uid 0: a checkout under a private
      // directory (mktemp -d is mode 700) stays readable, which nobody (uid 65534) could not rely on.
      ['setpriv', '--bounding-set=-all', '--inh-caps=-all'],
    );
    expect(result.exitCode).toBe(1);
    expect(last).toEqual({
      event: 'error',
      code: 'LIVE_CAPTURE_NO_PERMISSION',
      message: `capturing on ${pair.receiverInterface} needs root or CAP_NET_RAW; or: sudo setcap cap_net_raw,cap_net_admin=eip $(readlink -f $(which node))`,
    });
  });

  it("lists the namespace's interfaces, picks the veth by default and knows its local addresses", async () => {
    const result = await runInNamespace(pair.receiverNamespace, 'node', [
      '--input-type=module',
      '-e',
      LIST_INTERFACES_SCRIPT,
      path.join(distCaptureDir, 'network-interfaces.js'),
    ]);
    expect(result.exitCode).toBe(0);
    const listed = JSON.parse(result.stdout) as {
      interfaces: { name: string; up: boolean; loopback: boolean; addresses: { address: string }[] }[];
      chosen: string;
      local: { family: number; address: string; bytes: number[]; interfaceName: string }[];
    };
    expect(listed.interfaces.map((info) => [info.name, info.up, info.loopback])).toEqual([
      ['lo', true, true],
      [pair.receiverInterface, true, false],
    ]);
    expect(listed.chosen).toBe(pair.receiverInterface);
    expect(listed.local).toEqual([
      { family: 4, address: '127.0.0.1', bytes: [127, 0, 0, 1], interfaceName: 'lo' },
      {
        family: 4,
        address: pair.receiverAddress,
        bytes: [198, 18, 0, 2],
        interfaceName: pair.receiverInterface,
      },
    ]);
  });
});

if (!isRoot()) {
  console.warn(
    'live-capture-source.test.ts: not root, so the network-namespace tests are skipped (CI runs as root)',
  );
}
