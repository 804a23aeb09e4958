import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SniffmeshError } from '../util/errors.js';

/** Gossip keys are 32 random bytes, written as base64 (`sniffmesh keygen` prints one). */
export const GOSSIP_KEY_BYTES = 32;

export interface GossipKey {
  /** First 4 bytes of SHA-256 over the key: sent with every datagram so the receiver picks the key. */
  readonly id: number;
  readonly secret: Buffer;
}

/**
 * One primary key (signs everything sent) plus older keys still accepted on receipt, so keys rotate
 * without a flag day: add the new key as accepted everywhere, make it primary everywhere, then drop the
 * old one.
 */
export interface GossipKeyring {
  readonly primary: GossipKey;
  /** Every key accepted on receipt, the primary included. */
  readonly accepted: ReadonlyMap<number, GossipKey>;
}

export class GossipKeyError extends SniffmeshError {
  override name = 'GossipKeyError';
  constructor(message: string) {
    super('GOSSIP_KEY', message, { exitCode: 2 });
  }
}

export function generateGossipKey(): string {
  return randomBytes(GOSSIP_KEY_BYTES).toString('base64');
}

export function parseGossipKey(text: string, where: string): GossipKey {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) {
    throw new GossipKeyError(`${where}: not base64 (make a key with 'sniffmesh keygen')`);
  }
  const secret = Buffer.from(trimmed, 'base64');
  if (secret.length !== GOSSIP_KEY_BYTES) {
    throw new GossipKeyError(
      `${where}: the key is ${secret.length} bytes, expected ${GOSSIP_KEY_BYTES} (make one with 'sniffmesh keygen')`,
    );
  }
  const id = createHash('sha256').update('sniffmesh gossip key id').update(secret).digest().readUInt32BE(0);
  return { id, secret };
}

/** Builds a keyring from the primary key and the older keys still accepted. */
export function makeGossipKeyring(primary: GossipKey, older: readonly GossipKey[] = []): GossipKeyring {
  const accepted = new Map<number, GossipKey>();
  accepted.set(primary.id, primary);
  for (const key of older) accepted.set(key.id, key);
  return { primary, accepted };
}

/**
 * A key file holds one base64 key per line: the first is the primary, the others are accepted old keys.
 * Blank lines and lines starting with # are ignored.
 */
export function readGossipKeyFile(path: string): GossipKeyring {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new GossipKeyError(`cannot read gossip key file ${path}: ${(error as Error).message}`);
  }
  const keys: GossipKey[] = [];
  text.split('\n').forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    keys.push(parseGossipKey(trimmed, `${path} line ${index + 1}`));
  });
  const [primary, ...older] = keys;
  if (primary === undefined) throw new GossipKeyError(`gossip key file ${path} holds no key`);
  return makeGossipKeyring(primary, older);
}
