/**
 * The gossip datagram handler under hostile input, end to end: datagrams an attacker sends to a real
 * SwimMembership (over the in-memory network, and over real UDP on loopback), in an open cluster (raw
 * swim msgpack in an unauthenticated envelope) and a keyed one (HMAC envelope; garbage sealed with the
 * right key stands for a compromised member). Every input either is a valid message or is dropped and
 * counted: for inputs that cannot be valid the drop counters rise by exactly their number. Nothing
 * crashes (a throw in the handler would be an uncaught exception here), nothing hangs, the membership
 * the target holds is unchanged by inputs that cannot be valid, and memory stays within a stated bound.
 *
 * Inputs are drawn from a seeded generator: SNIFFMESH_FUZZ_SEED=<n> replays a run, and every failure
 * message names the seed. The fast-check properties print their own seed and counterexample.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sealDatagram } from '../../src/membership/datagram-envelope.js';
import type { DatagramTransport, DatagramTransportFactory } from '../../src/membership/datagram-transport.js';
import type { GossipKeyring } from '../../src/membership/gossip-keyring.js';
import { generateGossipKey, makeGossipKeyring, parseGossipKey } from '../../src/membership/gossip-keyring.js';
import { InMemoryDatagramNetwork } from '../../src/membership/in-memory-datagram-network.js';
import { localConfig, MAX_INBOUND_DATAGRAM_BYTES } from '../../src/membership/membership-config.js';
import { SwimMembership } from '../../src/membership/swim-membership.js';
import { forceGc } from '../helpers/heap-probe.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import { aliveNames, NO_CAPTURE, waitUntil } from './membership-contract.js';

const SEED = Number(process.env.SNIFFMESH_FUZZ_SEED ?? 0x6055);
const replay = `(seed ${SEED}: replay with SNIFFMESH_FUZZ_SEED=${SEED})`;

/** Inputs of the long run that measures memory. */
const BULK_INPUTS = 100_000;
/**
 * Heap growth allowed over BULK_INPUTS hostile datagrams, after a full collection. Dropped datagrams
 * keep nothing; what may grow is bounded state (the replay guard's sender table, swim's probe
 * bookkeeping). Measured: ~0.5-2 MiB; 16 MiB still catches a leak of one 160-byte object per input.
 */
const BULK_HEAP_GROWTH_MAX_BYTES = 16 * 1024 * 1024;
/** The long run pushes 100k datagrams through HMAC and parsing; measured ~3-6 s on the shared machine. */
const BULK_TIME_LIMIT_MS = 60_000;
/** Datagrams sent per turn: below the in-memory network's per-endpoint queue (4096). */
const BATCH = 1000;
const UDP_INPUTS = 3000;
/** Largest random datagram: beyond MAX_INBOUND_DATAGRAM_BYTES, so oversized drops occur too. */
const MAX_RANDOM_BYTES = MAX_INBOUND_DATAGRAM_BYTES + 64;

// ---------------------------------------------------------------------------------------------------
// Inputs

/** Message type bytes of swim's wire format (swim-wire.ts), written out here from the spec. */
const PING = 10;
const PING_REQ = 11;
const SYNC = 12;
const ACK = 13;
const UPDATE = 14;
const MESSAGE_TYPES = [PING, PING_REQ, SYNC, ACK, UPDATE];

const validMeta = { i: '0123456789abcdef', n: 'x', s: 1, g: '', v: 't', c: '', f: '' };
const validRecord = { host: '127.0.0.5:7946', state: 0, incarnation: 1, meta: validMeta };

/**
 * Bodies that are valid msgpack but can never be a valid message of any type: not a map at all, or a
 * map whose required fields are missing or of the wrong type for every type they could be.
 */
const WRONG_SHAPES: unknown[] = [
  null,
  true,
  0,
  -1,
  2 ** 53,
  1.5,
  'ping',
  '',
  Buffer.from([1, 2, 3]),
  [],
  [1, 2, 3],
  [{ seq: 1 }],
  {},
  { seq: -1 },
  { seq: 1.5 },
  { seq: '1' },
  { seq: null },
  { seq: 2 ** 64 },
  { seq: [1] },
  { seq: { seq: 1 } },
  { host: 1234, state: 0, incarnation: 1, meta: validMeta },
  { ...validRecord, host: '127.0.0.1' },
  { ...validRecord, host: '127.0.0.1:99999' },
  { ...validRecord, host: 'evil.example:7946' },
  { ...validRecord, state: 3 },
  { ...validRecord, state: '0' },
  { ...validRecord, incarnation: -5 },
  { ...validRecord, incarnation: 2 ** 60 },
  { ...validRecord, incarnation: 'NaN' },
  { ...validRecord, meta: null },
  { ...validRecord, meta: 'meta' },
  { ...validRecord, meta: [] },
  { host: '127.0.0.5:7946', state: 0, incarnation: 1 },
];

/** A body that is wrong for this message type in particular (a valid record is no ping, and so on). */
function wrongShapeBody(random: SeededRandom): { type: number; body: unknown } {
  const type = random.pick(MESSAGE_TYPES);
  const shape = random.pick(WRONG_SHAPES);
  // Each of these shapes lacks what its type needs: seq for ping/ack/ping-req, a record for sync/update.
  if (random.chance(0.2) && (type === PING || type === ACK || type === PING_REQ)) {
    return { type, body: { ...validRecord } };
  }
  return { type, body: shape };
}

function randomBuffer(random: SeededRandom, maxLength: number): Buffer {
  const length = random.int(maxLength + 1);
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(256);
  return bytes;
}

/** Seals payloads the way a member with the key (or any sender, in an open cluster) would. */
class Sealer {
  private readonly senderId = randomBytes(8);
  private sequence = 0;
  constructor(private readonly keyring: GossipKeyring | undefined) {}
  seal(payload: Buffer): Buffer {
    this.sequence++;
    return sealDatagram(
      payload,
      { senderId: this.senderId, sequence: this.sequence, sentAtMs: Date.now() },
      this.keyring,
    );
  }
}

type Category =
  | 'random-bytes'
  | 'sealed-random'
  | 'wrong-shape'
  | 'bad-compound'
  | 'truncated'
  | 'mutated'
  | 'replayed';

/** Categories whose every input is invalid whatever the random draw (mutated and replayed: keyed only). */
function certainlyInvalid(category: Category, keyed: boolean): boolean {
  return (category !== 'mutated' && category !== 'replayed') || keyed;
}

/**
 * One hostile datagram. `recorded` are real datagrams a member sent the target (sealed, valid): the
 * seeds of truncation, mutation and replay.
 */
function hostileDatagram(
  category: Category,
  random: SeededRandom,
  sealer: Sealer,
  recorded: readonly Buffer[],
): Buffer {
  switch (category) {
    case 'random-bytes':
      return randomBuffer(random, random.chance(0.05) ? MAX_RANDOM_BYTES : 200);
    case 'sealed-random':
      return sealer.seal(
        Buffer.concat([Buffer.from([random.pick([...MESSAGE_TYPES, 0, 64])]), randomBuffer(random, 120)]),
      );
    case 'wrong-shape': {
      const { type, body } = wrongShapeBody(random);
      return sealer.seal(Buffer.concat([Buffer.from([type]), pack(body)]));
    }
    case 'bad-compound': {
      // A compound whose count or part lengths do not add up to the datagram.
      const part = Buffer.concat([Buffer.from([PING]), pack({ seq: 1 })]);
      const count = random.pick([0, 2, 256, 65535]);
      const header = Buffer.alloc(3);
      header[0] = 0;
      header.writeUInt16LE(count, 1);
      const length = Buffer.alloc(2);
      length.writeUInt16LE(count === 2 ? part.length : part.length + random.range(1, 50), 0);
      return sealer.seal(Buffer.concat([header, length, part]));
    }
    case 'truncated': {
      const original = random.pick(recorded);
      return original.subarray(0, random.int(original.length));
    }
    case 'mutated': {
      const copy = Buffer.from(random.pick(recorded));
      // Distinct positions, each bit flipped: the datagram surely differs from the one sealed.
      const positions = new Set<number>();
      const flips = random.range(1, 4);
      while (positions.size < flips) positions.add(random.int(copy.length));
      for (const at of positions) copy[at] = (copy[at] as number) ^ (1 << random.int(8));
      return copy;
    }
    case 'replayed':
      return random.pick(recorded);
  }
}

// ---------------------------------------------------------------------------------------------------
// The cluster under attack

/** Wraps a transport factory so every datagram the member sends is also kept (sealed, as sent). */
function recordingTransport(
  inner: DatagramTransportFactory,
  into: Buffer[],
  to: () => string,
): DatagramTransportFactory {
  return (bind) => {
    const transport = inner(bind);
    const recording: DatagramTransport = {
      start: (handler) => transport.start(handler),
      send: (datagram, destination) => {
        if (destination === to() && into.length < 500) into.push(Buffer.from(datagram));
        transport.send(datagram, destination);
      },
      get localAddress() {
        return transport.localAddress;
      },
      close: () => transport.close(),
      get counters() {
        return transport.counters;
      },
    };
    return recording;
  };
}

function droppedTotal(member: SwimMembership): number {
  return Object.values(member.counters().transport.dropped).reduce((a, b) => a + b, 0);
}

function describeDrops(member: SwimMembership): string {
  return JSON.stringify(member.counters().transport.dropped);
}

interface Mesh {
  network: InMemoryDatagramNetwork;
  target: SwimMembership;
  peer: SwimMembership;
  attacker: DatagramTransport;
  recorded: Buffer[];
  sealer: Sealer;
}

/** Members started by one test, stopped after it; `shared` ones live for their describe block. */
const running: SwimMembership[] = [];
afterEach(async () => {
  await Promise.all(running.map((member) => member.stop()));
  running.length = 0;
});

async function startMesh(keyed: boolean, owner: SwimMembership[] = running): Promise<Mesh> {
  const keyring = keyed ? makeGossipKeyring(parseGossipKey(generateGossipKey(), 'test')) : undefined;
  const network = new InMemoryDatagramNetwork({ seed: SEED });
  const make = (name: string, host: string, transport: DatagramTransportFactory) =>
    new SwimMembership({
      bind: { host, port: 7946 },
      metadata: { name, ...NO_CAPTURE },
      config: localConfig(),
      transport,
      ...(keyring === undefined ? {} : { keyring }),
    });
  const target = make('target', '127.0.0.1', network.transport);
  const recorded: Buffer[] = [];
  const peer = make(
    'peer',
    '127.0.0.2',
    recordingTransport(network.transport, recorded, () => target.address),
  );
  owner.push(target, peer);
  await target.start([]);
  await peer.start([target.address]);
  await waitUntil(
    () => aliveNames(target).length === 2 && aliveNames(peer).length === 2 && recorded.length >= 20,
    10_000,
    'target and peer see each other and the peer sent 20 datagrams',
  );
  const attacker = network.transport({ host: '127.0.0.66', port: 6666 });
  await attacker.start(() => {});
  return { network, target, peer, attacker, recorded, sealer: new Sealer(keyring) };
}

/** Hands every datagram of a batch to the network and lets the target read them all. */
async function deliver(mesh: Mesh, datagrams: readonly Buffer[]): Promise<void> {
  const deliveredBefore = mesh.network.counters.delivered;
  for (const datagram of datagrams) mesh.attacker.send(datagram, mesh.target.address);
  await waitUntil(
    () => mesh.network.counters.delivered >= deliveredBefore + datagrams.length,
    10_000,
    `${datagrams.length} datagrams delivered ${replay}`,
  );
  expect(mesh.network.counters.queueOverflow, replay).toBe(0);
}

const CATEGORIES: Category[] = [
  'random-bytes',
  'sealed-random',
  'wrong-shape',
  'bad-compound',
  'truncated',
  'mutated',
  'replayed',
];

for (const keyed of [false, true]) {
  const mode = keyed ? 'keyed (HMAC envelope)' : 'open (raw swim msgpack)';
  describe(`gossip fuzzing, ${mode}, over the in-memory network`, () => {
    // One mesh serves every category whose inputs cannot be valid (they must leave it unchanged, and
    // each test checks that); a category whose inputs may be acted on gets a mesh of its own.
    const shared: SwimMembership[] = [];
    let sharedMesh: Promise<Mesh> | undefined;
    afterAll(async () => {
      await Promise.all(shared.map((member) => member.stop()));
    });
    for (const category of CATEGORIES) {
      const exact = certainlyInvalid(category, keyed);
      it(`${category}: ${exact ? 'every datagram dropped and counted' : 'no crash; what still parses is processed, the rest counted'}, membership intact`, async () => {
        sharedMesh ??= startMesh(keyed, shared);
        const mesh = exact ? await sharedMesh : await startMesh(keyed);
        const random = new SeededRandom(SEED ^ (CATEGORIES.indexOf(category) * 7919) ^ (keyed ? 1 : 0));
        const inputs = Array.from({ length: 2000 }, () =>
          hostileDatagram(category, random, mesh.sealer, mesh.recorded),
        );
        // The peer's own gossip keeps flowing meanwhile and must not count as dropped.
        const before = droppedTotal(mesh.target);
        for (let at = 0; at < inputs.length; at += BATCH) await deliver(mesh, inputs.slice(at, at + BATCH));
        const added = droppedTotal(mesh.target) - before;
        if (exact) expect(added, `${describeDrops(mesh.target)} ${replay}`).toBe(inputs.length);
        else if (category === 'replayed') {
          // Without a key there is no replay guard (README): a replayed valid datagram is valid.
          expect(added, replay).toBe(0);
        } else {
          // Open gossip: a mutant that still parses is a forged but valid message and is acted on
          // (a flipped bit in a record's host adds a member: the open cluster's documented risk).
          expect(added, replay).toBeLessThanOrEqual(inputs.length);
          expect(added, `most mutants are invalid ${replay}`).toBeGreaterThan(inputs.length / 2);
        }
        // Still a working cluster, both ways.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(aliveNames(mesh.peer), replay).toEqual(expect.arrayContaining(['peer', 'target']));
        expect(aliveNames(mesh.target), replay).toEqual(expect.arrayContaining(['peer', 'target']));
        // Inputs that cannot be valid changed nothing.
        if (exact)
          expect(
            mesh.target
              .members()
              .map((m) => m.name)
              .sort(),
            replay,
          ).toEqual(['peer', 'target']);
      });
    }

    it('fast-check: any mix of invalid datagrams raises the drop counters by exactly their number', async () => {
      const mesh = await startMesh(keyed);
      const invalid = CATEGORIES.filter((category) => certainlyInvalid(category, keyed));
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.constantFrom(...invalid), fc.integer()), { minLength: 1, maxLength: 40 }),
          async (draws) => {
            const datagrams = draws.map(([category, seed]) =>
              hostileDatagram(category, new SeededRandom(seed), mesh.sealer, mesh.recorded),
            );
            const before = droppedTotal(mesh.target);
            await deliver(mesh, datagrams);
            expect(droppedTotal(mesh.target) - before).toBe(datagrams.length);
          },
        ),
        { numRuns: 150, seed: SEED },
      );
      expect(
        mesh.target
          .members()
          .map((m) => m.name)
          .sort(),
      ).toEqual(['peer', 'target']);
    });

    it(`${BULK_INPUTS.toLocaleString('en')} hostile datagrams: all counted, heap growth below ${BULK_HEAP_GROWTH_MAX_BYTES / 1048576} MiB`, async () => {
      const mesh = await startMesh(keyed);
      const random = new SeededRandom(SEED + (keyed ? 2 : 3));
      const invalid = CATEGORIES.filter((category) => certainlyInvalid(category, keyed));
      // A warm-up batch first, so one-time allocations (code, caches) are not counted as growth.
      await deliver(
        mesh,
        Array.from({ length: BATCH }, () =>
          hostileDatagram(random.pick(invalid), random, mesh.sealer, mesh.recorded),
        ),
      );
      forceGc();
      const heapBefore = process.memoryUsage().heapUsed;
      const rssBefore = process.memoryUsage().rss;
      const droppedBefore = droppedTotal(mesh.target);
      const started = performance.now();
      for (let sent = 0; sent < BULK_INPUTS; sent += BATCH) {
        const batch = Array.from({ length: BATCH }, () =>
          hostileDatagram(random.pick(invalid), random, mesh.sealer, mesh.recorded),
        );
        await deliver(mesh, batch);
      }
      const elapsedMs = performance.now() - started;
      expect(droppedTotal(mesh.target) - droppedBefore, `${describeDrops(mesh.target)} ${replay}`).toBe(
        BULK_INPUTS,
      );
      forceGc();
      const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
      const rssGrowth = process.memoryUsage().rss - rssBefore;
      console.info(
        `gossip-fuzz ${mode}: ${BULK_INPUTS} datagrams in ${elapsedMs.toFixed(0)} ms; heap growth after gc ` +
          `${(heapGrowth / 1048576).toFixed(2)} MiB, RSS growth ${(rssGrowth / 1048576).toFixed(1)} MiB; ` +
          `drops ${describeDrops(mesh.target)}`,
      );
      expect(heapGrowth, replay).toBeLessThan(BULK_HEAP_GROWTH_MAX_BYTES);
      expect(elapsedMs).toBeLessThan(BULK_TIME_LIMIT_MS);
      expect(aliveNames(mesh.target)).toEqual(['peer', 'target']);
      expect(mesh.target.members()).toHaveLength(2);
    }, 120_000);
  });

  describe(`gossip fuzzing, ${mode}, over real UDP on loopback`, () => {
    it(`${UDP_INPUTS} invalid datagrams from a raw socket: each received and dropped, none lost`, async () => {
      const keyring = keyed ? makeGossipKeyring(parseGossipKey(generateGossipKey(), 'test')) : undefined;
      const target = new SwimMembership({
        bind: { host: '127.0.0.1', port: 0 },
        metadata: { name: 'target', ...NO_CAPTURE },
        config: localConfig(),
        ...(keyring === undefined ? {} : { keyring }),
      });
      running.push(target);
      await target.start([]);
      const port = Number(target.address.split(':')[1]);
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      try {
        const random = new SeededRandom(SEED + 5);
        const sealer = new Sealer(keyring);
        // No member ever sent anything here: the categories that need recorded datagrams get sealed
        // pings of our own (valid ones, so their truncations and replays are the invalid inputs).
        const pings = Array.from({ length: 20 }, (_, seq) =>
          sealer.seal(Buffer.concat([Buffer.from([PING]), pack({ seq })])),
        );
        const invalid = CATEGORIES.filter(
          (category) => certainlyInvalid(category, keyed) && category !== 'replayed',
        );
        for (let sent = 0; sent < UDP_INPUTS; sent += 100) {
          const before = target.counters().transport.datagramsReceived;
          const batch = Array.from({ length: 100 }, () =>
            hostileDatagram(random.pick(invalid), random, sealer, pings),
          );
          for (const datagram of batch) socket.send(datagram, port, '127.0.0.1');
          await waitUntil(
            () => target.counters().transport.datagramsReceived >= before + batch.length,
            5000,
            `the target received the batch ${replay}`,
          );
        }
        const counters = target.counters().transport;
        const dropped = Object.values(counters.dropped).reduce((a, b) => a + b, 0);
        expect(dropped, `${JSON.stringify(counters.dropped)} ${replay}`).toBe(counters.datagramsReceived);
        expect(target.members().map((m) => m.name)).toEqual(['target']);
      } finally {
        socket.close();
      }
    }, 60_000);
  });
}
