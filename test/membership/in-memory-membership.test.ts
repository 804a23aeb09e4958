import { describe, expect, it } from 'vitest';
import { InMemoryMembership, InMemoryNetwork } from '../../src/membership/in-memory-membership.js';
import {
  aliveNames,
  describeMembershipContract,
  NO_CAPTURE,
  stateOf,
  waitUntil,
} from './membership-contract.js';

describeMembershipContract('in-memory fake', () => {
  const network = new InMemoryNetwork();
  let next = 1;
  return {
    settleMs: 1000,
    create(name, address) {
      const at = address ?? `10.0.0.${next++}:7947`;
      return { membership: new InMemoryMembership(network, at, { name, ...NO_CAPTURE }), address: at };
    },
    crash: (membership) => membership.stop(),
    joinAttempts: (membership) => (membership as InMemoryMembership).joinAttempts,
  };
});

describe('InMemoryNetwork', () => {
  it('a partition fails the other side on both sides, and healing brings everyone back alive', async () => {
    const network = new InMemoryNetwork();
    const members = ['a', 'b', 'c', 'd'].map(
      (name, index) => new InMemoryMembership(network, `10.1.0.${index + 1}:7947`, { name, ...NO_CAPTURE }),
    );
    await Promise.all(members.map((member) => member.start(['10.1.0.1:7947'])));
    await waitUntil(() => members.every((member) => aliveNames(member).length === 4), 1000, 'joined');
    network.partition(['10.1.0.1:7947', '10.1.0.2:7947']);
    await waitUntil(
      () =>
        stateOf(members[0] as InMemoryMembership, 'c') === 'failed' &&
        stateOf(members[3] as InMemoryMembership, 'a') === 'failed',
      2000,
      'each side fails the other',
    );
    network.heal();
    await waitUntil(() => members.every((member) => aliveNames(member).length === 4), 2000, 'healed');
    for (const member of members) await member.stop();
    expect(network.get('10.1.0.1:7947')).toBeUndefined();
  });

  it('two members cannot share one address', async () => {
    const network = new InMemoryNetwork();
    const a = new InMemoryMembership(network, '10.2.0.1:7947', { name: 'a', ...NO_CAPTURE });
    const b = new InMemoryMembership(network, '10.2.0.1:7947', { name: 'b', ...NO_CAPTURE });
    await a.start([]);
    await expect(b.start([])).rejects.toThrow(/already in use/);
    await a.stop();
  });
});
