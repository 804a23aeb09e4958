/**
 * Recognising what the first bytes of an input are: gzip, or a reason why they are not a capture we
 * read, worded so the user knows what to do (decompress first, convert with editcap, ...).
 */

/** Bytes needed to tell the formats apart. */
export const MAGIC_BYTES = 4;

export function isGzipMagic(data: Uint8Array, length: number): boolean {
  return length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}

/** Known non-capture or unsupported magics, keyed by the first four bytes read big-endian. */
const KNOWN_MAGICS: ReadonlyArray<{ magic: number; mask: number; what: string }> = [
  {
    magic: 0xa1b2cd34,
    mask: 0xffffffff,
    what: 'a modified (Kuznetzov) pcap, not supported: convert it with editcap',
  },
  {
    magic: 0x34cdb2a1,
    mask: 0xffffffff,
    what: 'a modified (Kuznetzov) pcap, not supported: convert it with editcap',
  },
  { magic: 0x736e6f6f, mask: 0xffffffff, what: 'a snoop capture, not supported: convert it with editcap' },
  { magic: 0x425a6800, mask: 0xffffff00, what: 'bzip2-compressed: decompress it first' },
  { magic: 0xfd377a58, mask: 0xffffffff, what: 'xz-compressed: decompress it first' },
  { magic: 0x28b52ffd, mask: 0xffffffff, what: 'zstd-compressed: decompress it first' },
  { magic: 0x504b0304, mask: 0xffffffff, what: 'a zip archive: extract it first' },
];

/** The damage reason for an input whose first four bytes (big-endian) match no capture format. */
export function describeUnknownMagic(magic: number): string {
  const hex = magic.toString(16).padStart(8, '0');
  for (const known of KNOWN_MAGICS) {
    if ((magic & known.mask) >>> 0 === known.magic) {
      return `not a capture file: unknown magic 0x${hex} (looks like ${known.what})`;
    }
  }
  return `not a capture file: unknown magic 0x${hex}`;
}
