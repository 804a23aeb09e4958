import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../cluster/local/wait-until.js';
import type { MemberInfo, MembershipEvent } from '../../src/membership/member.js';
import type { Membership } from '../../src/membership/membership.js';

export { waitUntil };

/**
 * One behavioural contract, run against every Membership implementation (the swim adapter and the
 * in-memory fake), so the layers above can test against the fake and trust it behaves like the real one.
 */
export interface MembershipHarness {
  /** How long convergence may take with this implementation. */
  readonly settleMs: number;
  /** A not-yet-started member at a fresh address (or the given one, for restarts). */
  create(name: string, address?: string): { membership: Membership; address: string };
  /** Stops a member the way a crash would: nothing announced. */
  crash(membership: Membership): Promise<void>;
  /** How often a member created here has tried to reach its seeds. */
  joinAttempts(membership: Membership): number;
}

export const NO_CAPTURE = {
  grpc: '',
  version: 'test',
  captureInterface: '',
  captureFilter: '',
  networks: [] as string[],
};

export function stateOf(membership: Membership, name: string): MemberInfo['state'] | undefined {
  return membership.members().find((member) => member.name === name)?.state;
}

export function aliveNames(membership: Membership): string[] {
  return membership
    .members()
    .filter((member) => member.state === 'alive')
    .map((member) => member.name)
    .sort();
}

export function describeMembershipContract(
  implementation: string,
  makeHarness: () => MembershipHarness,
): void {
  describe(`Membership contract: ${implementation}`, () => {
    const started: Membership[] = [];
    let harness: MembershipHarness;

    async function startMember(name: string, seeds: string[], address?: string) {
      const created = harness.create(name, address);
      const events: MembershipEvent[] = [];
      created.membership.onEvent((event) => events.push(event));
      await created.membership.start(seeds);
      started.push(created.membership);
      return { ...created, events };
    }

    afterEach(async () => {
      await Promise.all(started.map((membership) => membership.stop()));
      started.length = 0;
    });

    it('a member started without seeds is a cluster of one: itself, alive and local', async () => {
      harness = makeHarness();
      const { membership } = await startMember('solo', []);
      const members = membership.members();
      expect(members).toHaveLength(1);
      expect(members[0]).toMatchObject({ name: 'solo', state: 'alive', local: true });
      expect(membership.self().name).toBe('solo');
      expect(membership.self().id).toMatch(/^[0-9a-f]{16}$/);
    });

    it('members joining through one seed all see each other alive, each seen as joined once', async () => {
      harness = makeHarness();
      const seed = await startMember('seed', []);
      const others = await Promise.all(['b', 'c', 'd', 'e'].map((name) => startMember(name, [seed.address])));
      const all = [seed, ...others];
      await waitUntil(
        () => all.every(({ membership }) => aliveNames(membership).length === 5),
        harness.settleMs,
        'all five see five alive',
      );
      for (const { membership, events } of all) {
        expect(aliveNames(membership)).toEqual(['b', 'c', 'd', 'e', 'seed']);
        const joinedRemote = events.filter((event) => event.type === 'joined' && !event.member.local);
        expect(joinedRemote.map((event) => event.member.name).sort()).toEqual(
          ['b', 'c', 'd', 'e', 'seed'].filter((name) => name !== membership.self().name),
        );
        const gossip = new Set(membership.members().map((member) => member.gossip));
        expect(gossip.size).toBe(5);
      }
    });

    it('a graceful leave is seen as left (not failed) by every other member within 1.5 s', async () => {
      harness = makeHarness();
      const seed = await startMember('seed', []);
      const b = await startMember('b', [seed.address]);
      const leaver = await startMember('leaver', [seed.address]);
      await waitUntil(
        () => [seed, b, leaver].every(({ membership }) => aliveNames(membership).length === 3),
        harness.settleMs,
        'three alive everywhere',
      );
      const leftAt = Date.now();
      await leaver.membership.leave();
      await waitUntil(
        () => stateOf(seed.membership, 'leaver') === 'left' && stateOf(b.membership, 'leaver') === 'left',
        1500,
        'both see the leaver as left',
      );
      expect(Date.now() - leftAt).toBeLessThan(1500);
      for (const { events } of [seed, b]) {
        const about = events.filter((event) => event.member.name === 'leaver').map((event) => event.type);
        expect(about).toEqual(['joined', 'left']);
      }
    });

    it('a crashed member becomes suspect, then failed, on every other member', async () => {
      harness = makeHarness();
      const seed = await startMember('seed', []);
      const b = await startMember('b', [seed.address]);
      const victim = await startMember('victim', [seed.address]);
      await waitUntil(
        () => [seed, b, victim].every(({ membership }) => aliveNames(membership).length === 3),
        harness.settleMs,
        'three alive everywhere',
      );
      await harness.crash(victim.membership);
      await waitUntil(
        () => stateOf(seed.membership, 'victim') === 'failed' && stateOf(b.membership, 'victim') === 'failed',
        harness.settleMs * 3,
        'both see the victim failed',
      );
      for (const { events } of [seed, b]) {
        const about = events.filter((event) => event.member.name === 'victim').map((event) => event.type);
        expect(about[0]).toBe('joined');
        expect(about.at(-1)).toBe('failed');
        expect(about).not.toContain('left');
      }
    });

    it('new metadata reaches every member as an updated event', async () => {
      harness = makeHarness();
      const seed = await startMember('seed', []);
      const b = await startMember('b', [seed.address]);
      await waitUntil(
        () => aliveNames(seed.membership).length === 2 && aliveNames(b.membership).length === 2,
        harness.settleMs,
        'two alive',
      );
      b.membership.updateMetadata({ grpc: '127.0.0.1:50051', captureInterface: 'eth9' });
      await waitUntil(
        () => seed.membership.members().find((member) => member.name === 'b')?.grpc === '127.0.0.1:50051',
        harness.settleMs,
        'the seed sees the new gRPC address',
      );
      const seen = seed.membership.members().find((member) => member.name === 'b');
      expect(seen).toMatchObject({ captureInterface: 'eth9', state: 'alive' });
      expect(seed.events.some((event) => event.type === 'updated' && event.member.name === 'b')).toBe(true);
      expect(b.membership.self().grpc).toBe('127.0.0.1:50051');
    });

    it('a member started before its seed joins once the seed appears', async () => {
      harness = makeHarness();
      const seedAddress = harness.create('placeholder').address;
      const early = await startMember('early', [seedAddress]);
      // Tried, found nobody, and tried again: still alone, and still trying.
      await waitUntil(
        () => harness.joinAttempts(early.membership) >= 2,
        harness.settleMs,
        'the early member retries its seed',
      );
      expect(aliveNames(early.membership)).toEqual(['early']);
      const seed = await startMember('seed', [], seedAddress);
      await waitUntil(
        () => aliveNames(early.membership).length === 2 && aliveNames(seed.membership).length === 2,
        harness.settleMs * 2,
        'early and seed see each other',
      );
    });

    it('a member restarted on the same address rejoins with its new id and metadata, not stuck as failed', async () => {
      harness = makeHarness();
      const seed = await startMember('seed', []);
      const first = await startMember('phoenix', [seed.address]);
      await waitUntil(
        () => stateOf(seed.membership, 'phoenix') === 'alive',
        harness.settleMs,
        'phoenix joined',
      );
      const oldId = first.membership.self().id;
      await harness.crash(first.membership);
      await waitUntil(
        () => stateOf(seed.membership, 'phoenix') === 'failed',
        harness.settleMs * 3,
        'phoenix failed',
      );
      const second = await startMember('phoenix', [seed.address], first.address);
      second.membership.updateMetadata({ captureInterface: 'reborn0' });
      await waitUntil(
        () =>
          seed.membership.members().find((member) => member.gossip === first.address)?.captureInterface ===
          'reborn0',
        harness.settleMs,
        'the seed sees the restarted member with its new metadata',
      );
      const seen = seed.membership.members().find((member) => member.gossip === first.address);
      expect(seen?.state).toBe('alive');
      expect(seen?.id).not.toBe(oldId);
      expect(
        seed.events.filter((event) => event.type === 'joined' && event.member.name === 'phoenix'),
      ).toHaveLength(2);
      expect(aliveNames(second.membership)).toEqual(['phoenix', 'seed']);
    });

    it('an unsubscribed listener hears nothing more', async () => {
      harness = makeHarness();
      const seed = await startMember('seed', []);
      const heard: string[] = [];
      const unsubscribe = seed.membership.onEvent((event) => heard.push(event.member.name));
      unsubscribe();
      const b = await startMember('b', [seed.address]);
      await waitUntil(() => aliveNames(b.membership).length === 2, harness.settleMs, 'b joined');
      await waitUntil(() => aliveNames(seed.membership).length === 2, harness.settleMs, 'seed saw b');
      expect(heard).toEqual([]);
    });
  });
}
