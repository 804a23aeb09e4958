/**
 * Turns the first frames of a classic pcap into a trafgen packet configuration: one `{ 0x.., ... }`
 * block per frame, which trafgen sends round-robin from its mmap TX ring at full speed (its pcap input
 * would pace by the file's timestamps instead).
 */

import { closeSync, existsSync, openSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { CaptureFileError } from '../../src/util/errors.js';

const PCAP_GLOBAL_HEADER_BYTES = 24;
const PCAP_RECORD_HEADER_BYTES = 16;
const PCAP_MAGIC_LITTLE_ENDIAN = 0xa1b2c3d4;
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/** Writes (or reuses) `configPath` with the first `frames` frames of `pcapPath`; returns the frame count. */
export function writeTrafgenConfig(pcapPath: string, configPath: string, frames: number): number {
  if (existsSync(configPath)) return frames;
  const chunk = Buffer.alloc(READ_CHUNK_BYTES);
  const descriptor = openSync(pcapPath, 'r');
  let length: number;
  try {
    length = readSync(descriptor, chunk, 0, chunk.length, 0);
  } finally {
    closeSync(descriptor);
  }
  if (length < PCAP_GLOBAL_HEADER_BYTES || chunk.readUInt32LE(0) !== PCAP_MAGIC_LITTLE_ENDIAN) {
    throw new CaptureFileError(pcapPath, 0, 'not a little-endian microsecond pcap file');
  }
  const blocks: string[] = [];
  let offset = PCAP_GLOBAL_HEADER_BYTES;
  while (blocks.length < frames && offset + PCAP_RECORD_HEADER_BYTES <= length) {
    const captured = chunk.readUInt32LE(offset + 8);
    const start = offset + PCAP_RECORD_HEADER_BYTES;
    if (start + captured > length) break;
    const bytes: string[] = [];
    for (let index = start; index < start + captured; index++) {
      bytes.push(`0x${chunk[index].toString(16).padStart(2, '0')}`);
    }
    blocks.push(`{ ${bytes.join(', ')} }`);
    offset = start + captured;
  }
  if (blocks.length === 0)
    throw new CaptureFileError(pcapPath, offset, 'no complete frame in the first 4 MiB');
  const partial = `${configPath}.partial`;
  writeFileSync(partial, `${blocks.join('\n')}\n`);
  renameSync(partial, configPath);
  return blocks.length;
}
