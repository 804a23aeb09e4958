import { SniffmeshError, UsageError } from '../../util/errors.js';
import { type CaptureFileSource, openCaptureFile, STDIN_PATH } from './capture-file-source.js';
import type { CaptureCounters, CaptureSource, FrameSink } from './frame-sink.js';

/**
 * Replays a capture file as if it were being captured now, so that a mesh node can run without root
 * and tests know the ground truth (`sniffmesh agent --pcap FILE [--replay-speed X] [--loop]`).
 *
 * The agent's flow store keeps "the last N seconds" of WALL-CLOCK time, so every frame is handed on
 * with a wall-clock timestamp instead of the file's:
 * - speed > 0: a frame at file time t gets start + (t - t0) / speed, where t0 is the pass's first
 *   frame's file time and start the wall clock when that frame went out (a pass begins with its first
 *   frame). Frames go out when due: the file source's real-time pacer, scaled by `speed`.
 * - speed 0: no pacing; a frame gets the wall clock at the moment it is delivered (as read at the
 *   start of its synchronous burst of frames, or at most FRAMES_PER_CLOCK_READ frames before it).
 * - Either way a timestamp is never later than the wall clock at delivery (the pacer releases frames up
 *   to ~1 ms early; such a frame gets the clock reading instead) and never earlier than the previous
 *   frame's, across passes too (frames out of order in the file, a wall clock stepped back): both
 *   clamps make the replay look like a live capture.
 * - A frame stamped exactly 0.000000000 before the pass is anchored is a pcapng simple packet block
 *   with no timestamped frame before it (the parser lends it 0): it gets the wall clock and does not
 *   anchor the pass, as it does not anchor the pacer.
 *
 * Looping re-opens the file for every pass; each pass is anchored afresh, so passes follow each other
 * in time. A file without frames cannot advance a loop: the replay then idles until aborted instead of
 * re-opening the file in a tight loop.
 *
 * The per-frame path allocates nothing: the rebasing sink keeps numbers only and passes on the
 * parser's buffer, exactly as the file source hands it over. What it does allocate is per burst of
 * frames (a clock reading and a microtask), next to the file source's own per-read promises.
 */

export interface ReplayOptions {
  /** The capture file (pcap or pcapng, optionally gzip-compressed); `-` for standard input (no loop). */
  path: string;
  /** File seconds per wall-clock second: 1 = as recorded, 2 = twice as fast, 0 = as fast as possible. */
  speed: number;
  /** Replay the file again and again until run()'s signal aborts. */
  loop: boolean;
  /** The wall clock in milliseconds since the Unix epoch (injectable for tests). Default Date.now. */
  nowMs?: () => number;
}

/** A day of capture in under 0.1 s; anything faster is what speed 0 is for. */
export const MAX_REPLAY_SPEED = 1_000_000;

/**
 * Bytes per file read. Every read is awaited, which lets the event loop run timers and I/O (IPC, gRPC,
 * gossip) between chunks, so the chunk bounds how long the replay holds the loop: the file source's
 * 4 MiB default holds ~60,000 frames at snap length 128. Measured at speed 0 on the 500,000-frame bench
 * capture with FrameAccountant (2 shared cores, 5 runs each): longest gap of a 1 ms interval timer,
 * median 12 ms and worst 146 ms with 4 MiB reads, median 2.3 ms and worst 5.2 ms for this replay with
 * 256 KiB (~4,000 frames per read); run time 147 vs 143 ms, the same within noise.
 */
export const REPLAY_READ_CHUNK_BYTES = 256 * 1024;

/**
 * Within one synchronous burst of frames, how many share a wall-clock reading (see
 * WallClockRebasingSink): ~1,000 frames take well under a millisecond to decode and count, so the
 * reading is as fresh as Date.now()'s 1 ms resolution allows.
 */
const FRAMES_PER_CLOCK_READ = 1024;
const MS_PER_SECOND = 1000;
const NANOS_PER_MS = 1_000_000;
const NANOS_PER_SECOND = 1_000_000_000;

/** Throws UsageError unless `speed` is a usable --replay-speed. */
export function validateReplaySpeed(speed: number): void {
  if (!Number.isFinite(speed) || speed < 0 || speed > MAX_REPLAY_SPEED) {
    throw new UsageError(
      `--replay-speed ${speed}: must be a number from 0 to ${MAX_REPLAY_SPEED} ` +
        '(1 = as recorded, 2 = twice as fast, 0 = as fast as possible)',
    );
  }
}

export class ReplayCaptureSource implements CaptureSource {
  readonly description: string;
  readonly path: string;
  readonly speed: number;
  readonly loop: boolean;

  private readonly rebaser: WallClockRebasingSink;
  private started = false;
  private completedPasses = 0;
  private ended = false;
  /** bytesRead of the passes that are over; the running pass adds its own. */
  private bytesOfEndedPasses = 0;
  private currentPass: CaptureFileSource | null = null;

  constructor(options: ReplayOptions) {
    validateReplaySpeed(options.speed);
    if (options.loop && options.path === STDIN_PATH) {
      throw new UsageError('--pcap -: standard input can be replayed only once; --loop needs a file');
    }
    this.path = options.path;
    this.speed = options.speed;
    this.loop = options.loop;
    this.rebaser = new WallClockRebasingSink(options.speed, options.nowMs ?? Date.now);
    const pace = options.speed === 0 ? 'as fast as possible' : `x${options.speed}`;
    this.description = `replay ${options.path} ${pace}${options.loop ? ' (loop)' : ''}`;
  }

  /**
   * Passes that reached the end of the file. A pass cut short by abort does not count, nor one whose
   * last frames went out just before the abort was noticed (the file source cannot tell them apart).
   */
  get passes(): number {
    return this.completedPasses;
  }

  /** True once a non-looping replay has delivered the whole file. */
  get finished(): boolean {
    return this.ended;
  }

  counters(): CaptureCounters {
    const running = this.currentPass?.counters().bytesRead ?? 0;
    return { frames: this.rebaser.frames, bytesRead: this.bytesOfEndedPasses + running, kernelDrops: null };
  }

  async run(sink: FrameSink, signal?: AbortSignal): Promise<void> {
    if (this.started) {
      throw new SniffmeshError(
        'CAPTURE_SOURCE_REUSED',
        `${this.description}: a capture source runs only once`,
      );
    }
    this.started = true;
    this.rebaser.downstream = sink;
    for (;;) {
      if (signal?.aborted) return;
      const framesBefore = this.rebaser.frames;
      const pass = openCaptureFile(this.path, {
        realtime: this.speed > 0,
        realtimeSpeed: this.speed > 0 ? this.speed : 1,
        readChunkBytes: REPLAY_READ_CHUNK_BYTES,
      });
      this.currentPass = pass;
      this.rebaser.beginPass();
      try {
        // A damaged file rejects here with the file source's CaptureFileError, good frames delivered.
        await pass.run(this.rebaser, signal);
      } finally {
        this.bytesOfEndedPasses += pass.counters().bytesRead;
        this.currentPass = null;
      }
      // The file source returns quietly on abort; such a pass did not reach the end of the file.
      if (signal?.aborted) return;
      this.completedPasses++;
      if (!this.loop) {
        this.ended = true;
        return;
      }
      if (this.rebaser.frames === framesBefore) {
        await abortOf(signal);
        return;
      }
    }
  }
}

/**
 * Hands frames on with wall-clock timestamps (see the file comment for the rules). Numbers only, so
 * the per-frame path allocates nothing; timestamps are kept as (seconds, nanos) pairs because a
 * nanosecond count since the epoch exceeds 2^53.
 *
 * Why the wall clock is cached: on Node 20 every Date.now() call costs 65-90 ns and allocates a 16-byte
 * HeapNumber, called directly or through a field alike (measured: 3 M calls, 47 scavenges), next to
 * ~200 ns per frame for FrameAccountant. So the clock is read once per synchronous burst of frames
 * (the frames one parse() of a read chunk or one pacing gate lets through) and every
 * FRAMES_PER_CLOCK_READ frames within it; a microtask marks the reading stale as soon as the burst
 * ends, so the first frame after any await (a read, a pacing sleep) reads the clock afresh.
 *
 * A paced frame is never due more than the pacer's ~1 ms lookahead after the burst's reading (the
 * reading is taken after the pacer opened the gate), so clamping to the reading costs at most that
 * and needs no further clock read.
 */
export class WallClockRebasingSink implements FrameSink {
  downstream: FrameSink = DISCARDING_SINK;
  /** Frames handed on, all passes. */
  frames = 0;

  private anchored = false;
  private fileSeconds0 = 0;
  private fileNanos0 = 0;
  private startSeconds = 0;
  private startNanos = 0;
  private lastSeconds = 0;
  private lastNanos = 0;
  private clockFresh = false;
  private framesSinceClockRead = 0;
  private clockSeconds = 0;
  private clockNanos = 0;
  private readonly markClockStale = (): void => {
    this.clockFresh = false;
  };

  /**
   * @param speed file seconds per wall-clock second; 0 stamps every frame with the wall clock.
   * @param nowMs the wall clock, milliseconds since the Unix epoch.
   */
  constructor(
    private readonly speed: number,
    private readonly nowMs: () => number,
  ) {}

  /** The next frame with a timestamp anchors a new pass to the wall clock. */
  beginPass(): void {
    this.anchored = false;
    this.clockFresh = false;
  }

  onFrame(
    linkType: number,
    tsSeconds: number,
    tsNanos: number,
    data: Uint8Array,
    offset: number,
    capturedLength: number,
    originalLength: number,
    interfaceIndex: number,
  ): void {
    if (!this.clockFresh || ++this.framesSinceClockRead >= FRAMES_PER_CLOCK_READ) this.readClock();
    let seconds = this.clockSeconds;
    let nanos = this.clockNanos;
    if (this.speed > 0 && (this.anchored || tsSeconds !== 0 || tsNanos !== 0)) {
      if (!this.anchored) {
        this.anchored = true;
        this.fileSeconds0 = tsSeconds;
        this.fileNanos0 = tsNanos;
        this.startSeconds = seconds;
        this.startNanos = nanos;
      }
      // Exact while the file's span stays below 2^53 ns (104 days); negative for frames out of order.
      const fileElapsedNanos =
        (tsSeconds - this.fileSeconds0) * NANOS_PER_SECOND + (tsNanos - this.fileNanos0);
      const wallElapsedNanos = Math.floor(fileElapsedNanos / this.speed);
      const elapsedSeconds = Math.floor(wallElapsedNanos / NANOS_PER_SECOND);
      let dueNanos = this.startNanos + (wallElapsedNanos - elapsedSeconds * NANOS_PER_SECOND);
      let dueSeconds = this.startSeconds + elapsedSeconds;
      if (dueNanos >= NANOS_PER_SECOND) {
        dueNanos -= NANOS_PER_SECOND;
        dueSeconds++;
      }
      // Never later than the clock reading: the pacer lets frames out up to ~1 ms early.
      if (dueSeconds < seconds || (dueSeconds === seconds && dueNanos < nanos)) {
        seconds = dueSeconds;
        nanos = dueNanos;
      }
    }
    if (seconds < this.lastSeconds || (seconds === this.lastSeconds && nanos < this.lastNanos)) {
      seconds = this.lastSeconds;
      nanos = this.lastNanos;
    }
    this.lastSeconds = seconds;
    this.lastNanos = nanos;
    this.downstream.onFrame(
      linkType,
      seconds,
      nanos,
      data,
      offset,
      capturedLength,
      originalLength,
      interfaceIndex,
    );
    this.frames++;
  }

  private readClock(): void {
    const wallMs = this.nowMs();
    const wallSeconds = Math.floor(wallMs / MS_PER_SECOND);
    this.clockSeconds = wallSeconds;
    this.clockNanos = Math.floor((wallMs - wallSeconds * MS_PER_SECOND) * NANOS_PER_MS);
    this.framesSinceClockRead = 0;
    if (!this.clockFresh) {
      this.clockFresh = true;
      queueMicrotask(this.markClockStale);
    }
  }
}

const DISCARDING_SINK: FrameSink = { onFrame() {} };

/** Resolves when `signal` aborts; never without a signal (a loop without one runs forever). */
function abortOf(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
