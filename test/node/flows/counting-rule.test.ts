import { describe, expect, it } from 'vitest';
import {
  countingRule,
  countingVerdict,
  VERDICT_COUNT,
  VERDICT_SKIP,
  VERDICT_TRANSIT,
} from '../../../src/node/flows/counting-rule.js';
import { KEY_DST, KEY_META, KEY_SRC, KEY_WORDS } from '../../../src/node/flows/flow-facts.js';
import { LocalNetworks } from '../../../src/node/flows/local-networks.js';

/** The cluster's counting rule (counting-rule.ts): each row is one case, with the reason it must be so. */
const TABLE: [
  direction: number,
  sourceIsMember: boolean,
  destinationIsMember: boolean,
  verdict: number,
  why: string,
][] = [
  [1, false, false, VERDICT_COUNT, 'sent by this node: its own to count'],
  [1, true, true, VERDICT_COUNT, 'sent by this node, whoever else holds the ends'],
  [3, false, false, VERDICT_COUNT, 'both ends local: counted once, here'],
  [3, true, true, VERDICT_COUNT, 'both ends local, members notwithstanding'],
  [2, false, false, VERDICT_COUNT, 'received from a non-member: nobody else counts it'],
  [2, false, true, VERDICT_COUNT, 'received from a non-member (the destination is ours anyway)'],
  [2, true, false, VERDICT_SKIP, 'received from a member: that member counts it as sent'],
  [2, true, true, VERDICT_SKIP, 'received from a member'],
  [0, false, false, VERDICT_TRANSIT, 'transit between non-members: merged by max across nodes'],
  [0, true, false, VERDICT_SKIP, 'transit from a member: that member counts it'],
  [0, false, true, VERDICT_SKIP, 'transit to a member: that member counts it'],
  [0, true, true, VERDICT_SKIP, 'transit between members'],
];

describe('the counting rule', () => {
  it.each(TABLE)('direction %i, source member %s, destination member %s -> %i (%s)', (d, s, t, verdict) => {
    expect(countingRule(d, s, t)).toBe(verdict);
  });

  it('reads the same verdicts from a flow record, looking members up by address', () => {
    const members = new LocalNetworks();
    members.add('10.1.0.0/16');
    const member = 0x0a010005; // 10.1.0.5
    const outsider = 0xc6130001; // 198.19.0.1
    const records = new Int32Array(KEY_WORDS);
    records[KEY_META] = (4 << 8) | 6;
    const scratch = new Uint32Array(4);
    for (const [d, s, t, verdict] of TABLE) {
      records[KEY_SRC] = s ? member : outsider;
      records[KEY_DST] = t ? member : outsider;
      expect(countingVerdict(d, members, records, 0, scratch), `direction ${d}, ${s}, ${t}`).toBe(verdict);
    }
    // No other members answering: nothing is skipped, transit stays transit.
    expect([0, 1, 2, 3].map((d) => countingVerdict(d, null, records, 0, scratch))).toEqual([
      VERDICT_TRANSIT,
      VERDICT_COUNT,
      VERDICT_COUNT,
      VERDICT_COUNT,
    ]);
  });
});
