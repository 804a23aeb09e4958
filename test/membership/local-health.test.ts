import { describe, expect, it } from 'vitest';
import { EventLoopStallWatch, LocalHealth } from '../../src/membership/local-health.js';
import { STALL_WATCH_INTERVAL_MS } from '../../src/membership/membership-config.js';

type HealthEvent = 'failed' | 'succeeded' | 'refuted' | 'stalled';

function apply(health: LocalHealth, event: HealthEvent): void {
  if (event === 'failed') health.probeFailed();
  else if (event === 'succeeded') health.probeSucceeded();
  else if (event === 'refuted') health.refutedSuspicion();
  else health.stalled();
}

/**
 * Lifeguard's local health, worked out by hand: a failed probe and a refuted suspicion add 1, a stall
 * adds 2, an answered probe takes 1 away; the score stays within [0, max]; probe timeouts are
 * multiplied by 1 + score.
 */
const HEALTH_TABLE: ReadonlyArray<{
  readonly name: string;
  readonly max: number;
  readonly events: readonly HealthEvent[];
  readonly score: number;
}> = [
  { name: 'a fresh member', max: 8, events: [], score: 0 },
  { name: 'one failed probe', max: 8, events: ['failed'], score: 1 },
  { name: 'one refuted suspicion', max: 8, events: ['refuted'], score: 1 },
  { name: 'one stall', max: 8, events: ['stalled'], score: 2 },
  { name: 'an answered probe at 0 (floor)', max: 8, events: ['succeeded'], score: 0 },
  { name: 'two failures, one answer', max: 8, events: ['failed', 'failed', 'succeeded'], score: 1 },
  { name: 'a stall, then two answers', max: 8, events: ['stalled', 'succeeded', 'succeeded'], score: 0 },
  { name: 'a stall, a refutation, a failure', max: 8, events: ['stalled', 'refuted', 'failed'], score: 4 },
  { name: 'nine failures (ceiling)', max: 8, events: Array(9).fill('failed'), score: 8 },
  { name: 'a stall at 7 clamps to 8', max: 8, events: [...Array(7).fill('failed'), 'stalled'], score: 8 },
  {
    name: 'five stalls, then an answer',
    max: 8,
    events: [...Array(5).fill('stalled'), 'succeeded'],
    score: 7,
  },
  { name: 'below the floor, then a failure', max: 8, events: ['succeeded', 'succeeded', 'failed'], score: 1 },
  { name: 'max 0: never sick', max: 0, events: ['stalled', 'failed', 'refuted'], score: 0 },
  { name: 'max 3: a stall and two failures', max: 3, events: ['stalled', 'failed', 'failed'], score: 3 },
];

describe('LocalHealth', () => {
  for (const row of HEALTH_TABLE) {
    it(`${row.name}: score ${row.score}, probe timeouts x${row.score + 1} (max ${row.max})`, () => {
      const health = new LocalHealth(row.max);
      for (const event of row.events) apply(health, event);
      expect(health.score).toBe(row.score);
      expect(health.multiplier).toBe(row.score + 1);
    });
  }

  it('stretches the local preset’s probe timeouts from 200 / 250 ms up to 1800 / 2250 ms', () => {
    const health = new LocalHealth(8);
    for (let index = 0; index < 20; index++) health.stalled();
    expect([200 * health.multiplier, 250 * health.multiplier]).toEqual([1800, 2250]);
  });
});

/** A clock the test moves by hand, and a watch on it (threshold 200 ms, the presets' eventLoopStallMs). */
function watchOnClock(thresholdMs = 200) {
  const clock = { nowMs: 0 };
  const stalls: number[] = [];
  const watch = new EventLoopStallWatch(
    thresholdMs,
    (stallMs) => stalls.push(stallMs),
    () => clock.nowMs,
  );
  /** The watch timer fires at each of these times (ms on the clock). */
  const ticksAt = (...times: number[]) => {
    for (const time of times) {
      clock.nowMs = time;
      watch.tick();
    }
  };
  return { clock, stalls, watch, ticksAt };
}

const TICK = STALL_WATCH_INTERVAL_MS;

/**
 * The stall verdicts: a tick later than the threshold is a stall (ending at that tick); a probe verdict
 * is skipped when a stall ended within the period, when the watch itself is overdue right now, or when
 * the probe's own timer fired later than the threshold. Threshold 200 ms, ticks every 50 ms.
 */
const VERDICT_TABLE: ReadonlyArray<{
  readonly name: string;
  readonly ticks: readonly number[];
  readonly checkAtMs: number;
  readonly periodMs: number;
  readonly timerLateMs: number;
  readonly stalls: readonly number[];
  readonly stalledWithin: boolean;
  readonly stallWithinOrLate: boolean;
}> = [
  {
    name: 'ticks on time, probe on time',
    ticks: [TICK, 2 * TICK, 3 * TICK],
    checkAtMs: 3 * TICK + 10,
    periodMs: 1000,
    timerLateMs: 0,
    stalls: [],
    stalledWithin: false,
    stallWithinOrLate: false,
  },
  {
    name: 'a tick exactly 200 ms late is no stall',
    ticks: [TICK, 2 * TICK + 200],
    checkAtMs: 2 * TICK + 200,
    periodMs: 1000,
    timerLateMs: 0,
    stalls: [],
    stalledWithin: false,
    stallWithinOrLate: false,
  },
  {
    name: 'a tick 201 ms late is a stall of 201 ms',
    ticks: [TICK, 2 * TICK + 201],
    checkAtMs: 2 * TICK + 201,
    periodMs: 1000,
    timerLateMs: 0,
    stalls: [201],
    stalledWithin: true,
    stallWithinOrLate: true,
  },
  {
    name: 'a stall that ended exactly one period ago, ticks on time since, still counts',
    ticks: [TICK, 2 * TICK + 300, ...Array.from({ length: 20 }, (_, i) => 2 * TICK + 300 + (i + 1) * TICK)],
    checkAtMs: 2 * TICK + 300 + 1000,
    periodMs: 1000,
    timerLateMs: 0,
    stalls: [300],
    stalledWithin: true,
    stallWithinOrLate: true,
  },
  {
    name: 'a stall one period and 1 ms ago, ticks on time since, is over',
    ticks: [TICK, 2 * TICK + 300, ...Array.from({ length: 20 }, (_, i) => 2 * TICK + 300 + (i + 1) * TICK)],
    checkAtMs: 2 * TICK + 300 + 1001,
    periodMs: 1000,
    timerLateMs: 0,
    stalls: [300],
    stalledWithin: false,
    stallWithinOrLate: false,
  },
  {
    name: 'a stall within the period, ticks on time since',
    ticks: [TICK, 2 * TICK + 300, 3 * TICK + 300, 4 * TICK + 300],
    checkAtMs: 4 * TICK + 300 + 10,
    periodMs: 1000,
    timerLateMs: 0,
    stalls: [300],
    stalledWithin: true,
    stallWithinOrLate: true,
  },
  {
    name: 'the watch overdue by 201 ms at the check (stalling right now)',
    ticks: [TICK],
    checkAtMs: 2 * TICK + 201,
    periodMs: 1000,
    timerLateMs: 0,
    stalls: [],
    stalledWithin: true,
    stallWithinOrLate: true,
  },
  {
    name: 'the watch overdue by exactly 200 ms is not stalling yet',
    ticks: [TICK],
    checkAtMs: 2 * TICK + 200,
    periodMs: 1000,
    timerLateMs: 0,
    stalls: [],
    stalledWithin: false,
    stallWithinOrLate: false,
  },
  {
    name: 'no stall, but the probe timer fired 201 ms late',
    ticks: [TICK, 2 * TICK],
    checkAtMs: 2 * TICK + 10,
    periodMs: 1000,
    timerLateMs: 201,
    stalls: [],
    stalledWithin: false,
    stallWithinOrLate: true,
  },
  {
    name: 'no stall, the probe timer exactly 200 ms late',
    ticks: [TICK, 2 * TICK],
    checkAtMs: 2 * TICK + 10,
    periodMs: 1000,
    timerLateMs: 200,
    stalls: [],
    stalledWithin: false,
    stallWithinOrLate: false,
  },
  {
    name: 'two stalls are two calls, each with its own length',
    ticks: [TICK, 2 * TICK + 250, 3 * TICK + 250, 4 * TICK + 750],
    checkAtMs: 4 * TICK + 760,
    periodMs: 5,
    timerLateMs: 0,
    stalls: [250, 500],
    stalledWithin: false,
    stallWithinOrLate: false,
  },
];

describe('EventLoopStallWatch', () => {
  for (const row of VERDICT_TABLE) {
    it(`${row.name}: stalls [${row.stalls.join(', ')}], stalledWithin ${row.stalledWithin}, stallWithinOrLate ${row.stallWithinOrLate}`, () => {
      const { clock, stalls, watch, ticksAt } = watchOnClock();
      ticksAt(...row.ticks);
      clock.nowMs = row.checkAtMs;
      expect(stalls).toEqual(row.stalls);
      expect(watch.stalledWithin(row.periodMs)).toBe(row.stalledWithin);
      expect(watch.stallWithinOrLate(row.periodMs, row.timerLateMs)).toBe(row.stallWithinOrLate);
    });
  }

  it('measures lateness from start(), not from construction', () => {
    const { clock, stalls, watch, ticksAt } = watchOnClock();
    clock.nowMs = 10_000;
    watch.start();
    watch.stop();
    ticksAt(10_000 + TICK);
    expect(stalls).toEqual([]);
  });

  it('notices a real stall of the event loop (a 300 ms busy loop) through its own timer', async () => {
    const stalled = new Promise<number>((resolve) => {
      const watch = new EventLoopStallWatch(200, (stallMs) => {
        watch.stop();
        resolve(stallMs);
      });
      watch.start();
      // Let the watch tick once on time, then block the loop.
      setTimeout(() => {
        const until = performance.now() + 300;
        while (performance.now() < until) {
          // Busy: nothing else runs, the watch timer comes due and waits.
        }
      }, TICK + 5);
    });
    expect(await stalled).toBeGreaterThan(200);
  });
});
