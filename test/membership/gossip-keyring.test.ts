import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  GOSSIP_KEY_BYTES,
  GossipKeyError,
  generateGossipKey,
  makeGossipKeyring,
  parseGossipKey,
  readGossipKeyFile,
} from '../../src/membership/gossip-keyring.js';

const tempDir = mkdtempSync(path.join(os.tmpdir(), 'sniffmesh-keyring-test-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

let fileCounter = 0;
function writeKeyFile(text: string): string {
  const file = path.join(tempDir, `keys-${fileCounter++}.txt`);
  writeFileSync(file, text);
  return file;
}

function keyOfBytes(byteCount: number, fill = 7): string {
  return Buffer.alloc(byteCount, fill).toString('base64');
}

/** Runs `action`, returns the GossipKeyError it throws (fails the test if it throws nothing or another). */
function keyErrorOf(action: () => unknown): GossipKeyError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(GossipKeyError);
    return error as GossipKeyError;
  }
  throw new Error('expected a GossipKeyError, nothing was thrown');
}

describe('generateGossipKey and parseGossipKey', () => {
  it('parses what generateGossipKey prints into 32 secret bytes', () => {
    for (let round = 0; round < 20; round++) {
      const text = generateGossipKey();
      const key = parseGossipKey(text, 'generated');
      expect(key.secret.length).toBe(GOSSIP_KEY_BYTES);
      expect(key.secret.toString('base64')).toBe(text);
      expect(Number.isInteger(key.id) && key.id >= 0 && key.id <= 0xffffffff).toBe(true);
    }
  });

  it('ignores surrounding whitespace', () => {
    const text = keyOfBytes(32);
    expect(parseGossipKey(`  ${text}\r\n`, 'padded').secret.equals(Buffer.alloc(32, 7))).toBe(true);
  });

  it('gives the same key the same id every time and different keys different ids', () => {
    const text = keyOfBytes(32, 1);
    expect(parseGossipKey(text, 'a').id).toBe(parseGossipKey(text, 'b').id);
    const ids = new Set<number>();
    for (let fill = 0; fill < 256; fill++) ids.add(parseGossipKey(keyOfBytes(32, fill), 'fill').id);
    for (let round = 0; round < 200; round++) ids.add(parseGossipKey(generateGossipKey(), 'random').id);
    expect(ids.size).toBe(456);
  });

  it('does not use the raw key bytes as the id (the id must not reveal the key)', () => {
    const secret = randomBytes(32);
    const key = parseGossipKey(secret.toString('base64'), 'random');
    expect(key.id).not.toBe(secret.readUInt32BE(0));
  });

  for (const [description, text] of [
    ['an empty string', ''],
    ['spaces in the middle', `${keyOfBytes(16)} ${keyOfBytes(16)}`],
    ['base64url characters', keyOfBytes(32).replace(/.$/, '-').replace(/^./, '_')],
    ['a hex string with a dot', 'deadbeef.cafe'],
    ['three padding characters', `${keyOfBytes(31)}=`],
  ] as const) {
    it(`rejects ${description} as not base64, naming where it came from`, () => {
      const error = keyErrorOf(() => parseGossipKey(text, '--gossip-key'));
      expect(error.message).toContain('--gossip-key');
      expect(error.message).toContain('not base64');
      expect(error.code).toBe('GOSSIP_KEY');
      expect(error.exitCode).toBe(2);
    });
  }

  for (const byteCount of [1, 16, 31, 33, 64]) {
    it(`rejects a ${byteCount}-byte key, saying its length and where it came from`, () => {
      const error = keyErrorOf(() => parseGossipKey(keyOfBytes(byteCount), 'SNIFFMESH_GOSSIP_KEY'));
      expect(error.message).toContain('SNIFFMESH_GOSSIP_KEY');
      expect(error.message).toContain(`is ${byteCount} bytes, expected 32`);
    });
  }
});

describe('makeGossipKeyring', () => {
  it('accepts the primary and every older key, and signs with the primary', () => {
    const primary = parseGossipKey(keyOfBytes(32, 1), 'p');
    const older = [parseGossipKey(keyOfBytes(32, 2), 'o1'), parseGossipKey(keyOfBytes(32, 3), 'o2')];
    const ring = makeGossipKeyring(primary, older);
    expect(ring.primary).toBe(primary);
    expect([...ring.accepted.keys()].sort()).toEqual([primary.id, older[0]?.id, older[1]?.id].sort());
    expect(ring.accepted.get(older[1]?.id ?? -1)?.secret.equals(Buffer.alloc(32, 3))).toBe(true);
  });
});

describe('readGossipKeyFile', () => {
  it('reads the primary key from the first key line and older keys from the rest', () => {
    const primary = keyOfBytes(32, 0xa);
    const olderOne = keyOfBytes(32, 0xb);
    const olderTwo = keyOfBytes(32, 0xc);
    const file = writeKeyFile(
      [
        '# sniffmesh gossip keys: first is primary',
        '',
        `  ${primary}  `,
        '   ',
        '# rotated out next week',
        olderOne,
        `${olderTwo}\r`,
        '',
      ].join('\n'),
    );
    const ring = readGossipKeyFile(file);
    expect(ring.primary.secret.equals(Buffer.alloc(32, 0xa))).toBe(true);
    expect(ring.accepted.size).toBe(3);
    const acceptedSecrets = [...ring.accepted.values()].map((key) => key.secret.toString('base64')).sort();
    expect(acceptedSecrets).toEqual([primary, olderOne, olderTwo].sort());
    expect(ring.primary.id).toBe(parseGossipKey(primary, 'same key').id);
  });

  it('reads a file holding only a primary key without a trailing newline', () => {
    const ring = readGossipKeyFile(writeKeyFile(keyOfBytes(32, 0xd)));
    expect(ring.accepted.size).toBe(1);
    expect(ring.primary.secret.equals(Buffer.alloc(32, 0xd))).toBe(true);
  });

  it('names the file and line of a bad key', () => {
    const file = writeKeyFile(`# keys\n${keyOfBytes(32)}\n${keyOfBytes(16)}\n`);
    const error = keyErrorOf(() => readGossipKeyFile(file));
    expect(error.message).toContain(`${file} line 3`);
    expect(error.message).toContain('16 bytes');
  });

  it('says an empty file holds no key', () => {
    const file = writeKeyFile('');
    const error = keyErrorOf(() => readGossipKeyFile(file));
    expect(error.message).toBe(`gossip key file ${file} holds no key`);
  });

  it('says a file of comments and blank lines holds no key', () => {
    const file = writeKeyFile('# no keys yet\n\n   \n# still none\n');
    expect(keyErrorOf(() => readGossipKeyFile(file)).message).toContain('holds no key');
  });

  it('says a missing file cannot be read, naming the path', () => {
    const missing = path.join(tempDir, 'does-not-exist.keys');
    const error = keyErrorOf(() => readGossipKeyFile(missing));
    expect(error.message).toContain(`cannot read gossip key file ${missing}`);
    expect(error.message).toContain('ENOENT');
  });
});
