import { describe, expect, it } from 'vitest';
import { toWireMetadata } from '../../src/membership/member-metadata.js';
import {
  ACCUSATION_HEADROOM_MS,
  lanConfig,
  localConfig,
  MAX_INCARNATION_AHEAD_MS,
} from '../../src/membership/membership-config.js';
import {
  highestAdmissibleIncarnation,
  isNetworkText,
  judgeRecord,
} from '../../src/membership/record-admission.js';
import type { SwimRecord, SwimStateCode } from '../../src/membership/swim-wire.js';
import { NO_CAPTURE } from './membership-contract.js';

const NOW = Date.UTC(2026, 11, 4, 12);
const STARTED = NOW - 3600_000;

function record(
  state: SwimStateCode,
  incarnation: number,
  meta: Partial<ReturnType<typeof toWireMetadata>> = {},
): SwimRecord {
  return {
    host: '10.0.0.1:7946',
    state,
    incarnation,
    meta: {
      ...toWireMetadata({ ...NO_CAPTURE, id: '0123456789abcdef', name: 'web1', startedAtMs: STARTED }),
      ...meta,
    },
  };
}

const AHEAD = NOW + MAX_INCARNATION_AHEAD_MS;
const ACCUSE = AHEAD - ACCUSATION_HEADROOM_MS;

describe('judgeRecord', () => {
  it.each([
    ['an alive record at its start time', record(0, STARTED), false, undefined],
    ['an alive record a day ahead of our clock (the bound)', record(0, AHEAD), false, undefined],
    ['an alive record 1 ms beyond the bound', record(0, AHEAD + 1), false, 'impossible-incarnation'],
    ['an alive record at 2^53-1', record(0, Number.MAX_SAFE_INTEGER), false, 'impossible-incarnation'],
    ['an accusation (faulty) at the accusation bound', record(2, ACCUSE), false, undefined],
    ['an accusation (suspect) 1 ms beyond it', record(1, ACCUSE + 1), false, 'impossible-incarnation'],
    ['an accusation of ourselves up to the full bound (we refute it)', record(2, AHEAD), true, undefined],
    [
      'an accusation of ourselves beyond the full bound',
      record(2, AHEAD + 1),
      true,
      'impossible-incarnation',
    ],
    ['an incarnation below the start time', record(0, STARTED - 1), false, 'impossible-incarnation'],
    ['an empty name', record(0, STARTED, { n: '' }), false, 'invalid-name'],
    ['a name with ESC', record(0, STARTED, { n: 'a\u001bb' }), false, 'invalid-name'],
    ['a 65-character name', record(0, STARTED, { n: 'x'.repeat(65) }), false, 'invalid-name'],
    [
      'valid networks',
      record(0, STARTED, { a: ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32'] }),
      false,
      undefined,
    ],
    [
      'a network that is no address',
      record(0, STARTED, { a: ['10.0.0.0/8', 'evil'] }),
      false,
      'invalid-network',
    ],
  ] as const)('%s', (_, input, aboutSelf, expected) => {
    expect(judgeRecord(input, NOW, aboutSelf)).toBe(expected);
  });

  it('a refutation of an accusation accepted at the bound is admitted by a member whose clock is up to the headroom behind', () => {
    const accepted = highestAdmissibleIncarnation(NOW, true);
    const refutation = record(0, accepted + 1);
    expect(judgeRecord(refutation, NOW - ACCUSATION_HEADROOM_MS + 1, false)).toBeUndefined();
  });

  it('the headroom exceeds the clock agreement members need anyway (replayWindowMs), in every preset', () => {
    for (const config of [lanConfig(), localConfig()]) {
      expect(ACCUSATION_HEADROOM_MS).toBeGreaterThan(config.replayWindowMs);
    }
    // ms since the epoch plus the bound stay safe integers for hundreds of thousands of years.
    expect(Number.isSafeInteger(highestAdmissibleIncarnation(NOW, false) + 1)).toBe(true);
  });
});

describe('isNetworkText', () => {
  it.each([
    ['10.0.0.0/8', true],
    ['10.0.0.1', true],
    ['::1/128', true],
    ['10.0.0.0/33', false],
    ['::/129', false],
    ['10.0.0.0/', false],
    ['10.0.0.0/08x', false],
    ['', false],
    ['host.example', false],
  ])('%s -> %s', (text, valid) => {
    expect(isNetworkText(text)).toBe(valid);
  });
});
