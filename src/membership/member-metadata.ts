import { randomBytes } from 'node:crypto';
import { MAX_ADDRESS_CHARS } from './gossip-address.js';
import type { MemberMetadata } from './member.js';

/**
 * The metadata a member gossips about itself, in its wire form: short keys, because every record is sent
 * on every change and every anti-entropy repair (ONLY APPEND keys; never reuse one).
 */
export interface WireMetadata {
  /** id */
  i: string;
  /** name */
  n: string;
  /** gRPC address */
  g: string;
  /** version */
  v: string;
  /** capture interface */
  c: string;
  /** capture filter */
  f: string;
  /** started at, ms */
  s: number;
  /** left at, ms: set only on the record a member sends when it leaves gracefully */
  l?: number;
  /** networks (CIDR text) this member counts as its own; absent = none */
  a?: string[];
}

/** A member id is this many random bytes, written as hex (16 characters). */
export const MEMBER_ID_BYTES = 8;

/** A fresh member id: random per process start, so a restart on the same address is a new member. */
export function newMemberId(): string {
  return randomBytes(MEMBER_ID_BYTES).toString('hex');
}

/** Limits on what a record may carry, in characters; a record beyond them makes its datagram malformed
 * (dropped whole: no sniffmesh sends one). Within them, a name must still pass the member-name rule
 * (64 characters, member-name.ts) and networks must parse (record-admission.ts): such a record is dropped
 * on its own and counted. A capture interface is an interface name or `file:` plus a capture file's name. */
export const MAX_NAME_CHARS = 128;
export const MAX_FILTER_CHARS = 512;
const MAX_SHORT_CHARS = 64;
/** Networks per member: a host has a handful of addresses; the record must fit a datagram with others. */
export const MAX_NETWORKS = 16;
/** "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" is 49 characters. */
const MAX_NETWORK_CHARS = 50;

export function toWireMetadata(meta: MemberMetadata): WireMetadata {
  return {
    i: meta.id,
    n: meta.name,
    g: meta.grpc,
    v: meta.version,
    c: meta.captureInterface,
    f: meta.captureFilter,
    s: meta.startedAtMs,
    ...(meta.networks.length > 0 ? { a: [...meta.networks] } : {}),
  };
}

export function fromWireMetadata(wire: WireMetadata): MemberMetadata {
  return {
    id: wire.i,
    name: wire.n,
    grpc: wire.g,
    version: wire.v,
    captureInterface: wire.c,
    captureFilter: wire.f,
    startedAtMs: wire.s,
    networks: wire.a ?? [],
  };
}

function boundedString(value: unknown, maxChars: number): value is string {
  return typeof value === 'string' && value.length <= maxChars;
}

function networkList(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length <= MAX_NETWORKS &&
    value.every((item) => boundedString(item, MAX_NETWORK_CHARS) && item.length > 0)
  );
}

function timestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Validates metadata decoded from the network and returns a fresh object holding only the known fields
 * (nothing from the input object is kept, so no prototype tricks travel further); undefined if invalid.
 */
export function validateWireMetadata(value: unknown): WireMetadata | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const { i, n, g, v, c, f, s, l, a } = record;
  if (!boundedString(i, MAX_SHORT_CHARS) || i.length === 0) return undefined;
  if (!boundedString(n, MAX_NAME_CHARS)) return undefined;
  if (!boundedString(g, MAX_ADDRESS_CHARS)) return undefined;
  if (!boundedString(v, MAX_SHORT_CHARS)) return undefined;
  if (!boundedString(c, MAX_NAME_CHARS)) return undefined;
  if (!boundedString(f, MAX_FILTER_CHARS)) return undefined;
  if (!timestamp(s)) return undefined;
  if (l !== undefined && !timestamp(l)) return undefined;
  if (a !== undefined && !networkList(a)) return undefined;
  const wire: WireMetadata = { i, n, g, v, c, f, s };
  if (l !== undefined) wire.l = l;
  if (a !== undefined) wire.a = [...a];
  return wire;
}
