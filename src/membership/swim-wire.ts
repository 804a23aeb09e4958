import { Unpackr } from 'msgpackr';
import { parseGossipAddress } from './gossip-address.js';
import { validateWireMetadata, type WireMetadata } from './member-metadata.js';

/**
 * swim's wire format, parsed and validated before swim sees anything. swim 0.6 decodes a message and then
 * trusts it: a nil body, a numeric `host` or a bad port crashes the process, and one forged record can
 * crash every node that later probes it (shared/research/membership-swim-vs-serf.md, "Bugs"). So inbound
 * datagrams are parsed here in full and dropped whole when any part is malformed.
 *
 * Layout (swim's): one type byte, then a msgpack body; a compound message is
 * [type 0][count uint16le] then count x ([length uint16le][message]).
 * Message types (ONLY APPEND): swim's own, plus DIGEST, ours, which swim never sees.
 */
export const MessageType = {
  Compound: 0,
  Ping: 10,
  PingReq: 11,
  Sync: 12,
  Ack: 13,
  Update: 14,
  /** Anti-entropy digest (state-digest.ts). */
  Digest: 64,
} as const;

/** swim's member states on the wire. */
export const SwimState = { Alive: 0, Suspect: 1, Faulty: 2 } as const;
export type SwimStateCode = 0 | 1 | 2;

/** A member record as swim stores and gossips it. */
export interface SwimRecord {
  host: string;
  state: SwimStateCode;
  incarnation: number;
  meta: WireMetadata;
}

/** One entry of an anti-entropy digest: enough to tell which side holds the newer record. */
export interface DigestEntry {
  readonly hostHash: number;
  readonly incarnation: number;
  /** DIGEST_STATE_* */
  readonly state: number;
}

export interface DigestMessage {
  /** The sender's own gossip address (replies go there). */
  readonly sender: string;
  /** The receiver should answer with its own digest over the same range (the "pull" half). */
  readonly replyWanted: boolean;
  /** Entries cover host hashes in [rangeLow, rangeHigh]; a host in range and absent is "not known". */
  readonly rangeLow: number;
  readonly rangeHigh: number;
  readonly entries: readonly DigestEntry[];
}

export const DIGEST_STATE_ALIVE = 0;
export const DIGEST_STATE_SUSPECT = 1;
/** Listed so the member held failed, if alive, learns it and refutes; failed records are never pushed. */
export const DIGEST_STATE_FAILED = 2;
export const DIGEST_STATE_LEFT = 3;
export const DIGEST_ENTRY_BYTES = 13;
const DIGEST_FIXED_BYTES = 1 + 1 + 1 + 4 + 4 + 2;

export type SwimMessage =
  | { readonly kind: 'ping'; readonly seq: number }
  | { readonly kind: 'ack'; readonly seq: number }
  | { readonly kind: 'ping-req'; readonly seq: number; readonly destination: string }
  | { readonly kind: 'sync'; readonly record: SwimRecord }
  | { readonly kind: 'update'; readonly record: SwimRecord }
  | { readonly kind: 'digest'; readonly digest: DigestMessage };

/** A compound message's header: type byte and message count. */
export const COMPOUND_HEADER_BYTES = 3;
/** Most messages one compound datagram may hold; more is malformed (swim itself packs ~20 at most). */
export const MAX_COMPOUND_MESSAGES = 255;

export class MalformedGossipError extends Error {
  override name = 'MalformedGossipError';
}

const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false, int64AsType: 'number' });

function decodeBody(body: Buffer): unknown {
  try {
    return unpackr.unpack(body);
  } catch {
    throw new MalformedGossipError('body is not valid msgpack');
  }
}

function field(body: unknown, name: string): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MalformedGossipError('body is not a map');
  }
  return Object.hasOwn(body, name) ? (body as Record<string, unknown>)[name] : undefined;
}

function sequenceNumber(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new MalformedGossipError('seq is not a non-negative integer');
  }
  return value;
}

export function validateRecord(body: unknown): SwimRecord {
  const host = field(body, 'host');
  if (parseGossipAddress(host) === undefined) throw new MalformedGossipError('host is not ip:port');
  const state = field(body, 'state');
  if (state !== 0 && state !== 1 && state !== 2) throw new MalformedGossipError('state is not 0, 1 or 2');
  const incarnation = field(body, 'incarnation');
  if (typeof incarnation !== 'number' || !Number.isSafeInteger(incarnation) || incarnation < 0) {
    throw new MalformedGossipError('incarnation is not a non-negative integer');
  }
  const meta = validateWireMetadata(field(body, 'meta'));
  if (meta === undefined) throw new MalformedGossipError('meta is missing or malformed');
  return { host: host as string, state, incarnation, meta };
}

function parseDigest(buffer: Buffer): DigestMessage {
  if (buffer.length < DIGEST_FIXED_BYTES) throw new MalformedGossipError('digest is truncated');
  const flags = buffer[1] ?? 0;
  const hostLength = buffer[2] ?? 0;
  let offset = 3;
  if (buffer.length < DIGEST_FIXED_BYTES + hostLength) throw new MalformedGossipError('digest is truncated');
  const sender = buffer.toString('utf8', offset, offset + hostLength);
  if (parseGossipAddress(sender) === undefined)
    throw new MalformedGossipError('digest sender is not ip:port');
  offset += hostLength;
  const rangeLow = buffer.readUInt32BE(offset);
  const rangeHigh = buffer.readUInt32BE(offset + 4);
  const count = buffer.readUInt16BE(offset + 8);
  offset += 10;
  if (rangeLow > rangeHigh) throw new MalformedGossipError('digest range is inverted');
  if (buffer.length !== offset + count * DIGEST_ENTRY_BYTES) {
    throw new MalformedGossipError('digest length does not match its entry count');
  }
  const entries: DigestEntry[] = [];
  for (let index = 0; index < count; index++) {
    const hostHash = buffer.readUInt32BE(offset);
    const incarnation = buffer.readDoubleBE(offset + 4);
    const state = buffer[offset + 12] ?? 0xff;
    if (!Number.isSafeInteger(incarnation) || incarnation < 0) {
      throw new MalformedGossipError('digest incarnation is not a non-negative integer');
    }
    if (state > DIGEST_STATE_LEFT) {
      throw new MalformedGossipError('digest state is unknown');
    }
    if (hostHash < rangeLow || hostHash > rangeHigh)
      throw new MalformedGossipError('digest entry out of range');
    entries.push({ hostHash, incarnation, state });
    offset += DIGEST_ENTRY_BYTES;
  }
  return { sender, replyWanted: (flags & 1) === 1, rangeLow, rangeHigh, entries };
}

export function encodeDigest(digest: DigestMessage): Buffer {
  const host = Buffer.from(digest.sender, 'utf8');
  const buffer = Buffer.alloc(DIGEST_FIXED_BYTES + host.length + digest.entries.length * DIGEST_ENTRY_BYTES);
  buffer[0] = MessageType.Digest;
  buffer[1] = digest.replyWanted ? 1 : 0;
  buffer[2] = host.length;
  host.copy(buffer, 3);
  let offset = 3 + host.length;
  buffer.writeUInt32BE(digest.rangeLow, offset);
  buffer.writeUInt32BE(digest.rangeHigh, offset + 4);
  buffer.writeUInt16BE(digest.entries.length, offset + 8);
  offset += 10;
  for (const entry of digest.entries) {
    buffer.writeUInt32BE(entry.hostHash, offset);
    buffer.writeDoubleBE(entry.incarnation, offset + 4);
    buffer[offset + 12] = entry.state;
    offset += DIGEST_ENTRY_BYTES;
  }
  return buffer;
}

/** Bytes of a digest datagram payload with `entries` entries (for splitting a digest to fit the MTU). */
export function digestBytes(senderChars: number, entries: number): number {
  return DIGEST_FIXED_BYTES + senderChars + entries * DIGEST_ENTRY_BYTES;
}

function parseSingle(buffer: Buffer, out: SwimMessage[]): void {
  const type = buffer[0];
  const body = buffer.subarray(1);
  switch (type) {
    case MessageType.Ping:
      out.push({ kind: 'ping', seq: sequenceNumber(field(decodeBody(body), 'seq')) });
      return;
    case MessageType.Ack:
      out.push({ kind: 'ack', seq: sequenceNumber(field(decodeBody(body), 'seq')) });
      return;
    case MessageType.PingReq: {
      const decoded = decodeBody(body);
      const destination = field(decoded, 'destination');
      if (parseGossipAddress(destination) === undefined) {
        throw new MalformedGossipError('ping-req destination is not ip:port');
      }
      out.push({
        kind: 'ping-req',
        seq: sequenceNumber(field(decoded, 'seq')),
        destination: destination as string,
      });
      return;
    }
    case MessageType.Sync:
      out.push({ kind: 'sync', record: validateRecord(decodeBody(body)) });
      return;
    case MessageType.Update:
      out.push({ kind: 'update', record: validateRecord(decodeBody(body)) });
      return;
    case MessageType.Digest:
      out.push({ kind: 'digest', digest: parseDigest(buffer) });
      return;
    default:
      throw new MalformedGossipError(`unknown message type ${type}`);
  }
}

/**
 * Parses one datagram payload into validated messages. Throws MalformedGossipError (and nothing else)
 * for anything malformed; the caller drops the whole datagram and counts it.
 */
export function parseSwimPayload(payload: Buffer): SwimMessage[] {
  if (payload.length < 1) throw new MalformedGossipError('empty payload');
  const messages: SwimMessage[] = [];
  if (payload[0] !== MessageType.Compound) {
    parseSingle(payload, messages);
    return messages;
  }
  if (payload.length < COMPOUND_HEADER_BYTES) throw new MalformedGossipError('compound header is truncated');
  const count = payload.readUInt16LE(1);
  if (count === 0 || count > MAX_COMPOUND_MESSAGES) throw new MalformedGossipError(`compound count ${count}`);
  let offset = COMPOUND_HEADER_BYTES;
  for (let index = 0; index < count; index++) {
    if (offset + 2 > payload.length) throw new MalformedGossipError('compound length is truncated');
    const length = payload.readUInt16LE(offset);
    offset += 2;
    if (length === 0 || offset + length > payload.length)
      throw new MalformedGossipError('compound part overruns');
    const part = payload.subarray(offset, offset + length);
    if (part[0] === MessageType.Compound) throw new MalformedGossipError('nested compound');
    parseSingle(part, messages);
    offset += length;
  }
  if (offset !== payload.length) throw new MalformedGossipError('trailing bytes after compound');
  return messages;
}
