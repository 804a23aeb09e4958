import { createSocket } from 'node:dgram';
import { pack } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { sealDatagram } from '../../src/membership/datagram-envelope.js';
import {
  type GossipKeyring,
  generateGossipKey,
  makeGossipKeyring,
  parseGossipKey,
} from '../../src/membership/gossip-keyring.js';
import { localConfig } from '../../src/membership/membership-config.js';
import { SwimMembership } from '../../src/membership/swim-membership.js';
import { freeUdpPort } from './free-udp-port.js';
import {
  aliveNames,
  describeMembershipContract,
  NO_CAPTURE,
  stateOf,
  waitUntil,
} from './membership-contract.js';

let nextPort = 0;
async function reservePorts(): Promise<void> {
  nextPort = await freeUdpPort();
}

function makeMember(name: string, port: number, keyring?: GossipKeyring): SwimMembership {
  return new SwimMembership({
    bind: { host: '127.0.0.1', port },
    metadata: { name, ...NO_CAPTURE },
    config: localConfig(),
    ...(keyring === undefined ? {} : { keyring }),
  });
}

describeMembershipContract('swim over UDP on loopback', () => {
  // Ports are handed out upwards from a free one; a clash only shows as a bind error (a clear failure).
  let port = 20000 + Math.floor(Math.random() * 20000);
  return {
    settleMs: 5000,
    create(name, address) {
      const at = address ?? `127.0.0.1:${port++}`;
      const bindPort = Number(at.split(':')[1]);
      return { membership: makeMember(name, bindPort), address: at };
    },
    crash: (membership) => membership.stop(),
    joinAttempts: (membership) => (membership as SwimMembership).counters().seedContacts,
  };
});

describe('SwimMembership', () => {
  const running: SwimMembership[] = [];
  afterEach(async () => {
    await Promise.all(running.map((member) => member.stop()));
    running.length = 0;
  });

  async function cluster(names: string[], keyring?: GossipKeyring): Promise<SwimMembership[]> {
    await reservePorts();
    const base = nextPort;
    const members = names.map((name, index) => makeMember(name, base + index, keyring));
    running.push(...members);
    await Promise.all(members.map((member, index) => member.start(index === 0 ? [] : [`127.0.0.1:${base}`])));
    await waitUntil(
      () => members.every((member) => aliveNames(member).length === names.length),
      10_000,
      `${names.length} members converge`,
    );
    return members;
  }

  it('twenty members in one process converge through one seed, and all see a leave as left', async () => {
    const names = Array.from({ length: 20 }, (_, index) => `m${index}`);
    const members = await cluster(names);
    const leaver = members[7] as SwimMembership;
    const log: string[] = [];
    (members[3] as SwimMembership).onEvent((event) => {
      if (event.member.name === 'm7') log.push(`${event.type}@${event.member.incarnation}`);
    });
    const before = leaver.self().incarnation;
    await leaver.leave();
    const rest = members.filter((member) => member !== leaver);
    await waitUntil(
      () => rest.every((member) => stateOf(member, 'm7') === 'left'),
      1500,
      'all see m7 left',
    ).catch((error) => {
      throw new Error(
        `${error.message}: ${rest.map((member) => stateOf(member, 'm7')).join(' ')} log ${log.join(',')} before ${before} sent ${leaver.counters().transport.datagramsSent}`,
      );
    });
  });

  it('garbage, truncated, oversized and crafted datagrams crash nothing and change no membership', async () => {
    const members = await cluster(['g0', 'g1', 'g2']);
    const target = members[0] as SwimMembership;
    const [, targetPort] = target.address.split(':');
    const events: string[] = [];
    for (const member of members)
      member.onEvent((event) => events.push(`${event.type} ${event.member.name}`));
    const received = () => target.counters().transport.datagramsReceived;
    const receivedBefore = received();
    let sent = 0;
    // Everything sent so far has been read (the members' own datagrams count too, so this may come a
    // few datagrams early: harmless for pacing).
    const readSoFar = () => received() - receivedBefore >= sent;
    const socket = createSocket('udp4');
    const send = (datagram: Buffer) =>
      new Promise<void>((resolve) =>
        socket.send(datagram, Number(targetPort), '127.0.0.1', () => {
          if (datagram.length > 0) sent++;
          resolve();
        }),
      );
    const sealed = (payload: Buffer) =>
      sealDatagram(payload, { senderId: Buffer.alloc(8, 7), sequence: 1, sentAtMs: Date.now() }, undefined);
    const typed = (type: number, body: unknown) => Buffer.concat([Buffer.from([type]), pack(body)]);
    // The crafted cases that crash swim 0.6 (shared/research/membership-swim-vs-serf.md, "Bugs"), sealed so
    // they pass the envelope and reach the wire parser.
    const crafted = [
      typed(10, null),
      typed(13, null),
      typed(14, null),
      typed(12, null),
      typed(11, { seq: 1 }),
      typed(11, { seq: 1, destination: '127.0.0.1:abc' }),
      typed(11, { seq: 1, destination: '127.0.0.1:9' }),
      typed(14, { host: 12345, state: 0, incarnation: 1, meta: {} }),
      typed(14, { host: '127.0.0.1:70000', state: 0, incarnation: 1, meta: {} }),
      typed(14, { host: '127.0.0.1:1', state: 7, incarnation: 1, meta: {} }),
      Buffer.from([0, 0xff, 0xff, 1, 0]),
    ];
    for (const payload of crafted) await send(sealed(payload));
    for (let index = 0; index < 2000; index++) {
      // Paced: at most 50 unread, so the receive buffer never overflows and every datagram is judged.
      if (index % 50 === 0) await waitUntil(readSoFar, 5000, 'the target read the datagrams so far');
      const length = 1 + Math.floor(Math.random() * 600);
      const random = Buffer.alloc(length);
      for (let byte = 0; byte < length; byte++) random[byte] = Math.floor(Math.random() * 256);
      await send(index % 2 === 0 ? random : sealed(random));
    }
    await send(Buffer.alloc(9300, 0xa1));
    await send(Buffer.alloc(0));
    socket.close();
    // Loopback keeps the order: once the oversized one (sent last but one) is counted, all were read.
    await waitUntil(
      () => readSoFar() && target.counters().transport.dropped.oversized === 1,
      5000,
      'the target read every datagram',
    );
    // Any effect would have shown at once: the target parses, and would apply, each datagram on receipt.
    // (A suspicion of a member under the load of the flood is no effect of the datagrams' content.)
    expect(events.filter((event) => !/^(suspect|recovered) g[012]$/.test(event))).toEqual([]);
    for (const member of members) expect(aliveNames(member)).toEqual(['g0', 'g1', 'g2']);
    const counters = target.counters();
    expect(counters.transport.dropped.malformed).toBeGreaterThanOrEqual(crafted.length - 1);
    expect(counters.pingRequestsRefused).toBe(1);
    expect(counters.transport.dropped['bad-version'] + counters.transport.dropped.truncated).toBeGreaterThan(
      900,
    );
    expect(counters.transport.dropped.oversized).toBe(1);
  });

  it('with a shared key members converge; a member with the wrong key cannot join, and its datagrams are counted as dropped', async () => {
    const key = makeGossipKeyring(parseGossipKey(generateGossipKey(), 'test'));
    const members = await cluster(['k0', 'k1', 'k2'], key);
    const intruder = makeMember(
      'intruder',
      await freeUdpPort(),
      makeGossipKeyring(parseGossipKey(generateGossipKey(), 'test')),
    );
    running.push(intruder);
    const seed = members[0] as SwimMembership;
    await intruder.start([seed.address]);
    // Each join attempt is a record and a digest; two attempts, all four dropped at the seed.
    await waitUntil(
      () => intruder.counters().seedContacts >= 2 && seed.counters().transport.dropped['unknown-key'] >= 4,
      5000,
      'two join attempts of the intruder dropped',
    );
    for (const member of members) expect(aliveNames(member)).toEqual(['k0', 'k1', 'k2']);
    expect(aliveNames(intruder)).toEqual(['intruder']);
    const open = makeMember('open', await freeUdpPort());
    running.push(open);
    await open.start([seed.address]);
    await waitUntil(
      () => open.counters().seedContacts >= 2 && seed.counters().transport.dropped.unauthenticated >= 4,
      5000,
      'two join attempts of the unkeyed member dropped',
    );
    expect(aliveNames(seed)).toEqual(['k0', 'k1', 'k2']);
    expect(aliveNames(open)).toEqual(['open']);
  });

  it('datagrams signed with a wrong key can neither inject a member nor evict one', async () => {
    const key = makeGossipKeyring(parseGossipKey(generateGossipKey(), 'test'));
    const wrong = makeGossipKeyring(parseGossipKey(generateGossipKey(), 'wrong'));
    const members = await cluster(['w0', 'w1', 'w2'], key);
    const target = members[0] as SwimMembership;
    const victim = members[1] as SwimMembership;
    const socket = createSocket('udp4');
    const meta = { i: 'ffffffffffffffff', n: 'fake', g: '', v: 'x', c: '', f: '', s: 1 };
    const forged = [
      { host: '127.0.0.1:9', state: 0, incarnation: 1, meta },
      {
        ...victim.self(),
        host: victim.address,
        state: 2,
        incarnation: victim.self().incarnation + 5,
        meta: { ...meta, i: victim.self().id, n: 'w1' },
      },
    ];
    for (const [index, record] of forged.entries()) {
      const datagram = sealDatagram(
        Buffer.concat([
          Buffer.from([14]),
          pack({
            host: record.host,
            state: record.state,
            incarnation: record.incarnation,
            meta: record.meta,
          }),
        ]),
        { senderId: Buffer.alloc(8, 9), sequence: index + 1, sentAtMs: Date.now() },
        wrong,
      );
      await new Promise<void>((resolve) =>
        socket.send(datagram, Number(target.address.split(':')[1]), '127.0.0.1', () => resolve()),
      );
    }
    socket.close();
    await waitUntil(
      () => target.counters().transport.dropped['unknown-key'] === 2,
      2000,
      'both forgeries dropped',
    );
    // Dropped on receipt, before parsing: nothing of them can come later.
    expect(aliveNames(target)).toEqual(['w0', 'w1', 'w2']);
    expect(target.members().some((member) => member.name === 'fake')).toBe(false);
  });

  it('keys rotate without a split: old primary plus new accepted, then new primary, then old dropped', async () => {
    const oldKey = parseGossipKey(generateGossipKey(), 'old');
    const newKey = parseGossipKey(generateGossipKey(), 'new');
    await reservePorts();
    const base = nextPort;
    // A cluster on the old key, rotated the way an operator would, restarting members one by one:
    // (1) old primary + new accepted, (2) new primary + old accepted, (3) new key only. After every
    // restart all three members must see each other, so no step splits the cluster.
    const steps: GossipKeyring[] = [
      makeGossipKeyring(oldKey, [newKey]),
      makeGossipKeyring(newKey, [oldKey]),
      makeGossipKeyring(newKey),
    ];
    let members = ['r0', 'r1', 'r2'].map((name, index) =>
      makeMember(name, base + index, makeGossipKeyring(oldKey)),
    );
    running.push(...members);
    await Promise.all(members.map((member, index) => member.start(index === 0 ? [] : [`127.0.0.1:${base}`])));
    await waitUntil(
      () => members.every((member) => aliveNames(member).length === 3),
      10_000,
      'old-key cluster',
    );
    for (const keyring of steps) {
      for (let index = 0; index < members.length; index++) {
        await (members[index] as SwimMembership).leave();
        const replacement = makeMember(`r${index}`, base + index, keyring);
        running.push(replacement);
        await replacement.start([`127.0.0.1:${base + ((index + 1) % 3)}`]);
        members = members.map((member, position) => (position === index ? replacement : member));
        await waitUntil(
          () => members.every((member) => aliveNames(member).length === 3),
          10_000,
          `all three alive after restarting r${index} with the next keyring`,
        );
      }
    }
    const dropped = (members[0] as SwimMembership).counters().transport.dropped;
    expect(dropped['bad-tag']).toBe(0);
  });

  it('an authenticated datagram replayed verbatim is dropped as a replay', async () => {
    const keyring = makeGossipKeyring(parseGossipKey(generateGossipKey(), 'test'));
    const members = await cluster(['p0', 'p1'], keyring);
    const target = members[0] as SwimMembership;
    const [, targetPort] = target.address.split(':');
    const datagram = sealDatagram(
      Buffer.concat([Buffer.from([10]), pack({ seq: 99 })]),
      { senderId: Buffer.alloc(8, 3), sequence: 5, sentAtMs: Date.now() },
      keyring,
    );
    const socket = createSocket('udp4');
    for (let copy = 0; copy < 3; copy++) {
      await new Promise<void>((resolve) =>
        socket.send(datagram, Number(targetPort), '127.0.0.1', () => resolve()),
      );
    }
    const stale = sealDatagram(
      Buffer.concat([Buffer.from([10]), pack({ seq: 100 })]),
      { senderId: Buffer.alloc(8, 4), sequence: 1, sentAtMs: Date.now() - 3_600_000 },
      keyring,
    );
    await new Promise<void>((resolve) =>
      socket.send(stale, Number(targetPort), '127.0.0.1', () => resolve()),
    );
    socket.close();
    await waitUntil(() => target.counters().transport.dropped.replayed === 2, 2000, 'two replays dropped');
    expect(target.counters().transport.dropped.stale).toBe(1);
  });

  it('seeds may be DNS names, and a member bound to the wildcard address advertises the one given', async () => {
    const [seed] = await cluster(['dns0']);
    const seedPort = Number((seed as SwimMembership).address.split(':')[1]);
    const port = await freeUdpPort();
    const member = new SwimMembership({
      bind: { host: '0.0.0.0', port },
      advertise: { host: '127.0.0.1', port },
      metadata: { name: 'dns1', ...NO_CAPTURE },
      config: localConfig(),
    });
    running.push(member);
    await member.start([`localhost:${seedPort}`]);
    await waitUntil(
      () => aliveNames(seed as SwimMembership).length === 2 && aliveNames(member).length === 2,
      5000,
      'the member joined through localhost',
    );
    expect((seed as SwimMembership).members().find((info) => info.name === 'dns1')?.gossip).toBe(
      `127.0.0.1:${port}`,
    );
  });

  it('members on IPv6 loopback converge and show bracketed gossip addresses', async () => {
    const port = await freeUdpPort();
    const members = [0, 1, 2].map(
      (index) =>
        new SwimMembership({
          bind: { host: '::1', port: port + index },
          metadata: { name: `v6-${index}`, ...NO_CAPTURE },
          config: localConfig(),
        }),
    );
    running.push(...members);
    await Promise.all(members.map((member, index) => member.start(index === 0 ? [] : [`[::1]:${port}`])));
    await waitUntil(
      () => members.every((member) => aliveNames(member).length === 3),
      5000,
      'three v6 members',
    );
    expect((members[0] as SwimMembership).self().gossip).toBe(`[::1]:${port}`);
  });

  it('binding a port already in use is a clear error, not a crash', async () => {
    const [first] = await cluster(['b0']);
    const port = Number((first as SwimMembership).address.split(':')[1]);
    const clash = makeMember('clash', port);
    await expect(clash.start([])).rejects.toThrow(/cannot listen for gossip on 127\.0\.0\.1:\d+: EADDRINUSE/);
  });
});
