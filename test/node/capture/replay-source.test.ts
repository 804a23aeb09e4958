import { statSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { FrameSink } from '../../../src/node/capture/frame-sink.js';
import {
  MAX_REPLAY_SPEED,
  ReplayCaptureSource,
  type ReplayOptions,
  WallClockRebasingSink,
} from '../../../src/node/capture/replay-source.js';
import { CaptureFileError, SniffmeshError, UsageError } from '../../../src/util/errors.js';
import { CaptureScratch, readCapture } from '../../helpers/capture-file-runner.js';
import { buildPcap, frameBytes, type PcapRecordSpec } from '../../helpers/capture-writer.js';
import { type CollectedFrame, FrameCollector } from '../../helpers/frame-collector.js';
import { probeAllocation } from '../../helpers/heap-probe.js';
import { TCPDUMP_CORPUS_DIR } from '../../helpers/repo-paths.js';
import { tsharkFrameList } from '../../helpers/tshark-frame-list.js';

const scratch = new CaptureScratch();
afterAll(() => scratch.cleanup());

/** A file time far from now, so that a timestamp passed through unrebased cannot look right. */
const FILE_EPOCH_SECONDS = 1_000_000_000;
/** The pacer releases a frame up to 1 ms before it is due; timer rounding adds a little. */
const EARLY_RELEASE_TOLERANCE_MS = 1.5;
const ALLOCATION_WARMUP_FRAMES = 200_000;
const ALLOCATION_MEASURED_FRAMES = 2_000_000;
const ALLOCATION_ATTEMPTS = 3;

/** A frame's timestamp in milliseconds since the epoch (float; enough for millisecond checks). */
function timestampMs(frame: CollectedFrame): number {
  return frame.seconds * 1000 + frame.nanos / 1e6;
}

function expectNonDecreasing(frames: CollectedFrame[]): void {
  for (let i = 1; i < frames.length; i++) {
    const earlier = frames[i - 1];
    const later = frames[i];
    const ordered =
      later.seconds > earlier.seconds || (later.seconds === earlier.seconds && later.nanos >= earlier.nanos);
    expect(ordered, `frame ${i} (${later.seconds}.${later.nanos}) before frame ${i - 1}`).toBe(true);
  }
}

/** Records at FILE_EPOCH_SECONDS plus the given offsets, each frame's bytes seeded by its index. */
function recordsAt(offsetsMs: readonly number[]): PcapRecordSpec[] {
  return offsetsMs.map((offsetMs, i) => {
    const micros = Math.round(offsetMs * 1000);
    return {
      seconds: FILE_EPOCH_SECONDS + Math.floor(micros / 1e6),
      fraction: micros % 1e6,
      data: frameBytes(40 + i, i),
    };
  });
}

/** Lets the microtask run that marks the rebasing sink's clock reading stale, as any await does. */
async function endOfBurst(): Promise<void> {
  await Promise.resolve();
}

async function replay(
  options: ReplayOptions,
  signal?: AbortSignal,
): Promise<{ frames: CollectedFrame[]; source: ReplayCaptureSource; startMs: number; endMs: number }> {
  const source = new ReplayCaptureSource(options);
  const collector = new FrameCollector();
  const now = options.nowMs ?? Date.now;
  const startMs = now();
  await source.run(collector, signal);
  const endMs = now();
  return { frames: collector.frames, source, startMs, endMs };
}

describe('replay as fast as possible (speed 0)', () => {
  it.each(['of10_s4810.pcap', 'bgp-role.pcapng', 'geneve.pcap'])(
    'delivers every frame of %s that tshark counts, with the file’s bytes, stamped by the wall clock of the run',
    async (name) => {
      const file = path.join(TCPDUMP_CORPUS_DIR, name);
      const oracle = await tsharkFrameList(file);
      const direct = await readCapture(file);
      const { frames, source, startMs, endMs } = await replay({ path: file, speed: 0, loop: false });

      expect(frames).toHaveLength(oracle.frames.length);
      expect(frames.map((f) => [f.capturedLength, f.originalLength])).toEqual(
        oracle.frames.map((f) => [f.capturedLength, f.originalLength]),
      );
      for (const [i, frame] of frames.entries()) {
        expect(frame.data.equals(direct.frames[i].data)).toBe(true);
        expect(frame.linkType).toBe(direct.frames[i].linkType);
        expect(frame.interfaceIndex).toBe(direct.frames[i].interfaceIndex);
        expect(timestampMs(frame)).toBeGreaterThanOrEqual(startMs);
        expect(timestampMs(frame)).toBeLessThanOrEqual(endMs);
      }
      expectNonDecreasing(frames);
      expect(source.counters()).toEqual({
        frames: oracle.frames.length,
        bytesRead: statSync(file).size,
        kernelDrops: null,
      });
      expect(source.passes).toBe(1);
      expect(source.finished).toBe(true);
    },
  );
});

describe('paced replay (speed > 0)', () => {
  it('stamps frames start + (t - t0) / speed by the injected wall clock, clamping a frame that goes back in time', async () => {
    // The injected clock runs an hour ahead of the real one: timestamps must come from it.
    const nowMs = () => Date.now() + 3_600_000;
    const fileOffsetsMs = [0, 30, 20, 60, 150];
    const file = scratch.write(buildPcap({ records: recordsAt(fileOffsetsMs) }).bytes);
    const started = performance.now();
    const { frames, startMs, endMs } = await replay({ path: file, speed: 2, loop: false, nowMs });
    const elapsedMs = performance.now() - started;

    expect(frames).toHaveLength(5);
    const first = timestampMs(frames[0]);
    expect(first).toBeGreaterThanOrEqual(startMs);
    expect(timestampMs(frames[4])).toBeLessThanOrEqual(endMs);
    for (const i of [1, 3, 4]) {
      const offsetMs = timestampMs(frames[i]) - first;
      expect(offsetMs).toBeLessThanOrEqual(fileOffsetsMs[i] / 2 + 0.001);
      expect(offsetMs).toBeGreaterThanOrEqual(fileOffsetsMs[i] / 2 - EARLY_RELEASE_TOLERANCE_MS);
    }
    // The frame at 20 ms follows the one at 30 ms in the file: it keeps that one's timestamp.
    expect([frames[2].seconds, frames[2].nanos]).toEqual([frames[1].seconds, frames[1].nanos]);
    expectNonDecreasing(frames);
    expect(elapsedMs).toBeGreaterThanOrEqual(150 / 2 - EARLY_RELEASE_TOLERANCE_MS);
  });

  it('takes about S/10 seconds at speed 10 for a file spanning S seconds', async () => {
    const file = path.join(TCPDUMP_CORPUS_DIR, 'geneve.pcap');
    const oracle = await tsharkFrameList(file);
    const spanMs = Number(oracle.frames.at(-1)!.timeNanos! - oracle.frames[0].timeNanos!) / 1e6;
    expect(spanMs).toBeGreaterThan(1000); // the file is what this test needs: ~2 s long

    const started = performance.now();
    const { frames } = await replay({ path: file, speed: 10, loop: false });
    const elapsedMs = performance.now() - started;

    expect(frames).toHaveLength(oracle.frames.length);
    expect(elapsedMs).toBeGreaterThanOrEqual((spanMs / 10) * 0.5);
    expect(elapsedMs).toBeLessThanOrEqual((spanMs / 10) * 3);
    const stampedSpanMs = timestampMs(frames.at(-1)!) - timestampMs(frames[0]);
    expect(stampedSpanMs).toBeLessThanOrEqual(spanMs / 10 + 0.001);
    expect(stampedSpanMs).toBeGreaterThanOrEqual(spanMs / 10 - EARLY_RELEASE_TOLERANCE_MS);
  });

  it('does not anchor a pass on a pcapng simple packet block’s borrowed timestamp of 0', async () => {
    const wallMs = 1_700_000_000_500;
    let nowMs = wallMs;
    const rebaser = new WallClockRebasingSink(1, () => nowMs);
    const collector = new FrameCollector();
    rebaser.downstream = collector;
    const data = frameBytes(20, 0);
    rebaser.onFrame(1, 0, 0, data, 0, 20, 20, 0); // the borrowed 0: stamped now, anchors nothing
    rebaser.onFrame(1, FILE_EPOCH_SECONDS, 0, data, 0, 20, 20, 0); // anchors the pass at now
    nowMs = wallMs + 300;
    await endOfBurst();
    rebaser.onFrame(1, FILE_EPOCH_SECONDS, 200_000_000, data, 0, 20, 20, 0);
    // Anchored on 0, the third frame would be due ~31 years on and clamped to now (+300 ms).
    expect(collector.frames.map((f) => [f.seconds, f.nanos])).toEqual([
      [1_700_000_000, 500_000_000],
      [1_700_000_000, 500_000_000],
      [1_700_000_000, 700_000_000],
    ]);
  });

  it('never stamps a frame later than the wall clock at its delivery', async () => {
    let nowMs = 1_700_000_000_000;
    const rebaser = new WallClockRebasingSink(1, () => nowMs);
    const collector = new FrameCollector();
    rebaser.downstream = collector;
    const data = frameBytes(20, 0);
    rebaser.onFrame(1, FILE_EPOCH_SECONDS, 0, data, 0, 20, 20, 0);
    nowMs += 9; // released 1 ms early by the pacer's lookahead
    await endOfBurst();
    rebaser.onFrame(1, FILE_EPOCH_SECONDS, 10_000_000, data, 0, 20, 20, 0);
    expect(collector.frames.map((f) => [f.seconds, f.nanos])).toEqual([
      [1_700_000_000, 0],
      [1_700_000_000, 9_000_000],
    ]);
  });
});

describe('looping', () => {
  it('delivers the file’s frames pass after pass until aborted, then stops', async () => {
    const records = recordsAt([0, 10, 20]);
    const file = scratch.write(buildPcap({ records }).bytes);
    const source = new ReplayCaptureSource({ path: file, speed: 0, loop: true });
    const collector = new FrameCollector();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    await source.run(collector, controller.signal);
    const abortedAt = performance.now();
    const delivered = collector.frames.length;

    expect(source.passes).toBeGreaterThanOrEqual(2);
    // Passes count files replayed to the end; the abort may land after a pass's last frame.
    expect(delivered).toBeGreaterThanOrEqual(records.length * source.passes);
    expect(delivered).toBeLessThanOrEqual(records.length * (source.passes + 1));
    expect(source.counters().frames).toBe(delivered);
    expect(source.finished).toBe(false);
    for (const [i, frame] of collector.frames.entries()) {
      expect(frame.data.equals(Buffer.from(records[i % records.length].data))).toBe(true);
    }
    expectNonDecreasing(collector.frames);
    await sleep(50);
    expect(collector.frames).toHaveLength(delivered);
    expect(performance.now() - abortedAt).toBeLessThan(1000);
  });

  it('starts each paced pass from the wall clock, so passes follow each other in time', async () => {
    const passMs = 60;
    const file = scratch.write(buildPcap({ records: recordsAt([0, passMs]) }).bytes);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), passMs * 3.5);
    const { frames, source } = await replay({ path: file, speed: 1, loop: true }, controller.signal);

    expect(source.passes).toBeGreaterThanOrEqual(2);
    expect(frames.length).toBeGreaterThanOrEqual(2 * source.passes);
    expectNonDecreasing(frames);
    for (let pass = 0; pass + 1 < frames.length / 2; pass++) {
      const passStart = timestampMs(frames[2 * pass]);
      const passEnd = timestampMs(frames[2 * pass + 1]);
      const nextStart = timestampMs(frames[2 * pass + 2]);
      expect(passEnd - passStart).toBeGreaterThanOrEqual(passMs - EARLY_RELEASE_TOLERANCE_MS);
      expect(passEnd - passStart).toBeLessThanOrEqual(passMs + 0.001);
      // The next pass starts when it starts, not at the first pass's anchor: no overlap, no big gap.
      expect(nextStart).toBeGreaterThanOrEqual(passEnd);
      expect(nextStart - passEnd).toBeLessThan(passMs);
    }
  });

  it('idles until aborted when the file has no frames, instead of re-opening it in a tight loop', async () => {
    const file = scratch.write(buildPcap({ records: [] }).bytes);
    const source = new ReplayCaptureSource({ path: file, speed: 0, loop: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    await source.run(new FrameCollector(), controller.signal);
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    expect(source.passes).toBe(1);
    expect(source.counters().frames).toBe(0);
  });

  it('refuses to loop over standard input, which can be read only once', () => {
    expect(() => new ReplayCaptureSource({ path: '-', speed: 1, loop: true })).toThrow(UsageError);
  });
});

describe('damaged input', () => {
  it.each([
    { speed: 0, loop: false },
    { speed: 1000, loop: false },
    { speed: 0, loop: true },
  ])(
    'rejects with the file source’s CaptureFileError after delivering every good frame (speed $speed, loop $loop)',
    async ({ speed, loop }) => {
      const records: PcapRecordSpec[] = [
        ...recordsAt([0, 1, 2]),
        {
          seconds: FILE_EPOCH_SECONDS,
          fraction: 3000,
          data: frameBytes(10, 9),
          capturedLengthField: 0x7fff_ffff,
        },
      ];
      const built = buildPcap({ records });
      const file = scratch.write(built.bytes);
      const direct = await readCapture(file);
      const source = new ReplayCaptureSource({ path: file, speed, loop });
      const collector = new FrameCollector();

      const error = await source.run(collector).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(CaptureFileError);
      expect((error as CaptureFileError).offset).toBe(built.blocks[3].offset);
      expect((error as CaptureFileError).message).toBe(direct.error!.message);
      expect(collector.frames).toHaveLength(3);
      expect(source.passes).toBe(0);
      expect(source.finished).toBe(false);
    },
  );

  it('rejects a file that is not a capture with a clear CaptureFileError and no frames', async () => {
    const file = scratch.write(Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), 'not-a-capture.txt');
    const collector = new FrameCollector();
    const error = await new ReplayCaptureSource({ path: file, speed: 1, loop: true })
      .run(collector)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(CaptureFileError);
    expect((error as CaptureFileError).offset).toBe(0);
    expect((error as CaptureFileError).message).toMatch(/^.*not-a-capture\.txt: at byte offset 0: .+/);
    expect(collector.frames).toHaveLength(0);
  });
});

describe('options', () => {
  it.each([Number.NaN, -1, -0.001, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, MAX_REPLAY_SPEED + 1])(
    'refuses --replay-speed %s with a UsageError naming the flag',
    (speed) => {
      const create = () => new ReplayCaptureSource({ path: 'x.pcap', speed, loop: false });
      expect(create).toThrow(UsageError);
      expect(create).toThrow(new RegExp(`^--replay-speed ${String(speed)}: must be a number from 0 to`));
    },
  );

  it.each([0, 0.25, 1, MAX_REPLAY_SPEED])('accepts --replay-speed %s', (speed) => {
    expect(() => new ReplayCaptureSource({ path: 'x.pcap', speed, loop: false })).not.toThrow();
  });

  it('describes itself by file, speed and looping', () => {
    expect(new ReplayCaptureSource({ path: 'foo.pcap', speed: 2, loop: true }).description).toBe(
      'replay foo.pcap x2 (loop)',
    );
    expect(new ReplayCaptureSource({ path: 'foo.pcap', speed: 0.5, loop: false }).description).toBe(
      'replay foo.pcap x0.5',
    );
    expect(new ReplayCaptureSource({ path: 'foo.pcap', speed: 0, loop: false }).description).toBe(
      'replay foo.pcap as fast as possible',
    );
  });

  it('runs only once', async () => {
    const file = scratch.write(buildPcap({ records: recordsAt([0]) }).bytes);
    const source = new ReplayCaptureSource({ path: file, speed: 0, loop: false });
    await source.run(new FrameCollector());
    await expect(source.run(new FrameCollector())).rejects.toBeInstanceOf(SniffmeshError);
  });
});

describe('the per-frame path', () => {
  it('reads the wall clock once per burst of frames and every 1024 frames within one, not per frame', async () => {
    let reads = 0;
    const rebaser = new WallClockRebasingSink(0, () => {
      reads++;
      return 1_700_000_000_000 + reads;
    });
    rebaser.downstream = new FrameCollector();
    const data = frameBytes(20, 0);
    for (let i = 0; i < 10_000; i++) rebaser.onFrame(1, 0, 0, data, 0, 20, 20, 0);
    expect(reads).toBe(Math.ceil(10_000 / 1024));
    await endOfBurst();
    rebaser.onFrame(1, 0, 0, data, 0, 20, 20, 0);
    expect(reads).toBe(Math.ceil(10_000 / 1024) + 1);
  });

  it.each([0, 2])('allocates nothing while rebasing timestamps (speed %s)', async (speed) => {
    const rebaser = new WallClockRebasingSink(speed, Date.now);
    let delivered = 0;
    const counting: FrameSink = {
      onFrame() {
        delivered++;
      },
    };
    rebaser.downstream = counting;
    const data = frameBytes(128, 0);
    // File time outruns the loop's wall time: at speed 2 frames are due after the clock reading and
    // are clamped to it. The real clock is read (and allocates) once per FRAMES_PER_CLOCK_READ frames.
    const run = (frames: number) => {
      for (let i = 0; i < frames; i++) {
        rebaser.onFrame(1, FILE_EPOCH_SECONDS + (i >> 10), (i & 1023) * 1000, data, 4, 100, 100, 0);
      }
    };
    run(ALLOCATION_WARMUP_FRAMES);
    const probes = [];
    for (let attempt = 0; attempt < ALLOCATION_ATTEMPTS; attempt++) {
      const probe = await probeAllocation(() => run(ALLOCATION_MEASURED_FRAMES));
      probes.push(probe);
      // A stray collection from the runtime can happen once; an allocating path collects every time.
      if (probe.collections === 0) break;
    }
    expect(probes.at(-1)!.collections, JSON.stringify(probes)).toBe(0);
    expect(delivered).toBeGreaterThanOrEqual(ALLOCATION_WARMUP_FRAMES + ALLOCATION_MEASURED_FRAMES);
  });
});
