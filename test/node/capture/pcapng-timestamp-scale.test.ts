import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PcapngTimestampScale } from '../../../src/node/capture/pcapng-timestamp-scale.js';

/** The exact answer, with BigInt: floor division, nanoseconds truncated within the unit. */
function reference(tsresol: number, offset: number, high: number, low: number): [number, number] {
  const units = (BigInt(high) << 32n) | BigInt(low);
  const perSecond = tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
  const seconds = units / perSecond;
  const nanos = ((units % perSecond) * 1_000_000_000n) / perSecond;
  return [Number(seconds) + offset, Number(nanos)];
}

function convert(tsresol: number | undefined, offset: number, high: number, low: number): [number, number] {
  const scale = new PcapngTimestampScale(tsresol, offset);
  scale.convert(high, low);
  return [scale.seconds, scale.nanos];
}

describe('pcapng timestamp scale', () => {
  it.each([
    // [tsresol, offset, high, low, seconds, nanos]
    [undefined, 0, 0, 0, 0, 0],
    [undefined, 0, 0x0006_0a24, 0x181e_4000, 1_700_000_000, 0], // 1.7e15 us
    [9, 0, 0x1797_9cfe, 0x362a_0015, 1_700_000_000, 21], // 1.7e18 + 21 ns: beyond 2^53
    [9, 0, 0xffff_ffff, 0xffff_ffff, 18_446_744_073, 709_551_615], // the largest count
    [6, -10, 0, 20_000_001, 10, 1000],
    [0x80 | 8, 0, 0, 0x1ff, 1, 996_093_750], // 511/256 s
    [0x80 | 30, 0, 1, 0x4000_0001, 5, 0], // 2^32 + 2^30 + 1 units of 2^-30 s: 5 s + 0.93 ns
  ])(
    'converts tsresol %s, offset %i, units %i:%i to %i s %i ns',
    (tsresol, offset, high, low, seconds, nanos) => {
      expect(convert(tsresol, offset, high, low)).toEqual([seconds, nanos]);
    },
  );

  it('is exact for every decimal and binary resolution and any 64-bit count', () => {
    const resolutions = [
      ...Array.from({ length: 20 }, (_, k) => k), // 10^-0 .. 10^-19 s (10^-10 and finer use BigInt)
      ...Array.from({ length: 64 }, (_, k) => 0x80 | k), // 2^-0 .. 2^-63 s
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...resolutions),
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        fc.oneof(fc.integer({ min: 0, max: 0x1f_ffff }), fc.integer({ min: 0, max: 0xffff_ffff })),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (tsresol, offset, high, low) => {
          expect(convert(tsresol, offset, high, low)).toEqual(reference(tsresol, offset, high, low));
        },
      ),
      { numRuns: 20_000, seed: 7 },
    );
  });
});
