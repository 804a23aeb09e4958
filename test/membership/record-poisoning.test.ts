import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvelopeTransport } from '../../src/membership/envelope-transport.js';
import { InMemoryDatagramNetwork } from '../../src/membership/in-memory-datagram-network.js';
import { InMemoryMembership, InMemoryNetwork } from '../../src/membership/in-memory-membership.js';
import type { MembershipEvent } from '../../src/membership/member.js';
import { toWireMetadata, type WireMetadata } from '../../src/membership/member-metadata.js';
import { MEMBER_NAME_RULE } from '../../src/membership/member-name.js';
import {
  ACCUSATION_HEADROOM_MS,
  localConfig,
  MAX_INCARNATION_AHEAD_MS,
} from '../../src/membership/membership-config.js';
import { hostHash } from '../../src/membership/state-digest.js';
import { SwimMembership } from '../../src/membership/swim-membership.js';
import { encodeDigest, MessageType, type SwimStateCode } from '../../src/membership/swim-wire.js';
import { UsageError } from '../../src/util/errors.js';
import { aliveNames, NO_CAPTURE, stateOf, waitUntil } from './membership-contract.js';

/**
 * Forged gossip from a stranger on an open (unkeyed) cluster: SwimMembership on the in-memory datagram
 * network, with the forger an endpoint of its own that sends what anyone can put on the wire, encoded
 * with swim's own codec (swim/lib/codec.js: one type byte, then msgpack).
 */
const require = createRequire(import.meta.url);
const SwimCodec = require('swim/lib/codec.js') as new (options: {
  codec: 'msgpack';
}) => {
  encode(value: unknown): Buffer;
};
const codec = new SwimCodec({ codec: 'msgpack' });
const config = localConfig();
const PORT = 7946;
const FORGER = '10.9.9.9';

interface ForgedRecord {
  host: string;
  state: SwimStateCode;
  incarnation: number;
  meta: WireMetadata;
}

function updateMessage(record: ForgedRecord): Buffer {
  return Buffer.concat([Buffer.from([MessageType.Update]), codec.encode(record)]);
}

describe('forged gossip on an open cluster', () => {
  let members: SwimMembership[] = [];
  let forger: EnvelopeTransport | undefined;
  afterEach(async () => {
    await Promise.all(members.map((member) => member.stop()));
    members = [];
    forger?.close();
    forger = undefined;
  });

  async function cluster(network: InMemoryDatagramNetwork, count: number): Promise<SwimMembership[]> {
    const started = Array.from(
      { length: count },
      (_, index) =>
        new SwimMembership({
          bind: { host: `10.0.0.${index + 1}`, port: PORT },
          metadata: { name: `n${index}`, ...NO_CAPTURE },
          config,
          transport: network.transport,
        }),
    );
    members.push(...started);
    await Promise.all(started.map((member, index) => member.start(index === 0 ? [] : [`10.0.0.1:${PORT}`])));
    await waitUntil(
      () => started.every((member) => aliveNames(member).length === count),
      10_000,
      `${count} members converge`,
    );
    forger = new EnvelopeTransport(network.transport({ host: FORGER, port: PORT }), {
      keyring: undefined,
      replayWindowMs: config.replayWindowMs,
    });
    await forger.start(() => {});
    return started;
  }

  function forge(payload: Buffer, to: readonly SwimMembership[]): void {
    for (const member of to) forger?.send(payload, member.address);
  }

  /** A record about `victim` as its own gossip carries it, with the state and incarnation forged. */
  function accusation(victim: SwimMembership, state: SwimStateCode, incarnation: number): ForgedRecord {
    return { host: victim.address, state, incarnation, meta: toWireMetadata(victim.self()) };
  }

  /** A member nobody runs, announced by the forger. */
  function stranger(host: string, meta: Partial<WireMetadata>): ForgedRecord {
    const now = Date.now();
    const base = toWireMetadata({ ...NO_CAPTURE, id: 'ab'.repeat(8), name: 'stranger', startedAtMs: now });
    return { host: `${host}:${PORT}`, state: 0, incarnation: now, meta: { ...base, ...meta } };
  }

  const dropped = (
    member: SwimMembership,
    reason: 'impossible-incarnation' | 'invalid-name' | 'invalid-network',
  ) => member.counters().recordsDropped?.[reason] ?? 0;

  it('"X faulty at incarnation 2^53-1" (and the 1.86e12 a mutated datagram made) is dropped and counted by every member; X stays alive everywhere', async () => {
    const network = new InMemoryDatagramNetwork({ seed: 1 });
    const all = await cluster(network, 4);
    const victim = all[1] as SwimMembership;
    const before = victim.self().incarnation;
    const events: string[] = [];
    for (const member of all) member.onEvent((event) => events.push(`${event.type} ${event.member.name}`));
    forge(updateMessage(accusation(victim, 2, Number.MAX_SAFE_INTEGER)), all);
    forge(
      updateMessage(accusation(victim, 1, Math.max(1.86e12, Date.now() + 2 * MAX_INCARNATION_AHEAD_MS))),
      all,
    );
    await waitUntil(
      () => all.every((member) => dropped(member, 'impossible-incarnation') === 2),
      2000,
      'every member dropped both forgeries',
    );
    // Dropped on receipt: had either been applied, the events would already show it.
    expect(events).toEqual([]);
    for (const member of all) expect(aliveNames(member)).toEqual(['n0', 'n1', 'n2', 'n3']);
    expect(victim.self().incarnation).toBe(before);
    expect(victim.counters().refutations).toBe(0);
    for (const member of all) {
      for (const info of member.members()) expect(Number.isSafeInteger(info.incarnation)).toBe(true);
    }
  });

  it('a digest that claims X at incarnation 2^53-1 makes X refute nothing (the entry is dropped and counted)', async () => {
    const network = new InMemoryDatagramNetwork({ seed: 2 });
    const all = await cluster(network, 3);
    const victim = all[0] as SwimMembership;
    const before = victim.self().incarnation;
    const digest = encodeDigest({
      sender: `${FORGER}:${PORT}`,
      replyWanted: false,
      rangeLow: 0,
      rangeHigh: 0xffffffff,
      entries: [{ hostHash: hostHash(victim.address), incarnation: Number.MAX_SAFE_INTEGER, state: 2 }],
    });
    forge(digest, [victim]);
    await waitUntil(() => dropped(victim, 'impossible-incarnation') === 1, 2000, 'the entry dropped');
    expect(victim.counters().refutations).toBe(0);
    expect(victim.self().incarnation).toBe(before);
  });

  it('"X faulty" at a high but admissible incarnation, sent to every member but X: X refutes and is alive on every member within one probe timeout', async () => {
    const network = new InMemoryDatagramNetwork({ seed: 3 });
    const all = await cluster(network, 5);
    const victim = all[2] as SwimMembership;
    const others = all.filter((member) => member !== victim);
    const failedSeen: string[] = [];
    for (const member of others) {
      member.onEvent((event: MembershipEvent) => {
        if (event.member.name === 'n2' && event.type === 'failed') failedSeen.push(member.self().name);
      });
    }
    const incarnation = Date.now() + MAX_INCARNATION_AHEAD_MS - ACCUSATION_HEADROOM_MS - 60_000;
    const forgedAt = performance.now();
    forge(updateMessage(accusation(victim, 2, incarnation)), others);
    // The bound: each accuser tells X at once, X answers each accuser directly: two one-way trips, far
    // below one probe timeout (without the direct word, X learned only from a piggybacked ack or the
    // next anti-entropy exchange, up to 1.5 push/pull intervals later).
    const boundMs = config.probeTimeoutMs;
    await waitUntil(
      () =>
        others.every(
          (member) =>
            stateOf(member, 'n2') === 'alive' &&
            (member.members().find((info) => info.name === 'n2')?.incarnation ?? 0) > incarnation,
        ),
      boundMs,
      `n2 alive again everywhere within ${boundMs} ms`,
    );
    const tookMs = performance.now() - forgedAt;
    // The forgery was applied (so the refutation is what undid it), and X's incarnation stays bounded.
    expect(failedSeen.sort()).toEqual(['n0', 'n1', 'n3', 'n4']);
    expect(victim.counters().refutations).toBeGreaterThanOrEqual(1);
    expect(victim.self().incarnation).toBeLessThanOrEqual(Date.now() + MAX_INCARNATION_AHEAD_MS);
    console.log(`forged failure of n2 refuted on all 4 others after ${tookMs.toFixed(1)} ms`);
  });

  it('X held failed at a high admissible incarnation and then restarted on its address is alive everywhere again', async () => {
    const network = new InMemoryDatagramNetwork({ seed: 4 });
    const all = await cluster(network, 4);
    const victim = all[3] as SwimMembership;
    const others = all.filter((member) => member !== victim);
    await victim.stop();
    const incarnation = Date.now() + MAX_INCARNATION_AHEAD_MS - ACCUSATION_HEADROOM_MS - 60_000;
    forge(updateMessage(accusation(victim, 2, incarnation)), others);
    await waitUntil(
      () => others.every((member) => stateOf(member, 'n3') === 'failed'),
      2000,
      'n3 failed on the others',
    );
    const restarted = new SwimMembership({
      bind: { host: '10.0.0.4', port: PORT },
      metadata: { name: 'n3', ...NO_CAPTURE },
      config,
      transport: network.transport,
    });
    members.push(restarted);
    const restartedAt = performance.now();
    await restarted.start([`10.0.0.1:${PORT}`]);
    // Its fresh incarnation (its start time) is below the forged one: it must learn and refute. The
    // seed answers its first digest with its own; bound: a join retry and two exchanges.
    const boundMs = config.joinRetryInitialMs + config.probeIntervalMs;
    await waitUntil(
      () => others.every((member) => stateOf(member, 'n3') === 'alive') && aliveNames(restarted).length === 4,
      boundMs,
      `restarted n3 alive everywhere within ${boundMs} ms`,
    );
    expect(restarted.self().incarnation).toBeGreaterThan(incarnation);
    console.log(`restarted n3 alive everywhere after ${(performance.now() - restartedAt).toFixed(1)} ms`);
  });

  it('records with an invalid name or network are dropped and counted; a valid stranger is listed (open cluster)', async () => {
    const network = new InMemoryDatagramNetwork({ seed: 5 });
    const all = await cluster(network, 2);
    const target = all[0] as SwimMembership;
    const bad = [
      stranger('10.9.0.1', { n: '' }),
      stranger('10.9.0.2', { n: 'evil\u001b[2J\u001b[H' }),
      stranger('10.9.0.3', { n: 'has space' }),
      stranger('10.9.0.4', { n: 'x'.repeat(65) }),
    ];
    for (const record of bad) forge(updateMessage(record), [target]);
    forge(updateMessage(stranger('10.9.0.5', { a: ['not-a-network'] })), [target]);
    forge(updateMessage(stranger('10.9.0.6', { a: ['10.0.0.0/33'] })), [target]);
    forge(updateMessage(stranger('10.9.0.7', { n: 'stranger-ok', a: ['10.0.0.0/8', '2001:db8::/32'] })), [
      target,
    ]);
    await waitUntil(() => stateOf(target, 'stranger-ok') === 'alive', 2000, 'the valid stranger listed');
    expect(dropped(target, 'invalid-name')).toBe(4);
    expect(dropped(target, 'invalid-network')).toBe(2);
    expect(
      target
        .members()
        .map((member) => member.gossip)
        .filter((gossip) => gossip.startsWith('10.9.')),
    ).toEqual([`10.9.0.7:${PORT}`]);
  });

  it('a record whose incarnation is below its own start time is impossible (incarnations start there)', async () => {
    const network = new InMemoryDatagramNetwork({ seed: 6 });
    const all = await cluster(network, 2);
    const target = all[0] as SwimMembership;
    const record = stranger('10.9.1.1', {});
    forge(updateMessage({ ...record, incarnation: record.meta.s - 1 }), [target]);
    await waitUntil(() => dropped(target, 'impossible-incarnation') === 1, 2000, 'dropped');
    expect(target.members().some((member) => member.gossip.startsWith('10.9.'))).toBe(false);
  });
});

describe('member names at start', () => {
  it.each([
    ['an empty name', ''],
    ['a 5,000-character name', 'x'.repeat(5000)],
    ['a name with a terminal escape', 'a\u001b[2Jb'],
  ])('%s is a UsageError with the rule, for both implementations', (_, name) => {
    const network = new InMemoryDatagramNetwork();
    const make = [
      () =>
        new SwimMembership({
          bind: { host: '10.0.0.1', port: PORT },
          metadata: { ...NO_CAPTURE, name },
          config,
          transport: network.transport,
        }),
      () => new InMemoryMembership(new InMemoryNetwork(), 'a:1', { ...NO_CAPTURE, name }),
    ];
    for (const create of make) {
      expect(create).toThrow(UsageError);
      expect(create).toThrow(MEMBER_NAME_RULE);
    }
  });

  it('a valid name given later through updateMetadata is checked too', () => {
    const member = new InMemoryMembership(new InMemoryNetwork(), 'a:1', { ...NO_CAPTURE, name: 'ok' });
    expect(() => member.updateMetadata({ name: '\u001b]0;x\u0007' })).toThrow(UsageError);
    expect(member.self().name).toBe('ok');
  });
});
