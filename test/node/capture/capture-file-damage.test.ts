import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES } from '../../../src/node/capture/capture-file-limits.js';
import { CaptureFileError } from '../../../src/util/errors.js';
import { CaptureScratch, readCapture } from '../../helpers/capture-file-runner.js';
import {
  type BuiltCapture,
  buildPcap,
  frameBytes,
  gzip,
  PcapngBuilder,
} from '../../helpers/capture-writer.js';

const scratch = new CaptureScratch();
afterAll(() => scratch.cleanup());

const PCAP_HEADER_BYTES = 24;

function smallPcap(): BuiltCapture {
  return buildPcap({
    records: [
      { seconds: 1, fraction: 1, data: frameBytes(14, 1) },
      { seconds: 2, fraction: 2, data: frameBytes(0, 2), originalLength: 60 },
      { seconds: 3, fraction: 3, data: frameBytes(33, 3) },
      { seconds: 4, fraction: 4, data: frameBytes(7, 4) },
    ],
  });
}

function smallPcapng(): BuiltCapture {
  return new PcapngBuilder()
    .section()
    .interface({ linkType: 1, tsresol: 9 })
    .enhancedPacket({ interfaceIndex: 0, timestamp: 10n, data: frameBytes(14, 1) })
    .otherBlock(5, frameBytes(8, 0))
    .simplePacket({ data: frameBytes(5, 2) })
    .section({ littleEndian: false })
    .interface({ linkType: 101 })
    .obsoletePacket({ interfaceIndex: 0, timestamp: 20n, data: frameBytes(3, 3) })
    .enhancedPacket({ interfaceIndex: 0, timestamp: 30n, data: frameBytes(0, 4), withOptions: true })
    .build();
}

/**
 * Cuts `built` at every byte offset and checks: exactly the frames whose record ends before the cut,
 * and no error when the cut falls on a record boundary, else a CaptureFileError at the start of the
 * cut record (offset 0 while the cut is inside the file header or first block).
 */
async function checkEveryTruncation(built: BuiltCapture, firstRecordOffset: number, compress: boolean) {
  const full = built.bytes;
  const boundaries = new Set([firstRecordOffset, ...built.blocks.map((b) => b.offset + b.length)]);
  for (let cut = 0; cut <= full.length; cut++) {
    const bytes = full.subarray(0, cut);
    const { frames, error } = await readCapture(scratch.write(compress ? gzip(bytes) : bytes));
    const complete = built.blocks.filter((b) => b.offset + b.length <= cut);
    const context = `cut at ${cut} of ${full.length}`;
    expect(frames.length, context).toBe(complete.filter((b) => b.frame).length);
    if (cut > 0 && boundaries.has(cut)) {
      expect(error, context).toBeNull();
      continue;
    }
    expect(error, context).toBeInstanceOf(CaptureFileError);
    const cutBlock = built.blocks.find((b) => b.offset <= cut && cut < b.offset + b.length);
    expect(error?.offset, context).toBe(
      cut < firstRecordOffset || cutBlock === undefined ? 0 : cutBlock.offset,
    );
    if (cut === 0) expect(error?.reason, context).toMatch(/^empty file, not a capture/);
    else if (cut < 4) expect(error?.reason, context).toMatch(/too short to be a capture$/);
    else expect(error?.reason, context).toMatch(/^file ends \d+ bytes into /);
  }
}

describe('truncation at every byte', () => {
  it('a pcap yields the frames before the cut, then an error at the cut record', async () => {
    await checkEveryTruncation(smallPcap(), PCAP_HEADER_BYTES, false);
  });

  it('a pcapng yields the blocks before the cut, then an error at the cut block', async () => {
    const built = smallPcapng();
    await checkEveryTruncation(built, built.blocks[0].length, false);
  });

  it('a gzip-compressed pcap and pcapng cut before compression behave the same', async () => {
    await checkEveryTruncation(smallPcap(), PCAP_HEADER_BYTES, true);
    const built = smallPcapng();
    await checkEveryTruncation(built, built.blocks[0].length, true);
  });

  it('words the truncation precisely', async () => {
    const pcap = smallPcap().bytes;
    const inHeader = await readCapture(scratch.write(pcap.subarray(0, PCAP_HEADER_BYTES + 12)));
    expect(inHeader.error?.message).toMatch(
      /: at byte offset 24: file ends 12 bytes into a 16-byte record header$/,
    );
    const inData = await readCapture(scratch.write(pcap.subarray(0, PCAP_HEADER_BYTES + 20)));
    expect(inData.error?.reason).toBe(
      'file ends 20 bytes into a 30-byte record (16-byte header + 14 captured bytes)',
    );
    const inFileHeader = await readCapture(scratch.write(pcap.subarray(0, 10)));
    expect(inFileHeader.error?.reason).toBe('file ends 10 bytes into the 24-byte pcap file header');
    const ng = smallPcapng();
    const epb = ng.blocks[2];
    const inBlock = await readCapture(scratch.write(ng.bytes.subarray(0, epb.offset + 30)));
    expect(inBlock.error?.offset).toBe(epb.offset);
    expect(inBlock.error?.reason).toBe(`file ends 30 bytes into a ${epb.length}-byte enhanced packet block`);
    const inBlockHeader = await readCapture(scratch.write(ng.bytes.subarray(0, epb.offset + 5)));
    expect(inBlockHeader.error?.reason).toBe('file ends 5 bytes into an 8-byte pcapng block header');
  });

  it('reports a record claiming more than the rest of the file without reading for it', async () => {
    const built = buildPcap({
      linkTypeField: 231, // D-Bus: 128 MiB captured-length limit
      records: [{ seconds: 1, fraction: 0, data: frameBytes(10, 0), capturedLengthField: 100_000_000 }],
    });
    const { error } = await readCapture(scratch.write(built.bytes), { readChunkBytes: 4096 });
    expect(error?.offset).toBe(PCAP_HEADER_BYTES);
    expect(error?.reason).toBe(
      'file ends 26 bytes into a 100000016-byte record (16-byte header + 100000000 captured bytes)',
    );
  });
});

describe('not a capture', () => {
  it('calls a 0-byte file empty, and a file of 1 to 3 bytes too short', async () => {
    const empty = await readCapture(scratch.write(Buffer.alloc(0)));
    expect(empty.error?.message).toMatch(/: at byte offset 0: empty file, not a capture$/);
    const short = await readCapture(scratch.write(Buffer.from([0xd4, 0xc3, 0xb2])));
    expect(short.error?.reason).toBe('file is only 3 bytes long, too short to be a capture');
    const emptyGzip = await readCapture(scratch.write(gzip(Buffer.alloc(0))));
    expect(emptyGzip.error?.reason).toBe('empty file, not a capture after gzip decompression');
  });

  it('names an unknown magic, with a hint for known non-capture formats', async () => {
    const text = await readCapture(scratch.write(Buffer.from('GET / HTTP/1.1\r\n')));
    expect(text.error?.reason).toBe('not a capture file: unknown magic 0x47455420');
    const xz = await readCapture(scratch.write(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])));
    expect(xz.error?.reason).toBe(
      'not a capture file: unknown magic 0xfd377a58 (looks like xz-compressed: decompress it first)',
    );
  });

  it('refuses pcap versions other than 2.x and pcapng sections other than 1.x', async () => {
    const pcap = await readCapture(scratch.write(buildPcap({ versionMajor: 1, records: [] }).bytes));
    expect(pcap.error?.reason).toBe('unsupported pcap version 1.4 (only 2.x is defined)');
    const ng = new PcapngBuilder()
      .section()
      .interface({ linkType: 1 })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1n, data: frameBytes(4, 0) })
      .section({ versionMajor: 2 })
      .build();
    const read = await readCapture(scratch.write(ng.bytes));
    expect(read.frames).toHaveLength(1);
    expect(read.error?.offset).toBe(ng.blocks[3].offset);
    expect(read.error?.reason).toBe('unsupported pcapng section version 2.0 (only 1.x is defined)');
  });
});

describe('corrupt length fields', () => {
  it('rejects a pcap captured length beyond the limit, after the frames before it', async () => {
    const built = buildPcap({
      records: [
        { seconds: 1, fraction: 0, data: frameBytes(10, 0) },
        { seconds: 2, fraction: 0, data: frameBytes(10, 0), capturedLengthField: 0xffff_ffff },
      ],
    });
    const { frames, error } = await readCapture(scratch.write(built.bytes));
    expect(frames).toHaveLength(1);
    expect(error?.offset).toBe(built.blocks[1].offset);
    expect(error?.reason).toBe('record header says captured length 4294967295 exceeds the 262144-byte limit');
  });

  it('takes the larger of the snap length and libpcap’s limit as the pcap captured-length limit', async () => {
    const records = [{ seconds: 1, fraction: 0, data: frameBytes(10, 0), capturedLengthField: 300_000 }];
    const small = await readCapture(scratch.write(buildPcap({ snapLength: 65535, records }).bytes));
    expect(small.error?.reason).toBe(
      'record header says captured length 300000 exceeds the 262144-byte limit',
    );
    const large = await readCapture(scratch.write(buildPcap({ snapLength: 400_000, records }).bytes));
    // Accepted as a length, so the file is now merely too short for it.
    expect(large.error?.reason).toMatch(/^file ends 26 bytes into a 300016-byte record/);
  });

  function pcapngWithBrokenBlock(overrides: { totalLength?: number; trailerLength?: number }) {
    return new PcapngBuilder()
      .section()
      .interface({ linkType: 1 })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1n, data: frameBytes(4, 0) })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 2n, data: frameBytes(8, 0) }, overrides)
      .enhancedPacket({ interfaceIndex: 0, timestamp: 3n, data: frameBytes(4, 0) })
      .build();
  }

  it.each([
    { overrides: { totalLength: 7 }, reason: 'pcapng block total length 7 is below the 12-byte minimum' },
    { overrides: { totalLength: 0 }, reason: 'pcapng block total length 0 is below the 12-byte minimum' },
    { overrides: { totalLength: 42 }, reason: 'pcapng block total length 42 is not a multiple of 4' },
    {
      overrides: { totalLength: 0xffff_fffc },
      reason: `pcapng block total length 4294967292 exceeds the ${MAX_RECORD_BYTES}-byte limit`,
    },
    {
      // The "trailer" then lands on the captured-length field, 8.
      overrides: { totalLength: 24 },
      reason: 'enhanced packet block has total length 24 at its start but 8 at its end',
    },
    {
      overrides: { trailerLength: 36 },
      reason: 'enhanced packet block has total length 40 at its start but 36 at its end',
    },
  ])('rejects a block whose length field is broken: $reason', async ({ overrides, reason }) => {
    const built = pcapngWithBrokenBlock(overrides);
    const { frames, error } = await readCapture(scratch.write(built.bytes));
    expect(frames).toHaveLength(1);
    expect(error?.offset).toBe(built.blocks[3].offset);
    expect(error?.reason).toBe(reason);
  });

  it('rejects packet blocks that do not fit or name an undescribed interface', async () => {
    const cases: Array<[PcapngBuilder, string]> = [
      [
        new PcapngBuilder()
          .section()
          .interface({ linkType: 1 })
          .enhancedPacket({
            interfaceIndex: 0,
            timestamp: 1n,
            data: frameBytes(8, 0),
            capturedLengthField: 9,
          }),
        'enhanced packet block says captured length 9, which does not fit in its 40-byte block',
      ],
      [
        new PcapngBuilder()
          .section()
          .interface({ linkType: 1 })
          .enhancedPacket({ interfaceIndex: 5, timestamp: 1n, data: frameBytes(8, 0) }),
        'enhanced packet block refers to interface 5, but the section has 1 interface description block',
      ],
      [
        new PcapngBuilder().section().simplePacket({ data: frameBytes(8, 0) }),
        'simple packet block refers to interface 0, but the section has 0 interface description blocks',
      ],
      [
        new PcapngBuilder().section().rawBlock(6, Buffer.alloc(8), true),
        'enhanced packet block total length 20 is below its 32-byte minimum',
      ],
      [
        new PcapngBuilder().section().rawBlock(1, Buffer.alloc(4), false),
        'interface description block total length 16 is below its 20-byte minimum',
      ],
    ];
    for (const [builder, reason] of cases) {
      const built = builder.build();
      const { error } = await readCapture(scratch.write(built.bytes));
      expect(error?.offset).toBe(built.blocks[built.blocks.length - 1].offset);
      expect(error?.reason).toBe(reason);
    }
  });

  it('rejects a section header with an unknown byte-order magic', async () => {
    const built = new PcapngBuilder().section().build();
    const bytes = Buffer.from(built.bytes);
    bytes.writeUInt32LE(0x11223344, 8);
    const { error } = await readCapture(scratch.write(bytes));
    expect(error?.offset).toBe(0);
    expect(error?.reason).toBe('section header block has an unknown byte-order magic 0x11223344');
  });

  it('ends every randomly corrupted file with frames then a CaptureFileError or the end, never a hang', async () => {
    const originals = [smallPcap().bytes, smallPcapng().bytes];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.constantFrom('plain', 'damage-then-gzip', 'gzip-then-damage'),
        async (which, flips, mode) => {
          const bytes = Buffer.from(originals[which]);
          const target = mode === 'gzip-then-damage' ? gzip(bytes) : bytes;
          for (const [at, value] of flips) target[at % target.length] = value;
          const file = scratch.write(mode === 'damage-then-gzip' ? gzip(target) : target);
          const { frames, error } = await readCapture(file, { readChunkBytes: 64 });
          // A shortened length can make data look like more records, but never more than 12 bytes each.
          expect(frames.length).toBeLessThanOrEqual(bytes.length / 12);
          if (error !== null) expect(error.offset).toBeLessThanOrEqual(bytes.length);
        },
      ),
      { numRuns: 400, seed: 20_240_601 },
    );
  });
});

describe('damaged gzip', () => {
  it('delivers every frame when only the gzip checksum is wrong, then reports the corruption', async () => {
    const records = Array.from({ length: 2000 }, (_, i) => ({
      seconds: i,
      fraction: 0,
      data: frameBytes(200, i),
    }));
    const built = buildPcap({ records });
    const corrupt = gzip(built.bytes);
    corrupt[corrupt.length - 8] ^= 0xff; // CRC-32 in the gzip trailer
    const { frames, error } = await readCapture(scratch.write(corrupt), { readChunkBytes: 4096 });
    expect(frames).toHaveLength(2000);
    expect(error?.offset).toBe(built.bytes.length);
    expect(error?.reason).toBe('gzip data is corrupt (incorrect data check)');
  });

  it('reports a corrupt gzip header at offset 0', async () => {
    const corrupt = gzip(smallPcap().bytes);
    corrupt[2] = 7; // compression method: only 8 (deflate) exists
    const { frames, error } = await readCapture(scratch.write(corrupt));
    expect(frames).toHaveLength(0);
    expect(error?.offset).toBe(0);
    expect(error?.reason).toBe('gzip data is corrupt (unknown compression method)');
  });

  it('reports a gzip stream cut short as truncated', async () => {
    const built = buildPcap({ records: [{ seconds: 1, fraction: 0, data: frameBytes(500, 0) }] });
    const compressed = gzip(built.bytes);
    const { frames, error } = await readCapture(scratch.write(compressed.subarray(0, compressed.length - 4)));
    // The deflate data is complete (the frame decompresses) but the gzip trailer is missing.
    expect(frames).toHaveLength(1);
    expect(error?.reason).toBe('gzip stream is truncated (unexpected end of file)');
    expect(error?.offset).toBe(built.bytes.length);
  });
});
