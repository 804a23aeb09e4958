import { describe, expect, it } from 'vitest';
import { fanOut } from '../../src/query/fan-out.js';

/** fan-out.ts: one deadline for all, a limit on calls in flight, every target's outcome in order. */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fanOut', () => {
  it('never has more than `concurrency` calls in flight, and asks every target', async () => {
    let inFlight = 0;
    let most = 0;
    const asked: number[] = [];
    const outcomes = await fanOut(
      Array.from({ length: 20 }, (_, i) => i),
      async (target) => {
        asked.push(target);
        inFlight++;
        most = Math.max(most, inFlight);
        await sleep(5 + (target % 3) * 5);
        inFlight--;
        return target * 10;
      },
      { deadlineAt: performance.now() + 5000, concurrency: 3 },
    );
    expect(most).toBe(3);
    expect(asked.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(outcomes.map((o) => [o.target, o.status, o.value])).toEqual(
      Array.from({ length: 20 }, (_, i) => [i, 'ok', i * 10]),
    );
  });

  it('reports failures with their cause, and hung targets as timed out by the deadline', async () => {
    const failure = Object.assign(new Error('UNAVAILABLE: refused'), { grpcCode: 14 });
    const started = performance.now();
    const outcomes = await fanOut(
      ['ok', 'fails', 'hangs', 'throws'],
      (target, signal) => {
        if (target === 'throws') throw new Error('synchronous');
        if (target === 'fails') return Promise.reject(failure);
        if (target === 'hangs')
          return new Promise<string>((_, reject) =>
            signal.addEventListener('abort', () => reject(new Error('aborted'))),
          );
        return Promise.resolve('fine');
      },
      { deadlineAt: performance.now() + 150, concurrency: 8 },
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'failed', 'timeout', 'failed']);
    expect(outcomes[1]?.cause).toBe(failure);
    expect(outcomes[1]?.error).toBe('UNAVAILABLE: refused');
    expect(outcomes[2]?.error).toBe('did not answer before the deadline');
    expect(outcomes[3]?.error).toBe('synchronous');
  });

  it('names targets it never got to ask before the deadline (queued behind a hung one)', async () => {
    const outcomes = await fanOut(['hangs', 'queued'], () => new Promise(() => {}), {
      deadlineAt: performance.now() + 100,
      concurrency: 1,
    });
    expect(outcomes.map((o) => [o.status, o.error])).toEqual([
      ['timeout', 'did not answer before the deadline'],
      ['timeout', 'not asked before the deadline'],
    ]);
  });

  it('answers at once for no targets', async () => {
    expect(await fanOut([], async () => 1, { deadlineAt: performance.now() + 10, concurrency: 1 })).toEqual(
      [],
    );
  });
});
