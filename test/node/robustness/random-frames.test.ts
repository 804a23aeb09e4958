import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import {
  DECODED,
  UNDECODED_REASON_COUNT,
  UNDECODED_REASON_NAMES,
} from '../../../src/node/decode/decode-outcome.js';
import { PacketDecoder } from '../../../src/node/decode/packet-decoder.js';
import { denseSelection } from '../../../src/node/flows/flow-range-read.js';
import { FlowStore } from '../../../src/node/flows/flow-store.js';
import { HISTORY_ENTRIES_PER_FLOW_BUDGET } from '../../../src/node/flows/flow-store-config.js';
import { GROUPINGS, METRICS } from '../../../src/node/flows/key-vocabulary.js';
import { queryTop } from '../../../src/node/flows/top-query.js';
import { FrameAccountant } from '../../../src/node/frame-accountant.js';
import { forceGc, probeAllocation } from '../../helpers/heap-probe.js';
import { loadScapyFrames } from '../../helpers/scapy-frames.js';
import { SeededRandom } from '../../helpers/seeded-random.js';

const FRAME_COUNT = 1_000_000;
const MAX_FLOWS = 4096;
/** SNIFFMESH_FUZZ_SEED=<n> replays a run with another seed; the seed is named in every report line. */
const SEED = Number(process.env.SNIFFMESH_FUZZ_SEED ?? 0x5eed);
/** The whole run (generation, accounting, questions) must finish well inside the test timeout. */
const RUN_TIME_LIMIT_MS = 60_000;
/** Heap after the run and a full collection; the store's own share is a few MB at this maxFlows. */
const HEAP_AFTER_RUN_MAX_BYTES = 64 * 1024 * 1024;
const FRAMES_PER_SECOND = 1000;
const EPOCH_SECOND = 1_700_000_000;
/** Frames are written at a random offset in this scratch area, like records in a capture buffer. */
const SCRATCH_BYTES = 4096;
const MAX_FRAME_BYTES = 1600;
const QUESTION_WINDOWS: (number | null)[] = [null, 1, 60, 600, 3600];

const { cases, supportedLinkTypes } = loadScapyFrames();

describe('FrameAccountant + FlowStore on a million random and mutated frames', () => {
  it('never throws or hangs, stays within maxFlows and counts every frame', () => {
    try {
      accountRandomFrames();
    } catch (error) {
      if (error instanceof Error)
        error.message = `${error.message} (seed ${SEED}: replay with SNIFFMESH_FUZZ_SEED=${SEED})`;
      throw error;
    }
  });

  function accountRandomFrames(): void {
    const random = new SeededRandom(SEED);
    // Valid frames from the scapy oracle are the seeds for mutation.
    const seeds = cases.filter((c) => c.frame.length <= MAX_FRAME_BYTES);
    const store = new FlowStore({ maxFlows: MAX_FLOWS });
    const accountant = new FrameAccountant(store);
    const referenceDecoder = new PacketDecoder();
    const outcomes = new Float64Array(UNDECODED_REASON_COUNT);
    const scratch = new Uint8Array(SCRATCH_BYTES);
    let wireBytes = 0;
    let tableOverflows = 0;
    let maxTableCount = 0;
    let second = EPOCH_SECOND;
    const started = performance.now();

    for (let n = 0; n < FRAME_COUNT; n++) {
      const seed = seeds[random.int(seeds.length)];
      const offset = random.int(64);
      let length = seed.frame.length;
      let linkType = seed.linkType;
      scratch.set(seed.frame, offset);
      const mode = random.int(100);
      if (mode < 20) {
        // unchanged: known flows keep accumulating
      } else if (mode < 45) {
        const flips = random.range(1, 4);
        for (let i = 0; i < flips; i++) scratch[offset + random.int(length)] = random.int(256);
      } else if (mode < 60) {
        length = random.int(length + 1);
      } else if (mode < 70) {
        const extra = random.range(1, 64);
        for (let i = 0; i < extra; i++) scratch[offset + length + i] = random.int(256);
        length += extra;
      } else if (mode < 78) {
        linkType = random.chance(0.5) ? random.pick(supportedLinkTypes) : random.int(300);
      } else if (mode < 86) {
        length = random.int(129);
        for (let i = 0; i < length; i++) scratch[offset + i] = random.int(256);
        linkType = random.pick(supportedLinkTypes);
      } else if (seed.layout !== null) {
        // New addresses and ports: a flood of new flows that forces eviction.
        const ip = offset + seed.layout.ipOffset;
        const v6 = seed.expected.ipVersion === 6;
        const from = ip + (v6 ? 8 : 12);
        const to = ip + (v6 ? 40 : 20);
        for (let i = from; i < to; i++) if (random.chance(0.3)) scratch[i] = random.int(256);
        if (seed.layout.portsEnd !== null) {
          const t = offset + seed.layout.portsEnd - 4;
          if (t >= to) for (let i = t; i < t + 4; i++) scratch[i] = random.int(256);
        }
      }
      // Time: 1000 frames a second, some out of order, and two jumps past the retention.
      if (n % FRAMES_PER_SECOND === 0) second++;
      if (n === 300_000 || n === 700_000) second += 5000;
      const tsSeconds = random.chance(0.01) ? second - random.int(10) : second;
      const originalLength = random.chance(0.05) ? random.int(length + 1) : length + random.int(1500);
      accountant.onFrame(linkType, tsSeconds, random.int(1e9), scratch, offset, length, originalLength, 0);
      wireBytes += originalLength;
      outcomes[referenceDecoder.decode(linkType, scratch, offset, length)]++;
      const count = store.table.count;
      if (count > MAX_FLOWS) tableOverflows++;
      if (count > maxTableCount) maxTableCount = count;
      if (n % 50_000 === 0) store.advanceTo(second);
      // Questions mid-stream as well: they must not disturb counting.
      if (n % 250_000 === 125_000)
        queryTop(store, { group: 'host', by: 'bytes', limit: 10, windowSeconds: 60 });
    }
    store.closeAll();
    const accountingMs = performance.now() - started;

    expect(tableOverflows).toBe(0);
    expect(maxTableCount).toBe(MAX_FLOWS);
    expect(store.evictedFlows).toBeGreaterThan(0);
    expect(store.historyEntryCount).toBeLessThanOrEqual(HISTORY_ENTRIES_PER_FLOW_BUDGET * MAX_FLOWS);

    const all = store.select(null);
    expect(all.totals.packets).toBe(FRAME_COUNT);
    expect(all.totals.bytes).toBe(wireBytes);
    // The accountant files every frame under the outcome the decoder gives it.
    for (let r = 1; r < UNDECODED_REASON_COUNT; r++) {
      expect(all.totals.undecodedPackets[r], UNDECODED_REASON_NAMES[r]).toBe(outcomes[r]);
    }
    let flowPackets = 0;
    const allFlows = denseSelection(store.table, all.flows);
    for (let i = 0; i < allFlows.count; i++) flowPackets += allFlows.packets[i];
    expect(flowPackets + all.totals.evictedPackets).toBe(outcomes[DECODED]);
    // Every outcome occurred, so every path was exercised.
    for (let r = 0; r < UNDECODED_REASON_COUNT; r++)
      expect(outcomes[r], UNDECODED_REASON_NAMES[r]).toBeGreaterThan(1000);

    for (const group of GROUPINGS) {
      for (const by of METRICS) {
        for (const windowSeconds of QUESTION_WINDOWS) {
          const report = queryTop(store, { group, by, limit: 20, windowSeconds });
          const context = `${group} by ${by}, window ${windowSeconds}`;
          expect(report.rows.length, context).toBeLessThanOrEqual(20);
          expect(report.groups, context).toBeGreaterThanOrEqual(report.rows.length);
          for (let i = 1; i < report.rows.length; i++) {
            expect(report.rows[i - 1][by] as number, context).toBeGreaterThanOrEqual(
              report.rows[i][by] as number,
            );
          }
          const undecoded = Object.values(report.undecoded).reduce((a, b) => a + b, 0);
          expect(report.totals.ipPackets + undecoded, context).toBe(report.totals.packets);
          if (windowSeconds === null) expect(report.totals.packets, context).toBe(FRAME_COUNT);
          expect(report.evicted.flows, context).toBe(store.evictedFlows);
        }
      }
    }
    const totalMs = performance.now() - started;
    forceGc();
    const heapUsed = process.memoryUsage().heapUsed;
    console.info(
      `random-frames (seed ${SEED}, replay with SNIFFMESH_FUZZ_SEED=${SEED}): ${FRAME_COUNT} frames accounted in ${accountingMs.toFixed(0)} ms, questions done at ` +
        `${totalMs.toFixed(0)} ms; outcomes ${Array.from(outcomes).join('/')}; evicted flows ` +
        `${store.evictedFlows}; heap after gc ${(heapUsed / 1048576).toFixed(1)} MiB`,
    );
    expect(totalMs).toBeLessThan(RUN_TIME_LIMIT_MS);
    expect(heapUsed).toBeLessThan(HEAP_AFTER_RUN_MAX_BYTES);
  }

  it('allocates nothing per frame for frames of known flows (no garbage collection in 2 million frames)', async () => {
    const seeds = cases.filter((c) => c.expected.outcome === 'decoded' || c.expected.outcome === 'not-ip');
    const total = seeds.reduce((n, c) => n + c.frame.length, 0);
    const buffer = new Uint8Array(total);
    const offsets = new Int32Array(seeds.length);
    const lengths = new Int32Array(seeds.length);
    const linkTypes = new Int32Array(seeds.length);
    let at = 0;
    seeds.forEach((c, i) => {
      buffer.set(c.frame, at);
      offsets[i] = at;
      lengths[i] = c.frame.length;
      linkTypes[i] = c.linkType;
      at += c.frame.length;
    });
    const store = new FlowStore({ maxFlows: MAX_FLOWS });
    const accountant = new FrameAccountant(store);
    const run = (calls: number, tsSeconds: number): void => {
      for (let n = 0, i = 0; n < calls; n++) {
        // Rising fractional timestamps, as in every real capture (nanos < 1e9 stay small integers, so
        // the loop itself passes no boxed doubles).
        accountant.onFrame(
          linkTypes[i],
          tsSeconds,
          n * 400,
          buffer,
          offsets[i],
          lengths[i],
          lengths[i] + 4,
          0,
        );
        i = i + 1 === linkTypes.length ? 0 : i + 1;
      }
    };
    run(1_000_000, EPOCH_SECOND);
    const probes = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      // One new second per attempt: its first frame closes the previous second (a few allocations per
      // second are fine; per frame is not).
      const probe = await probeAllocation(() => run(2_000_000, EPOCH_SECOND + 1 + attempt));
      probes.push(probe);
      if (probe.collections === 0) break;
    }
    expect(probes[probes.length - 1].collections, JSON.stringify(probes)).toBe(0);
  });
});
