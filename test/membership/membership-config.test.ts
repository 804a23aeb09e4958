import { describe, expect, it } from 'vitest';
import {
  configForPreset,
  lanConfig,
  localConfig,
  type MembershipConfig,
  pushPullIntervalFor,
  retransmitLimit,
  suspicionTimeoutMs,
} from '../../src/membership/membership-config.js';

/**
 * Suspicion timeouts worked out by hand from mult x max(1, log10(N)) x interval:
 * lan = 4 x 1000 ms, local = 3 x 500 ms; log10(30) = 1.47712, log10(60) = 1.77815.
 * memberlist truncates log10(N) to thousandths before multiplying, we round the product: the two may
 * differ by one millisecond, so the table allows exactly that.
 */
const SUSPICION_TIMEOUT_TABLE: ReadonlyArray<{ members: number; lanMs: number; localMs: number }> = [
  { members: 1, lanMs: 4000, localMs: 1500 },
  { members: 2, lanMs: 4000, localMs: 1500 },
  { members: 10, lanMs: 4000, localMs: 1500 },
  { members: 30, lanMs: 5908, localMs: 2216 },
  { members: 60, lanMs: 7113, localMs: 2667 },
  { members: 100, lanMs: 8000, localMs: 3000 },
];
const MEMBERLIST_ROUNDING_TOLERANCE_MS = 1;

describe('suspicionTimeoutMs', () => {
  for (const row of SUSPICION_TIMEOUT_TABLE) {
    it(`is ${row.lanMs} ms (lan) and ${row.localMs} ms (local) for ${row.members} members`, () => {
      const lan = suspicionTimeoutMs(lanConfig(), row.members);
      const local = suspicionTimeoutMs(localConfig(), row.members);
      expect(Number.isInteger(lan)).toBe(true);
      expect(Number.isInteger(local)).toBe(true);
      expect(Math.abs(lan - row.lanMs)).toBeLessThanOrEqual(MEMBERLIST_ROUNDING_TOLERANCE_MS);
      expect(Math.abs(local - row.localMs)).toBeLessThanOrEqual(MEMBERLIST_ROUNDING_TOLERANCE_MS);
    });
  }

  it('treats zero members like one (the floor of the scale is 1)', () => {
    expect(suspicionTimeoutMs(lanConfig(), 0)).toBe(4000);
  });

  it('never shrinks as the cluster grows', () => {
    let previous = 0;
    for (let members = 1; members <= 2000; members++) {
      const timeout = suspicionTimeoutMs(lanConfig(), members);
      expect(timeout).toBeGreaterThanOrEqual(previous);
      previous = timeout;
    }
  });
});

describe('retransmitLimit', () => {
  // retransmitMult (4 in both presets) x ceil(log10(N + 1)), worked out by hand.
  const table: ReadonlyArray<[members: number, sends: number]> = [
    [1, 4],
    [2, 4],
    [9, 4],
    [10, 8],
    [30, 8],
    [99, 8],
    [100, 12],
    [999, 12],
    [1000, 16],
  ];
  for (const [members, sends] of table) {
    it(`sends a change ${sends} times in a cluster of ${members}`, () => {
      expect(retransmitLimit(lanConfig(), members)).toBe(sends);
      expect(retransmitLimit(localConfig(), members)).toBe(sends);
    });
  }

  it('scales with retransmitMult', () => {
    const config: MembershipConfig = { ...lanConfig(), retransmitMult: 3 };
    expect(retransmitLimit(config, 50)).toBe(6);
  });
});

describe('pushPullIntervalFor', () => {
  it('stays at the configured interval up to 32 members', () => {
    for (const members of [0, 1, 2, 16, 31, 32]) {
      expect(pushPullIntervalFor(lanConfig(), members)).toBe(30_000);
      expect(pushPullIntervalFor(localConfig(), members)).toBe(5_000);
    }
  });

  // memberlist's pushPullScale: ceil(log2(N) - log2(32)) + 1 times the interval above 32 members.
  const table: ReadonlyArray<[members: number, multiplier: number]> = [
    [33, 2],
    [64, 2],
    [65, 3],
    [128, 3],
    [129, 4],
    [256, 4],
    [1024, 6],
  ];
  for (const [members, multiplier] of table) {
    it(`is ${multiplier} x the interval for ${members} members`, () => {
      expect(pushPullIntervalFor(lanConfig(), members)).toBe(30_000 * multiplier);
      expect(pushPullIntervalFor(localConfig(), members)).toBe(5_000 * multiplier);
    });
  }
});

describe('configForPreset', () => {
  it('returns the lan and local presets by name', () => {
    expect(configForPreset('lan')).toEqual(lanConfig());
    expect(configForPreset('local')).toEqual(localConfig());
    expect(configForPreset('lan').preset).toBe('lan');
    expect(configForPreset('local').preset).toBe('local');
  });

  for (const name of ['', 'LAN', 'wan', 'local ', 'default']) {
    it(`throws a RangeError naming the unknown preset '${name}'`, () => {
      expect(() => configForPreset(name)).toThrow(RangeError);
      expect(() => configForPreset(name)).toThrow(`unknown timing preset '${name}'`);
    });
  }
});

describe('the presets', () => {
  for (const config of [lanConfig(), localConfig()]) {
    describe(config.preset, () => {
      it('finishes a direct and an indirect probe within one probe interval', () => {
        expect(config.probeTimeoutMs + config.indirectProbeTimeoutMs).toBeLessThan(config.probeIntervalMs);
      });

      it('has every numeric field positive and finite', () => {
        const numericFields = Object.entries(config).filter(([, value]) => typeof value === 'number');
        // preset is the only non-numeric field.
        expect(numericFields.length).toBe(Object.keys(config).length - 1);
        for (const [name, value] of numericFields) {
          expect({ name, positive: Number.isFinite(value) && value > 0 }).toEqual({ name, positive: true });
        }
      });

      it('retries joins from a smaller initial delay up to the maximum', () => {
        expect(config.joinRetryInitialMs).toBeLessThanOrEqual(config.joinRetryMaxMs);
      });

      it('uses whole counts for counts', () => {
        for (const count of [
          config.indirectChecks,
          config.gossipNodes,
          config.leaveRepeats,
          config.retransmitMult,
        ]) {
          expect(Number.isInteger(count)).toBe(true);
        }
      });
    });
  }

  it('local probes faster than lan and keeps every other lan limit', () => {
    const lan = lanConfig();
    const local = localConfig();
    expect(local.probeIntervalMs).toBeLessThan(lan.probeIntervalMs);
    expect(local.maxDatagramBytes).toBe(lan.maxDatagramBytes);
    expect(local.replayWindowMs).toBe(lan.replayWindowMs);
  });
});
