import { createHmac, timingSafeEqual } from 'node:crypto';
import type { GossipKeyring } from './gossip-keyring.js';

/**
 * Every gossip datagram travels in this envelope (ONLY APPEND new versions; never reuse a byte):
 *
 *   0      version (ENVELOPE_VERSION)
 *   1..4   key id (0 = unauthenticated cluster, no tag)
 *   5..12  sender id: random per process start
 *   13..16 sequence number (uint32, per sender)
 *   17..22 sender's clock, ms since the epoch (uint48)
 *   23..   swim payload
 *   last 16 bytes: HMAC-SHA256 tag over everything before it, truncated to 128 bits (keyed clusters)
 *
 * The sender id, sequence and clock let receivers drop replays (replay-guard.ts).
 */
export const ENVELOPE_VERSION = 0xa1;
export const ENVELOPE_HEADER_BYTES = 23;
export const ENVELOPE_TAG_BYTES = 16;
export const SENDER_ID_BYTES = 8;

export interface SealedHeader {
  readonly senderId: Buffer;
  readonly sequence: number;
  readonly sentAtMs: number;
}

export type EnvelopeDropReason =
  | 'truncated'
  | 'bad-version'
  | 'unauthenticated'
  | 'unexpected-tag'
  | 'unknown-key'
  | 'bad-tag';

export type OpenedEnvelope =
  | {
      readonly ok: true;
      readonly payload: Buffer;
      readonly senderId: string;
      readonly sequence: number;
      readonly sentAtMs: number;
    }
  | { readonly ok: false; readonly reason: EnvelopeDropReason };

export function envelopeOverheadBytes(keyring: GossipKeyring | undefined): number {
  return ENVELOPE_HEADER_BYTES + (keyring ? ENVELOPE_TAG_BYTES : 0);
}

export function sealDatagram(
  payload: Buffer,
  header: SealedHeader,
  keyring: GossipKeyring | undefined,
): Buffer {
  const tagBytes = keyring ? ENVELOPE_TAG_BYTES : 0;
  const datagram = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + payload.length + tagBytes);
  datagram[0] = ENVELOPE_VERSION;
  datagram.writeUInt32BE(keyring ? keyring.primary.id : 0, 1);
  header.senderId.copy(datagram, 5, 0, SENDER_ID_BYTES);
  datagram.writeUInt32BE(header.sequence >>> 0, 13);
  datagram.writeUIntBE(header.sentAtMs, 17, 6);
  payload.copy(datagram, ENVELOPE_HEADER_BYTES);
  if (keyring) {
    const bodyEnd = ENVELOPE_HEADER_BYTES + payload.length;
    const tag = createHmac('sha256', keyring.primary.secret).update(datagram.subarray(0, bodyEnd)).digest();
    tag.copy(datagram, bodyEnd, 0, ENVELOPE_TAG_BYTES);
  }
  return datagram;
}

export function openDatagram(datagram: Buffer, keyring: GossipKeyring | undefined): OpenedEnvelope {
  if (datagram.length < ENVELOPE_HEADER_BYTES + 1) return { ok: false, reason: 'truncated' };
  if (datagram[0] !== ENVELOPE_VERSION) return { ok: false, reason: 'bad-version' };
  const keyId = datagram.readUInt32BE(1);
  let bodyEnd = datagram.length;
  if (keyring === undefined) {
    if (keyId !== 0) return { ok: false, reason: 'unexpected-tag' };
  } else {
    if (keyId === 0) return { ok: false, reason: 'unauthenticated' };
    const key = keyring.accepted.get(keyId);
    if (key === undefined) return { ok: false, reason: 'unknown-key' };
    bodyEnd = datagram.length - ENVELOPE_TAG_BYTES;
    if (bodyEnd < ENVELOPE_HEADER_BYTES + 1) return { ok: false, reason: 'truncated' };
    const expected = createHmac('sha256', key.secret).update(datagram.subarray(0, bodyEnd)).digest();
    if (!timingSafeEqual(expected.subarray(0, ENVELOPE_TAG_BYTES), datagram.subarray(bodyEnd))) {
      return { ok: false, reason: 'bad-tag' };
    }
  }
  return {
    ok: true,
    payload: datagram.subarray(ENVELOPE_HEADER_BYTES, bodyEnd),
    senderId: datagram.toString('hex', 5, 5 + SENDER_ID_BYTES),
    sequence: datagram.readUInt32BE(13),
    sentAtMs: datagram.readUIntBE(17, 6),
  };
}
