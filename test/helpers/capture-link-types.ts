import { readFileSync } from 'node:fs';

/**
 * The link types a capture file declares, read straight from its headers (pcap file header, pcapng
 * interface description blocks), independently of sniffmesh's reader. Returns [] when the file is not a
 * pcap/pcapng file or its headers are unreadable.
 */
export function declaredLinkTypes(file: string): number[] {
  const data = readFileSync(file);
  if (data.length < 24) return [];
  const magicLE = data.readUInt32LE(0);
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) return [data.readUInt32LE(20) & 0xffff];
  const magicBE = data.readUInt32BE(0);
  if (magicBE === 0xa1b2c3d4 || magicBE === 0xa1b23c4d) return [data.readUInt32BE(20) & 0xffff];
  if (magicLE !== 0x0a0d0d0a) return [];
  const types: number[] = [];
  let offset = 0;
  let little = true;
  while (offset + 12 <= data.length) {
    const type = little ? data.readUInt32LE(offset) : data.readUInt32BE(offset);
    if (type === 0x0a0d0d0a) little = data.readUInt32LE(offset + 8) === 0x1a2b3c4d;
    const length = little ? data.readUInt32LE(offset + 4) : data.readUInt32BE(offset + 4);
    if (length < 12 || offset + length > data.length) break;
    if (type === 1) types.push(little ? data.readUInt16LE(offset + 8) : data.readUInt16BE(offset + 8));
    offset += length;
  }
  return types;
}
