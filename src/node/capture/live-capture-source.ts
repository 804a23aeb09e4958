/**
 * Live capture from a network interface through the `cap` addon (libpcap).
 *
 * Facts about `cap` 0.2.1 that shape this file (each one reproduced on this machine):
 * - It registers its packet poller on uv_default_loop(), the MAIN thread's loop. Opened in a worker
 *   thread, the first packet runs the worker's callback on the main thread and V8 aborts the process.
 *   So a LiveCaptureSource runs only in a process's main thread; `run()` refuses elsewhere.
 * - It is not context-aware: it loads in one thread per process. It is required lazily in `run()`, so
 *   importing this module loads nothing.
 * - open() keeps a raw pointer to the Buffer it is given without referencing it: the Buffer lives in a
 *   field of this object for as long as the capture may write to it.
 * - When open() throws after libpcap created its handle (no permission, device down or missing, bad
 *   filter), garbage-collecting that Cap object aborts the process (it stops a uv_poll handle that was
 *   never initialised). Every predictable failure is therefore checked before `cap` is called, and a
 *   Cap whose open() threw anyway is kept referenced for the life of the process.
 * - If the interface goes down or disappears while capturing, `cap` asserts and the process aborts:
 *   run captures in a process of their own when that matters.
 * - It always asks for promiscuous mode, immediate mode and snaplen 65535, gives no timestamps, no
 *   original length and no pcap_stats. Here: timestamps come from a cheap clock when the frame reaches
 *   JavaScript; originalLength is the byte count `cap` copied (exact for frames up to 65535 bytes);
 *   our snaplen is applied by clamping capturedLength; kernel drops and "promiscuous off" come from the
 *   native helper (packet-socket-helper.ts), which also switches cap's immediate mode off, so libpcap
 *   builds a TPACKET_V3 ring (RING_VERSION_V3) unless `immediate` is asked for.
 * - Frames reach JavaScript as EventEmitter 'packet' events (bytesCopied, truncated), one MakeCallback
 *   per frame. That path, not our code, sets the pace: about 0.75 us of CPU per frame with a counting
 *   sink, this class included (0.5-1.3 M frames/s drained from a full ring on the loaded test box),
 *   and about 20 bytes of short-lived garbage per frame from cap's C++ side. Overriding `emit` in a
 *   subclass to skip EventEmitter's dispatch was measured too: no difference, so it is not done.
 * - Timestamps are taken when JavaScript receives the frame, so they lag the wire by however long the
 *   frame waited in the ring (up to the ring's backlog under load).
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import { LiveCaptureError, UsageError } from '../../util/errors.js';
import { mayOpenPacketSockets, noPermissionMessage } from './capture-permission.js';
import type { CaptureCounters, CaptureSource, FrameSink } from './frame-sink.js';
import {
  chooseDefaultInterface,
  describeAvailableInterfaces,
  expectedDataLinkType,
  listNetworkInterfaces,
  type NetworkInterfaceInfo,
} from './network-interfaces.js';
import {
  findNewPacketSocketFd,
  listPacketSockets,
  loadPacketSocketHelper,
  type NativePacketSocketHelper,
} from './packet-socket-helper.js';

/** `cap` captures with a fixed snaplen of 65535; ours can only be smaller. */
export const CAP_SNAPLEN_BYTES = 65535;
/** The Buffer `cap` copies each frame into: big enough that its `truncated` flag never applies. */
const CAP_FRAME_BUFFER_BYTES = 65536;

/**
 * Default kernel buffer (libpcap's PACKET_RX_RING size request).
 *
 * With a TPACKET_V3 ring (the default, RING_VERSION_V3) packets are packed by size: 128 MiB holds ~750k
 * 106-byte frames, and nothing was lost in the runs of 2026-12-04 up to 1.28 M packets/s. It costs the
 * kernel the requested size (MemAvailable: ~100 MiB less used than the V2 ring of the same request).
 *
 * The figures below are for cap's immediate mode (`immediate`, or no native helper), where libpcap uses
 * TPACKET_V2 with one fixed slot per packet; on an
 * interface with segmentation offloads on (veth, most NICs) a slot is sized for a 64 KiB packet and
 * sits alone in a 128 KiB block. So the ring holds requestedBytes / 64 KiB packets whatever their
 * size, and costs the kernel TWICE the requested bytes in unswappable memory (`ss -0 -e -m` and `free`:
 * 10 MiB -> 160 slots in 20 MiB; 64 MiB -> 1,023 in 128 MiB; 256 MiB -> 4,092 in 512 MiB).
 *
 * Loss measured on a veth (2 shared cores, load 2-5; 2 runs each, 128 B / 850 B frames):
 *   request   ~100 k pkt/s           trafgen flat out (200-600 k pkt/s)
 *   10 MiB    2.5, 10.7 / 1.8, 1.3 %   70, 58 / 69, 71 %
 *   64 MiB    0.4, 0.3 / 0, 0.01 %     30, 26 / 22, 22 %
 *   128 MiB   0, 1.7 / 0, 2.4 %        11, 5 / 12, 11 %
 *   256 MiB   1.8, 18 / 0, 0 %         3.8, 0.4 / 5.9, 0.4 %
 *   tcpdump -B 65536 (TPACKET_V3): 0 in every run.
 * (At 100 k pkt/s the losses are scheduling stalls longer than the ring lasts: 20 ms at 128 MiB.)
 * 128 MiB is the default: most of 256 MiB's benefit for half its 512 MiB of kernel memory. The bigger
 * lever is switching offloads off on the capture interface (ethtool -K IF tso off gso off gro off):
 * libpcap then sizes slots to the MTU (1,600 B, 2 per 4 KiB block), 128 MiB holds 83,886 packets and
 * 64 MiB or 128 MiB lost nothing in any of the runs above.
 */
export const DEFAULT_KERNEL_BUFFER_BYTES = 128 * 1024 * 1024;
/** libpcap cannot build a useful ring below this. */
const MIN_KERNEL_BUFFER_BYTES = 1024 * 1024;
/** `cap` reads the size as a signed 32-bit integer. */
const MAX_KERNEL_BUFFER_BYTES = 2 ** 31 - 1;

/**
 * libpcap's pseudo-interface that captures on every interface (cooked SLL frames). It is not in
 * /sys/class/net, its packet socket is bound to interface index 0, and libpcap never makes it
 * promiscuous.
 */
const ANY_INTERFACE_NAME = 'any';
const ANY_INTERFACE: NetworkInterfaceInfo = {
  name: ANY_INTERFACE_NAME,
  index: 0,
  up: true,
  running: true,
  loopback: false,
  promiscuous: false,
  hardwareType: -1, // Unknown: expectedDataLinkType() answers LINUX_SLL, which is what "any" gives.
  mtu: 0,
  addresses: [],
};

/** How often the cheap monotonic clock is re-anchored to the wall clock. */
const CLOCK_RESYNC_INTERVAL_MS = 1000;

/** LINKTYPE_* numbers for the link-type names `cap` returns from open(). */
const LINK_TYPE_BY_CAP_NAME: Readonly<Record<string, number>> = {
  ETHERNET: 1,
  NULL: 0,
  LINKTYPE_LINUX_SLL: 113,
  RAW: 101,
};

export interface LiveCaptureOptions {
  /** Interface to capture on ('any': all of them, as cooked SLL); default: the first up, non-loopback one. */
  interfaceName?: string;
  /** BPF filter in tcpdump syntax; default: none (every frame). */
  filter?: string;
  /** Bytes of each frame handed to the sink (1..65535); originalLength is unaffected. Default 65535. */
  snaplen?: number;
  /** Put the interface in promiscuous mode (default true). false needs the native helper. */
  promiscuous?: boolean;
  /** Kernel ring size request in bytes (default DEFAULT_KERNEL_BUFFER_BYTES; see above). */
  kernelBufferBytes?: number;
  /**
   * Keep `cap`'s immediate mode (default false): every packet handed over at once, at the price of a
   * TPACKET_V2 ring (see RING_VERSION_V3). Without the native helper, immediate mode is all there is.
   */
  immediate?: boolean;
}

/**
 * PACKET_VERSION of TPACKET_V3 (linux/if_packet.h; V2 is 1), the ring libpcap builds when `cap` does
 * not ask for immediate mode (the native helper clears cap's pcap_set_immediate_mode pointer, see
 * native/packet-socket-helper.c): packets packed into
 * blocks by their real size and handed over a block at a time, as tcpdump captures. Measured on a veth
 * with offloads on (docs/bench-capture-live-2026-12-04.txt): no loss at 100 k, 250 k, ~430 k and
 * 1.28 M packets/s sustained (8 M packets), where cap's TPACKET_V2 ring lost 0.6 %, 2.8 % and 9-10 %.
 * The price: the kernel hands over a block when it is full or after cap's fixed 1 s timeout, and frames
 * are timestamped when they reach JavaScript, so on a quiet link a frame may be counted up to 1 s late
 * (totals are unaffected); and a stopping capture waits for its last block (drain, below).
 */
const RING_VERSION_V3 = 2;
/** Names of the ring layouts, for counters and messages. */
const RING_NAMES: Readonly<Record<number, string>> = { 0: 'tpacket-v1', 1: 'tpacket-v2', 2: 'tpacket-v3' };
/**
 * A stopping TPACKET_V3 capture reads on until every frame the kernel accepted before the stop has
 * arrived, or this long: cap's 1 s block timeout (the kernel hands a partly filled block over within it)
 * plus a margin for a busy event loop. The kernel's count cannot always end it sooner: on loopback (and
 * `any`) the kernel counts each packet twice and libpcap drops the outgoing copy, so there the capture
 * always waits the whole time.
 */
const RING_DRAIN_DEADLINE_MS = 1_250;

/** The part of `cap`'s Cap class this module uses. */
interface CapHandle {
  open(device: string, filter: string, bufferSize: number, buffer: Buffer): string;
  close(): boolean;
  on(event: 'packet', listener: (bytesCopied: number, truncated: boolean) => void): unknown;
}
type CapConstructor = new () => CapHandle;

/**
 * Cap objects whose open() threw, with the Buffers they point to. Never released: collecting such an
 * object aborts the process (see the file comment).
 */
const capHandlesThatFailedToOpen: unknown[] = [];

let capConstructor: CapConstructor | undefined;

function loadCap(interfaceName: string): CapConstructor {
  if (capConstructor !== undefined) return capConstructor;
  try {
    capConstructor = (createRequire(import.meta.url)('cap') as { Cap: CapConstructor }).Cap;
  } catch (error) {
    throw new LiveCaptureError(
      'LIVE_CAPTURE_ADDON_UNAVAILABLE',
      `the cap addon does not load (${(error as Error).message}); it loads in one thread per process only`,
      interfaceName,
      error,
    );
  }
  return capConstructor;
}

function validateOptions(options: LiveCaptureOptions): void {
  const { snaplen, kernelBufferBytes } = options;
  if (snaplen !== undefined && !(Number.isInteger(snaplen) && snaplen >= 1 && snaplen <= CAP_SNAPLEN_BYTES)) {
    throw new UsageError(`snaplen must be an integer from 1 to ${CAP_SNAPLEN_BYTES}, got ${snaplen}`);
  }
  if (
    kernelBufferBytes !== undefined &&
    !(
      Number.isInteger(kernelBufferBytes) &&
      kernelBufferBytes >= MIN_KERNEL_BUFFER_BYTES &&
      kernelBufferBytes <= MAX_KERNEL_BUFFER_BYTES
    )
  ) {
    throw new UsageError(
      `kernel buffer size must be an integer from ${MIN_KERNEL_BUFFER_BYTES} to ${MAX_KERNEL_BUFFER_BYTES} bytes, got ${kernelBufferBytes}`,
    );
  }
}

function resolveInterfaceName(requested: string | undefined): string {
  if (requested !== undefined && requested !== '') return requested;
  const interfaces = listNetworkInterfaces();
  const chosen = chooseDefaultInterface(interfaces);
  if (chosen === undefined) {
    throw new LiveCaptureError(
      'LIVE_CAPTURE_NO_INTERFACE',
      `no up, non-loopback interface to capture on (available: ${describeAvailableInterfaces(interfaces)}); name one`,
    );
  }
  return chosen.name;
}

export class LiveCaptureSource implements CaptureSource {
  readonly description: string;
  readonly interfaceName: string;
  readonly filter: string;
  readonly snaplen: number;
  readonly promiscuous: boolean;
  readonly kernelBufferBytes: number;
  readonly immediate: boolean;

  /** Where `cap` copies each frame. Must stay referenced while a capture is open (see file comment). */
  private readonly frameBuffer = Buffer.alloc(CAP_FRAME_BUFFER_BYTES);
  private started = false;
  private capHandle: CapHandle | null = null;
  private sink: FrameSink | null = null;
  private linkTypeValue = -1;

  private frames = 0;
  private bytesRead = 0;

  private helper: NativePacketSocketHelper | null = null;
  /** fd of cap's packet socket while open; -1 when closed or not found. */
  private packetSocketFd = -1;
  private kernelPacketsTotal = 0;
  private kernelDropsTotal = 0;
  private kernelStatisticsKnown = false;
  /** PACKET_VERSION of cap's socket once open; null while unknown (no helper). */
  private ringVersion: number | null = null;
  /** While stopping a TPACKET_V3 capture: the frame count that completes it; -1 otherwise. */
  private drainTarget = -1;
  private drainTimer: NodeJS.Timeout | null = null;

  private epochMinusMonotonicMs = 0;
  private nextClockSyncMs = 0;
  private lastFrameEpochMs = 0;

  private settle: ((error?: unknown) => void) | null = null;

  constructor(options: LiveCaptureOptions = {}) {
    validateOptions(options);
    this.interfaceName = resolveInterfaceName(options.interfaceName);
    this.filter = options.filter ?? '';
    this.snaplen = options.snaplen ?? CAP_SNAPLEN_BYTES;
    this.promiscuous = options.promiscuous ?? true;
    this.kernelBufferBytes = options.kernelBufferBytes ?? DEFAULT_KERNEL_BUFFER_BYTES;
    this.immediate = options.immediate ?? false;
    this.description = `live ${this.interfaceName}${this.filter === '' ? '' : ` '${this.filter}'`}`;
  }

  /** LINKTYPE_* of the open capture; -1 before it opened. */
  get linkType(): number {
    return this.linkTypeValue;
  }

  run(sink: FrameSink, signal?: AbortSignal): Promise<void> {
    if (this.started) {
      return Promise.reject(
        new LiveCaptureError(
          'LIVE_CAPTURE_ALREADY_STARTED',
          `${this.description}: run() was already called; create a new source`,
          this.interfaceName,
        ),
      );
    }
    this.started = true;
    if (signal?.aborted) return Promise.resolve();
    try {
      this.open();
    } catch (error) {
      return Promise.reject(error);
    }
    this.sink = sink;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => this.stop();
      this.settle = (error?: unknown): void => {
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  counters(): CaptureCounters {
    this.refreshKernelStatistics();
    return {
      frames: this.frames,
      bytesRead: this.bytesRead,
      kernelDrops: this.kernelStatisticsKnown ? this.kernelDropsTotal : null,
    };
  }

  /** The capture ring's layout ('tpacket-v3', 'tpacket-v2'); null before it opened or when unknown. */
  get ring(): string | null {
    return this.ringVersion === null ? null : (RING_NAMES[this.ringVersion] ?? `tpacket-${this.ringVersion}`);
  }

  /** Packets the kernel offered to our socket (delivered + dropped); null when unknown. */
  kernelPacketsSeen(): number | null {
    this.refreshKernelStatistics();
    return this.kernelStatisticsKnown ? this.kernelPacketsTotal : null;
  }

  private refreshKernelStatistics(): void {
    if (this.packetSocketFd < 0 || this.helper === null) return;
    // The kernel resets its counters on every read: accumulate.
    const [packets, drops] = this.helper.readPacketStatistics(this.packetSocketFd);
    this.kernelPacketsTotal += packets;
    this.kernelDropsTotal += drops;
  }

  private open(): void {
    const name = this.interfaceName;
    if (!isMainThread) {
      throw new LiveCaptureError(
        'LIVE_CAPTURE_NOT_MAIN_THREAD',
        `cannot capture on ${name} in a worker thread: the cap addon delivers packets on the main thread's event loop ` +
          '(and the process aborts on the first packet); capture in the main thread of a process of its own',
        name,
      );
    }
    const interfaces = listNetworkInterfaces();
    const info =
      name === ANY_INTERFACE_NAME ? ANY_INTERFACE : interfaces.find((candidate) => candidate.name === name);
    if (info === undefined) {
      throw new LiveCaptureError(
        'LIVE_CAPTURE_UNKNOWN_INTERFACE',
        `no interface named ${name} (available: ${describeAvailableInterfaces(interfaces)}, or ${ANY_INTERFACE_NAME} for all)`,
        name,
      );
    }
    if (!info.up) {
      throw new LiveCaptureError(
        'LIVE_CAPTURE_INTERFACE_DOWN',
        `interface ${name} is down; bring it up first (ip link set ${name} up)`,
        name,
      );
    }
    if (!mayOpenPacketSockets()) {
      throw new LiveCaptureError('LIVE_CAPTURE_NO_PERMISSION', noPermissionMessage(name), name);
    }
    this.helper = loadPacketSocketHelper();
    if (!this.promiscuous && this.helper === null) {
      throw new LiveCaptureError(
        'LIVE_CAPTURE_PROMISCUOUS_OFF_UNAVAILABLE',
        `cannot capture on ${name} without promiscuous mode: cap always sets it and the native helper that ` +
          'switches it off is not built (npm run build:native)',
        name,
      );
    }
    if (this.filter !== '' && this.helper !== null) {
      const problem = this.helper.checkFilter(
        expectedDataLinkType(info.hardwareType),
        CAP_SNAPLEN_BYTES,
        this.filter,
      );
      if (problem !== null) throw this.badFilterError(problem);
    }

    const Cap = loadCap(name);
    this.chooseRing(name);
    const capHandle = new Cap();
    capHandle.on('packet', (bytesCopied) => this.deliverFrame(bytesCopied));
    const socketsBefore = listPacketSockets();
    const linkTypeName = this.openCap(capHandle, info, socketsBefore);

    const linkType = LINK_TYPE_BY_CAP_NAME[linkTypeName];
    if (linkType === undefined) {
      capHandle.close();
      throw new LiveCaptureError(
        'LIVE_CAPTURE_UNSUPPORTED_LINK_TYPE',
        `interface ${name} has link type ${linkTypeName}, which sniffmesh cannot decode ` +
          `(supported: ${Object.keys(LINK_TYPE_BY_CAP_NAME).join(', ')})`,
        name,
      );
    }
    this.linkTypeValue = linkType;
    this.capHandle = capHandle;
    this.syncClock(performance.now());

    const fd = findNewPacketSocketFd(socketsBefore, info.index);
    if (!this.promiscuous && info !== ANY_INTERFACE) {
      try {
        if (fd < 0) throw new Error("cap's packet socket was not found in /proc/self/fd");
        this.helper!.dropPromiscuousMembership(fd, info.index);
      } catch (error) {
        this.closeCap();
        throw new LiveCaptureError(
          'LIVE_CAPTURE_PROMISCUOUS_OFF_FAILED',
          `could not switch promiscuous mode off on ${name}: ${(error as Error).message}`,
          name,
          error,
        );
      }
    }
    if (this.helper !== null && fd >= 0) {
      this.ringVersion = this.helper.packetSocketVersion(fd);
      this.packetSocketFd = fd;
      this.kernelStatisticsKnown = true;
      // Counts from before this point (none: the socket is new) would belong to nobody else; start at zero.
      this.helper.readPacketStatistics(fd);
    }
  }

  /**
   * Sets cap's immediate mode for the open that follows (process-wide in cap, so set before every open).
   * Without the native helper cap keeps its immediate mode.
   */
  private chooseRing(name: string): void {
    if (this.helper === null) return;
    let addonPath: string;
    try {
      addonPath = createRequire(import.meta.url).resolve('cap/build/Release/cap.node');
    } catch (error) {
      throw new LiveCaptureError(
        'LIVE_CAPTURE_ADDON_UNAVAILABLE',
        `the cap addon's binary was not found (${(error as Error).message})`,
        name,
        error,
      );
    }
    // false: a cap without that global (another version); it then keeps immediate mode, and the ring
    // version read after open() says so.
    this.helper.setCapImmediateMode(addonPath, this.immediate);
  }

  /** cap.open() with its stderr chatter silenced and its failures turned into typed errors. */
  private openCap(
    capHandle: CapHandle,
    info: NetworkInterfaceInfo,
    socketsBefore: Map<number, number>,
  ): string {
    const helper = this.helper;
    const savedStderrFd = helper === null ? -1 : helper.silenceStderr();
    try {
      return capHandle.open(info.name, this.filter, this.kernelBufferBytes, this.frameBuffer);
    } catch (error) {
      capHandlesThatFailedToOpen.push(capHandle, this.frameBuffer);
      throw this.openFailure(error, info, socketsBefore);
    } finally {
      if (savedStderrFd >= 0) helper!.restoreStderr(savedStderrFd);
    }
  }

  private openFailure(error: unknown, info: NetworkInterfaceInfo, socketsBefore: Map<number, number>): Error {
    const name = info.name;
    const message = (error as Error).message ?? String(error);
    // A socket that was not there before means libpcap activated the capture: only the filter failed.
    const leftOpenFd = findNewPacketSocketFd(socketsBefore, info.index);
    if (leftOpenFd >= 0) {
      // cap cannot release it (see file comment); at least stop asking for promiscuous mode on it.
      try {
        this.helper?.dropPromiscuousMembership(leftOpenFd, info.index);
      } catch {
        // Best effort only.
      }
      if (this.filter !== '') return this.badFilterError(message, error);
    }
    if (/permission|not permitted/i.test(message)) {
      return new LiveCaptureError('LIVE_CAPTURE_NO_PERMISSION', noPermissionMessage(name), name, error);
    }
    if (/no such device/i.test(message)) {
      return new LiveCaptureError(
        'LIVE_CAPTURE_UNKNOWN_INTERFACE',
        `no interface named ${name} (available: ${describeAvailableInterfaces(listNetworkInterfaces())}, or ${ANY_INTERFACE_NAME} for all)`,
        name,
        error,
      );
    }
    return new LiveCaptureError(
      'LIVE_CAPTURE_OPEN_FAILED',
      `capturing on ${name} failed: ${message}`,
      name,
      error,
    );
  }

  private badFilterError(libpcapMessage: string, cause?: unknown): LiveCaptureError {
    return new LiveCaptureError(
      'LIVE_CAPTURE_BAD_FILTER',
      `bad capture filter '${this.filter}': ${libpcapMessage}`,
      this.interfaceName,
      cause,
    );
  }

  private syncClock(monotonicMs: number): void {
    this.epochMinusMonotonicMs = Date.now() - monotonicMs;
    this.nextClockSyncMs = monotonicMs + CLOCK_RESYNC_INTERVAL_MS;
  }

  /** The per-frame path: allocates nothing. */
  private deliverFrame(capturedBytes: number): void {
    const monotonicMs = performance.now();
    if (monotonicMs >= this.nextClockSyncMs) this.syncClock(monotonicMs);
    let epochMs = this.epochMinusMonotonicMs + monotonicMs;
    // Re-anchoring to the millisecond wall clock may step back a little: keep timestamps non-decreasing.
    if (epochMs < this.lastFrameEpochMs) epochMs = this.lastFrameEpochMs;
    this.lastFrameEpochMs = epochMs;
    const seconds = Math.floor(epochMs / 1000);
    const nanos = Math.floor((epochMs - seconds * 1000) * 1_000_000);
    const capturedLength = Math.min(capturedBytes, this.snaplen);
    this.frames++;
    this.bytesRead += capturedLength;
    try {
      this.sink!.onFrame(
        this.linkTypeValue,
        seconds,
        nanos,
        this.frameBuffer,
        0,
        capturedLength,
        capturedBytes,
        0,
      );
    } catch (error) {
      this.finish(error);
      return;
    }
    // The last frame the kernel accepted before the stop (a stopping TPACKET_V3 capture): close now.
    if (this.frames === this.drainTarget) this.finish();
  }

  private closeCap(): void {
    if (this.capHandle === null) return;
    this.refreshKernelStatistics(); // Last read before the fd goes away (and its number may be reused).
    this.packetSocketFd = -1;
    this.capHandle.close(); // Safe inside a frame callback: cap finishes its dispatch loop first.
    this.capHandle = null;
  }

  /**
   * Stops on abort. A TPACKET_V3 ring may still hold frames the kernel accepted before the stop, in a
   * block not handed over yet: those are read first (the kernel's packet count says how many), so a
   * stopped capture has counted everything sent before it stopped, as with immediate mode.
   */
  private stop(): void {
    if (this.capHandle === null || this.ringVersion !== RING_VERSION_V3 || !this.kernelStatisticsKnown) {
      this.finish();
      return;
    }
    this.refreshKernelStatistics();
    const accepted = this.kernelPacketsTotal - this.kernelDropsTotal;
    if (this.frames >= accepted) {
      this.finish();
      return;
    }
    this.drainTarget = accepted;
    this.drainTimer = setTimeout(() => this.finish(), RING_DRAIN_DEADLINE_MS);
  }

  private finish(error?: unknown): void {
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    this.drainTarget = -1;
    this.closeCap();
    const settle = this.settle;
    this.settle = null;
    settle?.(error);
  }
}
