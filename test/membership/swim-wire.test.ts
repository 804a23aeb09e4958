import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { WireMetadata } from '../../src/membership/member-metadata.js';
import {
  type DigestMessage,
  digestBytes,
  encodeDigest,
  MalformedGossipError,
  MessageType,
  parseSwimPayload,
  type SwimMessage,
  type SwimRecord,
} from '../../src/membership/swim-wire.js';

/** swim's single-message encoding: one type byte, then the msgpack body. */
function message(type: number, body: unknown): Buffer {
  return Buffer.concat([Buffer.from([type]), pack(body)]);
}

/** A message whose body is raw bytes (for bodies msgpackr would not produce). */
function rawMessage(type: number, ...bytes: number[]): Buffer {
  return Buffer.from([type, ...bytes]);
}

/** swim's compound encoding: [0][count uint16le] then [length uint16le][message] per part. */
function compound(parts: readonly Buffer[], count = parts.length): Buffer {
  const header = Buffer.alloc(3);
  header[0] = MessageType.Compound;
  header.writeUInt16LE(count, 1);
  const framed = parts.map((part) => {
    const length = Buffer.alloc(2);
    length.writeUInt16LE(part.length, 0);
    return Buffer.concat([length, part]);
  });
  return Buffer.concat([header, ...framed]);
}

const META: WireMetadata = {
  i: 'node-a-5f3c',
  n: 'alpha',
  g: '127.0.0.1:7950',
  v: '0.1.0',
  c: 'lo',
  f: 'tcp port 80',
  s: 1_700_000_000_000,
};
const RECORD: SwimRecord = { host: '127.0.0.1:7946', state: 0, incarnation: 3, meta: META };

const MSGPACK_NIL = 0xc0;
/** 0xc1 is the one byte msgpack never uses. */
const MSGPACK_NEVER_USED = 0xc1;

describe('parseSwimPayload on well-formed messages', () => {
  const table: ReadonlyArray<[description: string, payload: Buffer, expected: SwimMessage[]]> = [
    ['a ping', message(MessageType.Ping, { seq: 1 }), [{ kind: 'ping', seq: 1 }]],
    ['an ack with a large seq', message(MessageType.Ack, { seq: 2 ** 40 }), [{ kind: 'ack', seq: 2 ** 40 }]],
    [
      'a ping-req to an IPv4 member',
      message(MessageType.PingReq, { seq: 7, destination: '10.0.0.2:7946' }),
      [{ kind: 'ping-req', seq: 7, destination: '10.0.0.2:7946' }],
    ],
    [
      'a ping-req to an IPv6 member',
      message(MessageType.PingReq, { seq: 8, destination: '[::1]:7946' }),
      [{ kind: 'ping-req', seq: 8, destination: '[::1]:7946' }],
    ],
    ['a sync', message(MessageType.Sync, RECORD), [{ kind: 'sync', record: RECORD }]],
    [
      'an update of a member that left',
      message(MessageType.Update, { ...RECORD, state: 2, meta: { ...META, l: 1_700_000_001_000 } }),
      [{ kind: 'update', record: { ...RECORD, state: 2, meta: { ...META, l: 1_700_000_001_000 } } }],
    ],
    [
      'an update of a suspect member with an empty filter and name',
      message(MessageType.Update, { ...RECORD, state: 1, meta: { ...META, n: '', f: '' } }),
      [{ kind: 'update', record: { ...RECORD, state: 1, meta: { ...META, n: '', f: '' } } }],
    ],
    [
      'a compound of a ping, an update and an ack',
      compound([
        message(MessageType.Ping, { seq: 1 }),
        message(MessageType.Update, RECORD),
        message(MessageType.Ack, { seq: 0 }),
      ]),
      [
        { kind: 'ping', seq: 1 },
        { kind: 'update', record: RECORD },
        { kind: 'ack', seq: 0 },
      ],
    ],
  ];
  for (const [description, payload, expected] of table) {
    it(`parses ${description}`, () => {
      expect(parseSwimPayload(payload)).toEqual(expected);
    });
  }

  it('ignores unknown keys in the body and in meta', () => {
    const [parsed] = parseSwimPayload(
      message(MessageType.Update, { ...RECORD, extra: 1, meta: { ...META, future: 'x' } }),
    );
    expect(parsed).toEqual({ kind: 'update', record: RECORD });
    if (parsed?.kind === 'update')
      expect(Object.keys(parsed.record.meta).sort()).toEqual(Object.keys(META).sort());
  });

  it('parses a compound of 255 pings', () => {
    const parts = Array.from({ length: 255 }, (_, seq) => message(MessageType.Ping, { seq }));
    const parsed = parseSwimPayload(compound(parts));
    expect(parsed.length).toBe(255);
    expect(parsed[254]).toEqual({ kind: 'ping', seq: 254 });
  });
});

describe('parseSwimPayload on malformed messages', () => {
  const table: ReadonlyArray<[description: string, payload: Buffer]> = [
    // The crashes measured against swim 0.6 (shared/research/membership-swim-vs-serf.md, "Bugs").
    ['ping with a nil body', rawMessage(MessageType.Ping, MSGPACK_NIL)],
    ['ack with a nil body', rawMessage(MessageType.Ack, MSGPACK_NIL)],
    ['update with a nil body', rawMessage(MessageType.Update, MSGPACK_NIL)],
    ['sync with a nil body', rawMessage(MessageType.Sync, MSGPACK_NIL)],
    ['ping-req without destination', message(MessageType.PingReq, { seq: 1 })],
    ["ping-req to '127.0.0.1:abc'", message(MessageType.PingReq, { seq: 1, destination: '127.0.0.1:abc' })],
    ['update with a numeric host', message(MessageType.Update, { ...RECORD, host: 12345 })],
    [
      "update with host '127.0.0.1:70000'",
      message(MessageType.Update, { ...RECORD, host: '127.0.0.1:70000' }),
    ],
    // Further malformed addresses.
    ["ping-req to '127.0.0.1:0'", message(MessageType.PingReq, { seq: 1, destination: '127.0.0.1:0' })],
    [
      "ping-req to a host name 'localhost:7946'",
      message(MessageType.PingReq, { seq: 1, destination: 'localhost:7946' }),
    ],
    ["ping-req to '256.1.1.1:7946'", message(MessageType.PingReq, { seq: 1, destination: '256.1.1.1:7946' })],
    [
      "ping-req to an unbracketed IPv6 '::1:7946'",
      message(MessageType.PingReq, { seq: 1, destination: '::1:7946' }),
    ],
    [
      'ping-req to a destination array',
      message(MessageType.PingReq, { seq: 1, destination: ['127.0.0.1', 1] }),
    ],
    ['sync with a host without a port', message(MessageType.Sync, { ...RECORD, host: '127.0.0.1' })],
    [
      'update with a 100-character host',
      message(MessageType.Update, { ...RECORD, host: `${'1'.repeat(94)}:7946` }),
    ],
    // Sequence numbers.
    ['ping without seq', message(MessageType.Ping, {})],
    ['ping with a negative seq', message(MessageType.Ping, { seq: -1 })],
    ['ping with a fractional seq', message(MessageType.Ping, { seq: 1.5 })],
    ['ack with a string seq', message(MessageType.Ack, { seq: '1' })],
    ['ack with a seq beyond 2^53', message(MessageType.Ack, { seq: 2 ** 60 })],
    ['ping-req with a nil seq', message(MessageType.PingReq, { seq: null, destination: '127.0.0.1:7946' })],
    // Records.
    ['update with state 3', message(MessageType.Update, { ...RECORD, state: 3 })],
    ["update with state '0'", message(MessageType.Update, { ...RECORD, state: '0' })],
    ['update without state', message(MessageType.Update, { host: RECORD.host, incarnation: 1, meta: META })],
    ['update with a negative incarnation', message(MessageType.Update, { ...RECORD, incarnation: -1 })],
    ['update with a fractional incarnation', message(MessageType.Update, { ...RECORD, incarnation: 0.5 })],
    ['update without meta', message(MessageType.Update, { host: RECORD.host, state: 0, incarnation: 1 })],
    ['update with a nil meta', message(MessageType.Update, { ...RECORD, meta: null })],
    ['update with meta as an array', message(MessageType.Update, { ...RECORD, meta: [1, 2] })],
    ['update with an empty member id', message(MessageType.Update, { ...RECORD, meta: { ...META, i: '' } })],
    [
      'update with a 129-character name',
      message(MessageType.Update, { ...RECORD, meta: { ...META, n: 'x'.repeat(129) } }),
    ],
    [
      'update with a numeric gRPC address',
      message(MessageType.Update, { ...RECORD, meta: { ...META, g: 7950 } }),
    ],
    [
      'update with a negative start time',
      message(MessageType.Update, { ...RECORD, meta: { ...META, s: -5 } }),
    ],
    [
      'update with a string leave time',
      message(MessageType.Update, { ...RECORD, meta: { ...META, l: 'now' } }),
    ],
    [
      'update with a 513-character filter',
      message(MessageType.Update, { ...RECORD, meta: { ...META, f: 'x'.repeat(513) } }),
    ],
    // Bodies that are not maps or not msgpack.
    ['ping with an array body', message(MessageType.Ping, [1])],
    ['ping with a string body', message(MessageType.Ping, 'seq')],
    ['ping with a number body', message(MessageType.Ping, 5)],
    ['ping with binary data as body', message(MessageType.Ping, Buffer.from([1, 2, 3]))],
    ['ping with no body at all', Buffer.from([MessageType.Ping])],
    ['ping with a never-used msgpack byte', rawMessage(MessageType.Ping, MSGPACK_NEVER_USED)],
    ['ping with a map header and no entries', rawMessage(MessageType.Ping, 0x82)],
    [
      'sync with a string of declared length 2^32-1',
      rawMessage(MessageType.Sync, 0xdb, 0xff, 0xff, 0xff, 0xff),
    ],
    [
      'update with an array of declared length 2^32-1',
      rawMessage(MessageType.Update, 0xdd, 0xff, 0xff, 0xff, 0xff),
    ],
    // Framing.
    ['an empty payload', Buffer.alloc(0)],
    ['swim compressed type (1)', message(1, { seq: 1 })],
    ['swim encrypted type (2)', message(2, { seq: 1 })],
    ['an unknown type byte', message(99, { seq: 1 })],
    ['a compound without its count', Buffer.from([MessageType.Compound, 1])],
    ['a compound of zero messages', compound([])],
    [
      'a compound of 256 messages',
      compound(Array.from({ length: 256 }, () => message(MessageType.Ping, { seq: 1 }))),
    ],
    ['a compound claiming more parts than it has', compound([message(MessageType.Ping, { seq: 1 })], 2)],
    ['a compound with a part of length 0', compound([Buffer.alloc(0)])],
    [
      'a compound whose part length overruns the datagram',
      (() => {
        const good = compound([message(MessageType.Ping, { seq: 1 })]);
        good.writeUInt16LE(200, 3);
        return good;
      })(),
    ],
    ['a compound nested in a compound', compound([compound([message(MessageType.Ping, { seq: 1 })])])],
    [
      'a compound with trailing bytes',
      Buffer.concat([compound([message(MessageType.Ping, { seq: 1 })]), Buffer.from([9])]),
    ],
    [
      'a compound with one good and one bad part',
      compound([message(MessageType.Ping, { seq: 1 }), rawMessage(MessageType.Update, MSGPACK_NIL)]),
    ],
  ];
  for (const [description, payload] of table) {
    it(`rejects ${description} with MalformedGossipError`, () => {
      expect(() => parseSwimPayload(payload)).toThrow(MalformedGossipError);
    });
  }
});

/** A valid digest payload covering everything, for the mutation property and the digest tests. */
const DIGEST: DigestMessage = {
  sender: '127.0.0.1:7946',
  replyWanted: true,
  rangeLow: 0,
  rangeHigh: 0xffffffff,
  entries: [
    { hostHash: 5, incarnation: 0, state: 0 },
    { hostHash: 0x80000000, incarnation: 12, state: 1 },
    { hostHash: 0xffffffff, incarnation: 2 ** 40, state: 3 },
  ],
};

const VALID_PAYLOADS: readonly Buffer[] = [
  message(MessageType.Ping, { seq: 1 }),
  message(MessageType.PingReq, { seq: 7, destination: '127.0.0.1:7946' }),
  message(MessageType.Update, RECORD),
  compound([message(MessageType.Ping, { seq: 1 }), message(MessageType.Sync, RECORD), encodeDigest(DIGEST)]),
  encodeDigest(DIGEST),
];

/** Parses or throws MalformedGossipError; any other outcome is what the property is looking for. */
function parsesOrIsMalformed(payload: Buffer): boolean {
  try {
    parseSwimPayload(payload);
    return true;
  } catch (error) {
    if (error instanceof MalformedGossipError) return true;
    throw error;
  }
}

describe('parseSwimPayload on random input', () => {
  it('parses random bytes or throws MalformedGossipError, never another error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => parsesOrIsMalformed(Buffer.from(bytes))),
      { numRuns: 3000 },
    );
  });

  it('parses a known type byte followed by random bytes or throws MalformedGossipError', () => {
    const typeBytes = Object.values(MessageType);
    fc.assert(
      fc.property(fc.constantFrom(...typeBytes), fc.uint8Array({ maxLength: 120 }), (type, tail) =>
        parsesOrIsMalformed(Buffer.concat([Buffer.from([type]), tail])),
      ),
      { numRuns: 3000 },
    );
  });

  it('parses random mutations of valid payloads or throws MalformedGossipError', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        value: fc.integer({ min: 0, max: 255 }),
      }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID_PAYLOADS),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (valid, mutations) => {
          let bytes = [...valid];
          for (const change of mutations) {
            const at = bytes.length === 0 ? 0 : change.at % bytes.length;
            if (change.kind === 'set') bytes[at] = change.value;
            else if (change.kind === 'flip') bytes[at] = (bytes[at] ?? 0) ^ (1 << change.bit);
            else if (change.kind === 'cut') bytes = bytes.slice(0, at);
            else bytes.splice(at, 0, change.value);
          }
          return parsesOrIsMalformed(Buffer.from(bytes));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('digest messages', () => {
  it('encode to the documented byte layout', () => {
    const digest: DigestMessage = {
      sender: '10.0.0.1:7946',
      replyWanted: false,
      rangeLow: 0x10,
      rangeHigh: 0x20,
      entries: [{ hostHash: 0x11, incarnation: 3, state: 1 }],
    };
    const expected = Buffer.concat([
      Buffer.from([64, 0, 13]),
      Buffer.from('10.0.0.1:7946'),
      Buffer.from('00000010' + '00000020' + '0001', 'hex'),
      Buffer.from('00000011', 'hex'),
      Buffer.from('4008000000000000', 'hex'), // 3.0 as a big-endian double
      Buffer.from([1]),
    ]);
    const encoded = encodeDigest(digest);
    expect(encoded.toString('hex')).toBe(expected.toString('hex'));
    expect(encoded.length).toBe(digestBytes(digest.sender.length, 1));
  });

  it('round-trip through encodeDigest and parseSwimPayload (property)', () => {
    const digestArbitrary = fc
      .tuple(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.boolean(),
        fc.constantFrom('127.0.0.1:7946', '[::1]:65535', '192.168.100.200:1'),
      )
      .chain(([a, b, replyWanted, sender]) => {
        const rangeLow = Math.min(a, b);
        const rangeHigh = Math.max(a, b);
        const entry = fc.record({
          hostHash: fc.integer({ min: rangeLow, max: rangeHigh }),
          incarnation: fc.maxSafeNat(),
          state: fc.constantFrom(0, 1, 2, 3),
        });
        return fc
          .array(entry, { maxLength: 40 })
          .map((entries): DigestMessage => ({ sender, replyWanted, rangeLow, rangeHigh, entries }));
      });
    fc.assert(
      fc.property(digestArbitrary, (digest) => {
        expect(parseSwimPayload(encodeDigest(digest))).toEqual([{ kind: 'digest', digest }]);
      }),
      { numRuns: 500 },
    );
  });

  it('parse inside a compound message', () => {
    const parsed = parseSwimPayload(compound([encodeDigest(DIGEST), message(MessageType.Ping, { seq: 4 })]));
    expect(parsed).toEqual([
      { kind: 'digest', digest: DIGEST },
      { kind: 'ping', seq: 4 },
    ]);
  });

  const badDigests: ReadonlyArray<[description: string, payload: Buffer]> = [
    ['an inverted range', encodeDigest({ ...DIGEST, rangeLow: 10, rangeHigh: 9, entries: [] })],
    [
      'an entry below the range',
      encodeDigest({
        ...DIGEST,
        rangeLow: 100,
        rangeHigh: 200,
        entries: [{ hostHash: 99, incarnation: 1, state: 0 }],
      }),
    ],
    [
      'an entry above the range',
      encodeDigest({
        ...DIGEST,
        rangeLow: 100,
        rangeHigh: 200,
        entries: [{ hostHash: 201, incarnation: 1, state: 0 }],
      }),
    ],
    ['one byte too many', Buffer.concat([encodeDigest(DIGEST), Buffer.from([0])])],
    ['one byte too few', encodeDigest(DIGEST).subarray(0, -1)],
    ['a whole entry missing', encodeDigest(DIGEST).subarray(0, -13)],
    ['nothing after the type byte', Buffer.from([MessageType.Digest])],
    [
      'a sender length beyond the datagram',
      Buffer.from([MessageType.Digest, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ],
    ['a host-name sender', encodeDigest({ ...DIGEST, sender: 'localhost:7946' })],
    ['an empty sender', encodeDigest({ ...DIGEST, sender: '' })],
    [
      'a fractional incarnation',
      encodeDigest({ ...DIGEST, entries: [{ hostHash: 1, incarnation: 1.5, state: 0 }] }),
    ],
    [
      'a negative incarnation',
      encodeDigest({ ...DIGEST, entries: [{ hostHash: 1, incarnation: -1, state: 0 }] }),
    ],
    [
      'a NaN incarnation',
      encodeDigest({ ...DIGEST, entries: [{ hostHash: 1, incarnation: Number.NaN, state: 0 }] }),
    ],
    [
      'an infinite incarnation',
      encodeDigest({
        ...DIGEST,
        entries: [{ hostHash: 1, incarnation: Number.POSITIVE_INFINITY, state: 0 }],
      }),
    ],
    [
      'an incarnation of 2^53',
      encodeDigest({ ...DIGEST, entries: [{ hostHash: 1, incarnation: 2 ** 53, state: 0 }] }),
    ],
    ['an unknown state 4', encodeDigest({ ...DIGEST, entries: [{ hostHash: 1, incarnation: 1, state: 4 }] })],
  ];
  for (const [description, payload] of badDigests) {
    it(`with ${description} are rejected with MalformedGossipError`, () => {
      expect(() => parseSwimPayload(payload)).toThrow(MalformedGossipError);
    });
  }
});

describe('prototype pollution through msgpack', () => {
  it('a __proto__ key inside meta pollutes nothing and leaves only the known meta keys', () => {
    // JSON.parse makes __proto__ an own key, so msgpackr packs it as an ordinary map key.
    const hostileMeta = JSON.parse(
      JSON.stringify({ ...META, polluted: 'yes' }).replace(
        '{',
        '{"__proto__":{"polluted":"yes","l":1,"isAdmin":true},',
      ),
    );
    expect(Object.hasOwn(hostileMeta, '__proto__')).toBe(true);
    const payload = message(MessageType.Update, { ...RECORD, state: 2, meta: hostileMeta });
    const [parsed] = parseSwimPayload(payload);

    const probe: Record<string, unknown> = {};
    expect(probe.polluted).toBeUndefined();
    expect(probe.isAdmin).toBeUndefined();
    expect(probe.l).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');

    expect(parsed?.kind).toBe('update');
    if (parsed?.kind !== 'update') return;
    const meta = parsed.record.meta;
    expect(Object.keys(meta).sort()).toEqual(['c', 'f', 'g', 'i', 'n', 's', 'v']);
    expect(Object.getPrototypeOf(meta)).toBe(Object.prototype);
    // A leave time smuggled in through the prototype would turn this failed member into a left one.
    expect(meta.l).toBeUndefined();
    expect(meta).toEqual(META);
  });

  it('a __proto__ key at the top of a record pollutes nothing', () => {
    const hostile = JSON.parse(JSON.stringify(RECORD).replace('{', '{"__proto__":{"polluted":"yes"},'));
    const [parsed] = parseSwimPayload(message(MessageType.Sync, hostile));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parsed).toEqual({ kind: 'sync', record: RECORD });
  });
});
