import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ENVELOPE_HEADER_BYTES,
  ENVELOPE_TAG_BYTES,
  ENVELOPE_VERSION,
  envelopeOverheadBytes,
  openDatagram,
  type SealedHeader,
  sealDatagram,
} from '../../src/membership/datagram-envelope.js';
import { type GossipKey, makeGossipKeyring, parseGossipKey } from '../../src/membership/gossip-keyring.js';

/** Fixed keys so every run flips the same bits of the same datagram. */
function fixedKey(fill: number): GossipKey {
  return parseGossipKey(Buffer.alloc(32, fill).toString('base64'), `fixed key ${fill}`);
}

const KEY_OLD = fixedKey(0x11);
const KEY_NEW = fixedKey(0x22);
const KEY_STRANGER = fixedKey(0x33);

const HEADER: SealedHeader = {
  senderId: Buffer.from('0123456789abcdef', 'hex'),
  sequence: 0xdeadbeef,
  sentAtMs: 1_700_000_123_456,
};
const PAYLOAD = Buffer.from('\x0a\x81\xa3seq\x07 some swim payload bytes');

describe('sealDatagram / openDatagram round trip', () => {
  it('round-trips payload and header without a keyring', () => {
    const sealed = sealDatagram(PAYLOAD, HEADER, undefined);
    expect(sealed.length).toBe(ENVELOPE_HEADER_BYTES + PAYLOAD.length);
    expect(envelopeOverheadBytes(undefined)).toBe(23);
    expect(openDatagram(sealed, undefined)).toEqual({
      ok: true,
      payload: PAYLOAD,
      senderId: '0123456789abcdef',
      sequence: 0xdeadbeef,
      sentAtMs: 1_700_000_123_456,
    });
  });

  it('round-trips payload and header with a keyring', () => {
    const keyring = makeGossipKeyring(KEY_NEW);
    const sealed = sealDatagram(PAYLOAD, HEADER, keyring);
    expect(sealed.length).toBe(ENVELOPE_HEADER_BYTES + PAYLOAD.length + ENVELOPE_TAG_BYTES);
    expect(envelopeOverheadBytes(keyring)).toBe(23 + 16);
    expect(openDatagram(sealed, keyring)).toEqual({
      ok: true,
      payload: PAYLOAD,
      senderId: '0123456789abcdef',
      sequence: 0xdeadbeef,
      sentAtMs: 1_700_000_123_456,
    });
  });

  it('round-trips any payload, sender, sequence and clock (property)', () => {
    const keyring = makeGossipKeyring(KEY_NEW, [KEY_OLD]);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 2 ** 48 - 1 }),
        fc.boolean(),
        (payloadBytes, senderBytes, sequence, sentAtMs, keyed) => {
          const payload = Buffer.from(payloadBytes);
          const senderId = Buffer.from(senderBytes);
          const ring = keyed ? keyring : undefined;
          const opened = openDatagram(sealDatagram(payload, { senderId, sequence, sentAtMs }, ring), ring);
          expect(opened).toEqual({
            ok: true,
            payload,
            senderId: senderId.toString('hex'),
            sequence,
            sentAtMs,
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the sealed layout', () => {
  it('matches the layout documented in datagram-envelope.ts, tag checked with createHmac', () => {
    const keyring = makeGossipKeyring(KEY_NEW);
    const sealed = sealDatagram(PAYLOAD, HEADER, keyring);

    const header = Buffer.alloc(23);
    header[0] = 0xa1;
    header.writeUInt32BE(KEY_NEW.id, 1);
    Buffer.from('0123456789abcdef', 'hex').copy(header, 5);
    header.writeUInt32BE(0xdeadbeef, 13);
    header.writeUIntBE(1_700_000_123_456, 17, 6);
    const signed = Buffer.concat([header, PAYLOAD]);
    const tag = createHmac('sha256', Buffer.alloc(32, 0x22)).update(signed).digest().subarray(0, 16);

    expect(ENVELOPE_VERSION).toBe(0xa1);
    expect(sealed.subarray(0, 23).toString('hex')).toBe(header.toString('hex'));
    expect(sealed.subarray(23, 23 + PAYLOAD.length).equals(PAYLOAD)).toBe(true);
    expect(sealed.subarray(sealed.length - 16).toString('hex')).toBe(tag.toString('hex'));
    expect(sealed.equals(Buffer.concat([signed, tag]))).toBe(true);
  });

  it('writes key id 0 and no tag for an unauthenticated cluster', () => {
    const sealed = sealDatagram(PAYLOAD, HEADER, undefined);
    expect(sealed.readUInt32BE(1)).toBe(0);
    expect(sealed.subarray(23).equals(PAYLOAD)).toBe(true);
  });
});

describe('openDatagram rejects', () => {
  const keyring = makeGossipKeyring(KEY_NEW);
  const sealedKeyed = sealDatagram(PAYLOAD, HEADER, keyring);
  const sealedUnkeyed = sealDatagram(PAYLOAD, HEADER, undefined);

  it('every single-bit flip of a keyed datagram, with the reason its position implies', () => {
    // The keys are fixed: no single flip turns the key id into 0 or into another accepted id.
    let flips = 0;
    for (let byte = 0; byte < sealedKeyed.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = Buffer.from(sealedKeyed);
        flipped[byte] = (flipped[byte] ?? 0) ^ (1 << bit);
        const expected = byte === 0 ? 'bad-version' : byte <= 4 ? 'unknown-key' : 'bad-tag';
        expect({ byte, bit, opened: openDatagram(flipped, keyring) }).toEqual({
          byte,
          bit,
          opened: { ok: false, reason: expected },
        });
        flips++;
      }
    }
    expect(flips).toBe(sealedKeyed.length * 8);
  });

  it('a keyed datagram truncated at every length', () => {
    for (let length = 0; length < sealedKeyed.length; length++) {
      const opened = openDatagram(sealedKeyed.subarray(0, length), keyring);
      // Too short for a header, a payload byte and a tag: truncated; otherwise the tag no longer matches.
      const expected = length < ENVELOPE_HEADER_BYTES + 1 + ENVELOPE_TAG_BYTES ? 'truncated' : 'bad-tag';
      expect({ length, opened }).toEqual({ length, opened: { ok: false, reason: expected } });
    }
  });

  it('an unkeyed datagram shorter than a header plus one payload byte', () => {
    for (let length = 0; length <= ENVELOPE_HEADER_BYTES; length++) {
      expect(openDatagram(sealedUnkeyed.subarray(0, length), undefined)).toEqual({
        ok: false,
        reason: 'truncated',
      });
    }
  });

  it("an unauthenticated datagram (key id 0) at a keyed receiver: 'unauthenticated'", () => {
    expect(openDatagram(sealedUnkeyed, keyring)).toEqual({ ok: false, reason: 'unauthenticated' });
  });

  it("a keyed datagram at an unkeyed receiver: 'unexpected-tag'", () => {
    expect(openDatagram(sealedKeyed, undefined)).toEqual({ ok: false, reason: 'unexpected-tag' });
  });

  it("a datagram signed with a key the ring does not hold: 'unknown-key'", () => {
    const fromStranger = sealDatagram(PAYLOAD, HEADER, makeGossipKeyring(KEY_STRANGER));
    expect(openDatagram(fromStranger, keyring)).toEqual({ ok: false, reason: 'unknown-key' });
  });

  it("a datagram whose key id is accepted but whose tag was made with another key: 'bad-tag'", () => {
    const forged = sealDatagram(PAYLOAD, HEADER, makeGossipKeyring(KEY_STRANGER));
    forged.writeUInt32BE(KEY_NEW.id, 1);
    expect(openDatagram(forged, keyring)).toEqual({ ok: false, reason: 'bad-tag' });
  });

  it("an unknown version byte: 'bad-version'", () => {
    for (const version of [0x00, 0xa0, 0xa2, 0xff]) {
      const other = Buffer.from(sealedUnkeyed);
      other[0] = version;
      expect(openDatagram(other, undefined)).toEqual({ ok: false, reason: 'bad-version' });
    }
  });
});

describe('key rotation', () => {
  it('accepts a datagram signed with an older key the ring still lists', () => {
    const oldSender = makeGossipKeyring(KEY_OLD);
    const rotatedReceiver = makeGossipKeyring(KEY_NEW, [KEY_OLD]);
    const opened = openDatagram(sealDatagram(PAYLOAD, HEADER, oldSender), rotatedReceiver);
    expect(opened.ok).toBe(true);
    if (opened.ok) expect(opened.payload.equals(PAYLOAD)).toBe(true);
  });

  it('accepts a datagram signed with the new primary at a receiver that lists it as older', () => {
    const newSender = makeGossipKeyring(KEY_NEW, [KEY_OLD]);
    const notYetSwitched = makeGossipKeyring(KEY_OLD, [KEY_NEW]);
    expect(openDatagram(sealDatagram(PAYLOAD, HEADER, newSender), notYetSwitched).ok).toBe(true);
  });

  it('signs with the primary key only', () => {
    const sealed = sealDatagram(PAYLOAD, HEADER, makeGossipKeyring(KEY_NEW, [KEY_OLD]));
    expect(sealed.readUInt32BE(1)).toBe(KEY_NEW.id);
  });

  it("rejects an old key once it is dropped from the ring: 'unknown-key'", () => {
    const oldSender = makeGossipKeyring(KEY_OLD);
    expect(openDatagram(sealDatagram(PAYLOAD, HEADER, oldSender), makeGossipKeyring(KEY_NEW))).toEqual({
      ok: false,
      reason: 'unknown-key',
    });
  });
});
