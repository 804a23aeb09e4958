import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { openCaptureFile } from '../../../src/node/capture/capture-file-source.js';
import { CaptureFileError, SniffmeshError } from '../../../src/util/errors.js';
import { CaptureScratch, readCapture } from '../../helpers/capture-file-runner.js';
import { buildPcap, frameBytes, gzip, PcapngBuilder } from '../../helpers/capture-writer.js';
import { FrameCollector } from '../../helpers/frame-collector.js';

const scratch = new CaptureScratch();
afterAll(() => scratch.cleanup());

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_DBUS = 231;

/** Three frames of different sizes with distinct timestamps, used by the pcap variants. */
function threePcapRecords(nanosecond: boolean) {
  const scale = nanosecond ? 1000 : 1;
  return [
    { seconds: 1_700_000_000, fraction: 1 * scale, data: frameBytes(60, 1), originalLength: 60 },
    { seconds: 1_700_000_001, fraction: 999_999 * scale, data: frameBytes(128, 2), originalLength: 1514 },
    { seconds: 4_294_967_295, fraction: 0, data: frameBytes(0, 3), originalLength: 42 },
  ];
}

describe('classic pcap', () => {
  it.each([
    { littleEndian: true, nanosecond: false },
    { littleEndian: false, nanosecond: false },
    { littleEndian: true, nanosecond: true },
    { littleEndian: false, nanosecond: true },
  ])(
    'reads back every field of a $littleEndian little-endian, nanosecond=$nanosecond file',
    async (variant) => {
      const records = threePcapRecords(variant.nanosecond);
      const built = buildPcap({ ...variant, linkTypeField: LINKTYPE_ETHERNET, records });
      const { frames, error, source } = await readCapture(scratch.write(built.bytes));
      expect(error).toBeNull();
      expect(source.format).toBe('pcap');
      expect(frames.map((f) => [f.seconds, f.nanos, f.capturedLength, f.originalLength])).toEqual([
        [1_700_000_000, 1000, 60, 60],
        [1_700_000_001, 999_999_000, 128, 1514],
        [4_294_967_295, 0, 0, 42],
      ]);
      for (const [i, frame] of frames.entries()) {
        expect(frame.linkType).toBe(LINKTYPE_ETHERNET);
        expect(frame.interfaceIndex).toBe(0);
        expect(frame.data.equals(Buffer.from(records[i].data))).toBe(true);
      }
    },
  );

  it('delivers the low 16 bits of the link-type field and decodes libpcap FCS bits', async () => {
    const records = [{ seconds: 1, fraction: 0, data: frameBytes(64, 0) }];
    // FCS-length-present bit (26) with 2 sixteen-bit words of FCS (bits 28..31): 4 bytes.
    const withFcs = buildPcap({ linkTypeField: (0x2 << 28) | 0x0400_0000 | LINKTYPE_ETHERNET, records });
    const read1 = await readCapture(scratch.write(withFcs.bytes));
    expect(read1.frames[0].linkType).toBe(LINKTYPE_ETHERNET);
    expect(read1.source.fcsBytes).toBe(4);
    // Upper bits without the present bit (as in tcpdump's hoobr_juniper3.pcap): no FCS information.
    const noFlag = buildPcap({ linkTypeField: 0x3000_0084, records });
    const read2 = await readCapture(scratch.write(noFlag.bytes));
    expect(read2.frames[0].linkType).toBe(0x84);
    expect(read2.source.fcsBytes).toBeNull();
  });

  it('accepts a captured length above the snap length and above the original length', async () => {
    const built = buildPcap({
      snapLength: 64,
      records: [
        { seconds: 1, fraction: 0, data: frameBytes(100, 0), originalLength: 100 },
        { seconds: 2, fraction: 0, data: frameBytes(70, 0), originalLength: 60 },
      ],
    });
    const { frames, error } = await readCapture(scratch.write(built.bytes));
    expect(error).toBeNull();
    expect(frames.map((f) => [f.capturedLength, f.originalLength])).toEqual([
      [100, 100],
      [70, 60],
    ]);
  });

  it('carries a microsecond field of one second or more into the seconds', async () => {
    const built = buildPcap({ records: [{ seconds: 10, fraction: 2_500_000, data: frameBytes(4, 0) }] });
    const { frames } = await readCapture(scratch.write(built.bytes));
    expect([frames[0].seconds, frames[0].nanos]).toEqual([12, 500_000_000]);
  });

  it('reads a header-only file as zero frames', async () => {
    const { frames, error, source } = await readCapture(scratch.write(buildPcap({ records: [] }).bytes));
    expect(error).toBeNull();
    expect(frames).toHaveLength(0);
    expect(source.counters()).toEqual({ frames: 0, bytesRead: 24, kernelDrops: null });
  });

  it('accepts a 2 MiB frame on a link type whose libpcap limit allows it (D-Bus), growing the buffer', async () => {
    const big = frameBytes(2 * 1024 * 1024, 9);
    const built = buildPcap({
      linkTypeField: LINKTYPE_DBUS,
      snapLength: 128 * 1024 * 1024,
      records: [
        { seconds: 1, fraction: 0, data: frameBytes(10, 0) },
        { seconds: 2, fraction: 0, data: big },
        { seconds: 3, fraction: 0, data: frameBytes(10, 1) },
      ],
    });
    const { frames, error } = await readCapture(scratch.write(built.bytes), { readChunkBytes: 64 * 1024 });
    expect(error).toBeNull();
    expect(frames.map((f) => f.capturedLength)).toEqual([10, big.length, 10]);
    expect(frames[1].data.equals(Buffer.from(big))).toBe(true);
  });
});

describe('pcapng', () => {
  it('delivers each frame with its own interface index and that interface’s link type', async () => {
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: LINKTYPE_ETHERNET, snapLength: 65535, name: 'eth0' })
      .interface({ linkType: LINKTYPE_RAW, snapLength: 0 })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1_700_000_000_123_456n, data: frameBytes(60, 1) })
      .enhancedPacket({
        interfaceIndex: 1,
        timestamp: 1_700_000_001_000_001n,
        data: frameBytes(41, 2),
        originalLength: 1500,
        withOptions: true,
      })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1_700_000_002_000_000n, data: frameBytes(3, 3) })
      .build();
    const { frames, error, source } = await readCapture(scratch.write(built.bytes));
    expect(error).toBeNull();
    expect(source.format).toBe('pcapng');
    expect(
      frames.map((f) => [
        f.linkType,
        f.interfaceIndex,
        f.seconds,
        f.nanos,
        f.capturedLength,
        f.originalLength,
      ]),
    ).toEqual([
      [LINKTYPE_ETHERNET, 0, 1_700_000_000, 123_456_000, 60, 60],
      [LINKTYPE_RAW, 1, 1_700_000_001, 1000, 41, 1500],
      [LINKTYPE_ETHERNET, 0, 1_700_000_002, 0, 3, 3],
    ]);
    expect(frames[1].data.equals(Buffer.from(frameBytes(41, 2)))).toBe(true);
    expect(frames[2].data.equals(Buffer.from(frameBytes(3, 3)))).toBe(true);
  });

  it('reads a big-endian section exactly like a little-endian one', async () => {
    for (const littleEndian of [true, false]) {
      const built = new PcapngBuilder()
        .section({ littleEndian })
        .interface({ linkType: LINKTYPE_LINUX_SLL, tsresol: 9 })
        .enhancedPacket({ interfaceIndex: 0, timestamp: 1_700_000_000_123_456_789n, data: frameBytes(33, 7) })
        .build();
      const { frames, error } = await readCapture(scratch.write(built.bytes));
      expect(error).toBeNull();
      expect(frames.map((f) => [f.linkType, f.seconds, f.nanos, f.capturedLength])).toEqual([
        [LINKTYPE_LINUX_SLL, 1_700_000_000, 123_456_789, 33],
      ]);
      expect(frames[0].data.equals(Buffer.from(frameBytes(33, 7)))).toBe(true);
    }
  });

  it('starts a fresh interface list and byte order at every section header', async () => {
    const built = new PcapngBuilder()
      .section({ littleEndian: true })
      .interface({ linkType: LINKTYPE_ETHERNET })
      .interface({ linkType: LINKTYPE_RAW })
      .enhancedPacket({ interfaceIndex: 1, timestamp: 5_000_000n, data: frameBytes(20, 0) })
      .section({ littleEndian: false })
      .interface({ linkType: LINKTYPE_LINUX_SLL })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 6_000_000n, data: frameBytes(21, 0) })
      .section({ littleEndian: true })
      .interface({ linkType: LINKTYPE_RAW })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 7_000_000n, data: frameBytes(22, 0) })
      // Interface 1 existed in the first section only: referring to it now is damage.
      .enhancedPacket({ interfaceIndex: 1, timestamp: 8_000_000n, data: frameBytes(23, 0) })
      .build();
    const { frames, error } = await readCapture(scratch.write(built.bytes));
    expect(frames.map((f) => [f.linkType, f.interfaceIndex, f.seconds, f.capturedLength])).toEqual([
      [LINKTYPE_RAW, 1, 5, 20],
      [LINKTYPE_LINUX_SLL, 0, 6, 21],
      [LINKTYPE_RAW, 0, 7, 22],
    ]);
    expect(error?.offset).toBe(built.blocks[built.blocks.length - 1].offset);
    expect(error?.reason).toBe(
      'enhanced packet block refers to interface 1, but the section has 1 interface description block',
    );
  });

  it('gives a simple packet block interface 0, the previous timestamp and min(original, room, snap) bytes', async () => {
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: LINKTYPE_ETHERNET, snapLength: 50 })
      .interface({ linkType: LINKTYPE_RAW })
      .simplePacket({ data: frameBytes(40, 1), originalLength: 40 })
      .enhancedPacket({ interfaceIndex: 1, timestamp: 1_000_000_500_000n, data: frameBytes(10, 2) })
      // 64 bytes stored, wire length 1000, snap length 50: 50 bytes delivered.
      .simplePacket({ data: frameBytes(64, 3), originalLength: 1000 })
      // Original length 30 but 32 bytes of room (padding): 30 delivered.
      .simplePacket({ data: frameBytes(30, 4), originalLength: 30 })
      .build();
    const { frames, error } = await readCapture(scratch.write(built.bytes));
    expect(error).toBeNull();
    expect(
      frames.map((f) => [
        f.linkType,
        f.interfaceIndex,
        f.seconds,
        f.nanos,
        f.capturedLength,
        f.originalLength,
      ]),
    ).toEqual([
      [LINKTYPE_ETHERNET, 0, 0, 0, 40, 40],
      [LINKTYPE_RAW, 1, 1_000_000, 500_000_000, 10, 10],
      [LINKTYPE_ETHERNET, 0, 1_000_000, 500_000_000, 50, 1000],
      [LINKTYPE_ETHERNET, 0, 1_000_000, 500_000_000, 30, 30],
    ]);
    expect(frames[2].data.equals(Buffer.from(frameBytes(64, 3).subarray(0, 50)))).toBe(true);
  });

  it('reads the obsolete packet block and skips statistics, name resolution, custom and unknown blocks', async () => {
    const built = new PcapngBuilder()
      .section()
      .otherBlock(0x0000_0bad, Buffer.from('custom block, copyable'))
      .interface({ linkType: LINKTYPE_ETHERNET })
      .otherBlock(4, Buffer.alloc(4)) // name resolution block, empty record list
      .obsoletePacket({ interfaceIndex: 0, drops: 3, timestamp: 2_000_000n, data: frameBytes(17, 5) })
      .otherBlock(5, Buffer.alloc(12)) // interface statistics
      .otherBlock(0x4000_0bad, Buffer.from('custom block, not copyable'))
      .otherBlock(0x1234_5678, frameBytes(23, 0)) // unknown type
      .otherBlock(0x8000_0001, frameBytes(8, 0)) // local-use type
      .enhancedPacket({ interfaceIndex: 0, timestamp: 3_000_000n, data: frameBytes(9, 6) })
      .build();
    const { frames, error } = await readCapture(scratch.write(built.bytes));
    expect(error).toBeNull();
    expect(frames.map((f) => [f.seconds, f.capturedLength, f.interfaceIndex])).toEqual([
      [2, 17, 0],
      [3, 9, 0],
    ]);
    expect(frames[0].data.equals(Buffer.from(frameBytes(17, 5)))).toBe(true);
  });

  it.each([
    { tsresol: undefined, timestamp: 1_700_000_000_654_321n, expected: [1_700_000_000, 654_321_000] },
    { tsresol: 9, timestamp: 1_700_000_000_987_654_321n, expected: [1_700_000_000, 987_654_321] },
    { tsresol: 3, timestamp: 1_700_000_000_042n, expected: [1_700_000_000, 42_000_000] },
    { tsresol: 0, timestamp: 1_700_000_000n, expected: [1_700_000_000, 0] },
    { tsresol: 0x80 | 8, timestamp: (1_700_000_000n << 8n) | 0x80n, expected: [1_700_000_000, 500_000_000] },
    { tsresol: 0x80 | 20, timestamp: (100n << 20n) | 1n, expected: [100, 953] },
    { tsresol: 0x80 | 40, timestamp: (3n << 40n) | (1n << 39n), expected: [3, 500_000_000] },
    // Picoseconds: 2^64 ps is only 213 days, so a small date.
    { tsresol: 12, timestamp: 1_700_000_123_456_789_012n, expected: [1_700_000, 123_456_789] },
  ])('honours if_tsresol $tsresol', async ({ tsresol, timestamp, expected }) => {
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: LINKTYPE_ETHERNET, tsresol })
      .enhancedPacket({ interfaceIndex: 0, timestamp, data: frameBytes(1, 0) })
      .build();
    const { frames, error } = await readCapture(scratch.write(built.bytes));
    expect(error).toBeNull();
    expect([frames[0].seconds, frames[0].nanos]).toEqual(expected);
  });

  it('adds if_tsoffset seconds, positive or negative, per interface', async () => {
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: LINKTYPE_ETHERNET, tsoffset: 1_000_000_000n })
      .interface({ linkType: LINKTYPE_ETHERNET, tsoffset: -5n, tsresol: 9 })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 700_000_000_250_000n, data: frameBytes(1, 0) })
      .enhancedPacket({ interfaceIndex: 1, timestamp: 10_000_000_001n, data: frameBytes(1, 0) })
      .build();
    const { frames } = await readCapture(scratch.write(built.bytes));
    expect(frames.map((f) => [f.seconds, f.nanos])).toEqual([
      [1_700_000_000, 250_000_000],
      [5, 1],
    ]);
  });

  it('reads a file with only section and interface blocks as zero frames', async () => {
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: 1 })
      .section({ littleEndian: false })
      .build();
    const { frames, error, source } = await readCapture(scratch.write(built.bytes));
    expect(error).toBeNull();
    expect(frames).toHaveLength(0);
    expect(source.counters().bytesRead).toBe(built.bytes.length);
  });

  it('grows its buffer for a block larger than a read and delivers it intact', async () => {
    const big = frameBytes(3 * 1024 * 1024 + 3, 77);
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: LINKTYPE_ETHERNET, snapLength: 0 })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1n, data: frameBytes(5, 0) })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 2n, data: big })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 3n, data: frameBytes(6, 0) })
      .build();
    const { frames, error } = await readCapture(scratch.write(built.bytes), { readChunkBytes: 256 * 1024 });
    expect(error).toBeNull();
    expect(frames.map((f) => f.capturedLength)).toEqual([5, big.length, 6]);
    expect(frames[1].data.equals(Buffer.from(big))).toBe(true);
  });
});

describe('reading in pieces', () => {
  /** A capture whose records have many sizes, so that tiny reads split them everywhere. */
  function mixedPcapng() {
    const builder = new PcapngBuilder().section().interface({ linkType: 1 }).interface({ linkType: 101 });
    for (let i = 0; i < 40; i++) {
      if (i % 7 === 3) builder.otherBlock(5, frameBytes(i * 3, i));
      if (i % 5 === 4) builder.simplePacket({ data: frameBytes(i, i) });
      else
        builder.enhancedPacket({
          interfaceIndex: i % 2,
          timestamp: BigInt(i) * 1_000_123n,
          data: frameBytes(i * 11, i),
        });
    }
    return builder.build();
  }

  it.each([64, 65, 100, 1000])(
    'delivers the same frames with %i-byte reads as with one big read',
    async (chunk) => {
      const pcap = buildPcap({
        records: Array.from({ length: 40 }, (_, i) => ({
          seconds: i,
          fraction: i,
          data: frameBytes(i * 13, i),
        })),
      });
      for (const bytes of [pcap.bytes, mixedPcapng().bytes]) {
        const file = scratch.write(bytes);
        const whole = await readCapture(file);
        const pieces = await readCapture(file, { readChunkBytes: chunk });
        expect(whole.error).toBeNull();
        expect(pieces.error).toBeNull();
        expect(pieces.frames).toEqual(whole.frames);
        expect(whole.frames).toHaveLength(40);
      }
    },
  );
});

describe('gzip', () => {
  it('decompresses gzip-compressed pcap and pcapng on the fly', async () => {
    const pcap = buildPcap({ records: threePcapRecords(false) });
    const pcapng = new PcapngBuilder()
      .section({ littleEndian: false })
      .interface({ linkType: LINKTYPE_RAW })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 42_000_001n, data: frameBytes(99, 1) })
      .build();
    for (const built of [pcap, pcapng]) {
      const file = scratch.write(built.bytes);
      const plain = await readCapture(file);
      const compressed = scratch.write(gzip(built.bytes), 'capture.gz');
      const { frames, error, source } = await readCapture(compressed, { readChunkBytes: 100 });
      expect(error).toBeNull();
      expect(source.compression).toBe('gzip');
      expect(frames).toEqual(plain.frames);
      expect(source.counters().bytesRead).toBe(built.bytes.length);
      expect(source.fileSize).toBe(gzip(built.bytes).length);
      expect(source.bytesRead).toBe(source.fileSize);
    }
  });

  it('reads concatenated gzip members as one stream', async () => {
    const built = buildPcap({ records: threePcapRecords(true), nanosecond: true });
    const cut = built.blocks[1].offset + 5;
    const twoMembers = Buffer.concat([gzip(built.bytes.subarray(0, cut)), gzip(built.bytes.subarray(cut))]);
    const { frames, error } = await readCapture(scratch.write(twoMembers));
    expect(error).toBeNull();
    expect(frames.map((f) => f.capturedLength)).toEqual([60, 128, 0]);
  });
});

describe('standard input', () => {
  it('reads "-" from an injected stream, in whatever chunks it arrives', async () => {
    const built = buildPcap({ records: threePcapRecords(false) });
    const chunks = [built.bytes.subarray(0, 3), built.bytes.subarray(3, 50), built.bytes.subarray(50)];
    const { frames, error, source } = await readCapture('-', { stdin: Readable.from(chunks) });
    expect(error).toBeNull();
    expect(source.description).toBe('standard input');
    expect(source.fileSize).toBeNull();
    expect(frames.map((f) => f.originalLength)).toEqual([60, 1514, 42]);
  });

  it('decompresses gzip arriving on standard input', async () => {
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: 1 })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1n, data: frameBytes(77, 0) })
      .build();
    const compressed = gzip(built.bytes);
    const stdin = Readable.from([compressed.subarray(0, 1), compressed.subarray(1)]);
    const { frames, error } = await readCapture('-', { stdin });
    expect(error).toBeNull();
    expect(frames.map((f) => f.capturedLength)).toEqual([77]);
  });

  it('names stdin in errors', async () => {
    const { error } = await readCapture('-', { stdin: Readable.from([Buffer.from('hello, world')]) });
    expect(error?.message).toBe('stdin: at byte offset 0: not a capture file: unknown magic 0x68656c6c');
  });

  it('stops waiting for input that never comes when aborted, and leaves the stream usable', async () => {
    const stdin = new PassThrough();
    stdin.write(buildPcap({ records: threePcapRecords(false) }).bytes);
    const controller = new AbortController();
    const collector = new FrameCollector();
    const source = openCaptureFile('-', { stdin });
    setTimeout(() => controller.abort(), 50);
    await source.run(collector, controller.signal);
    expect(collector.frames).toHaveLength(3);
    expect(stdin.destroyed).toBe(false);
  });
  it('stops waiting for gzip input that never ends when aborted', async () => {
    const built = buildPcap({ records: threePcapRecords(false) });
    const compressed = gzip(built.bytes);
    const stdin = new PassThrough();
    stdin.write(compressed); // complete, but the stream never ends
    const controller = new AbortController();
    const collector = new FrameCollector();
    setTimeout(() => controller.abort(), 100);
    await openCaptureFile('-', { stdin }).run(collector, controller.signal);
    expect(collector.frames).toHaveLength(3);
  });
});

describe('run, counters and abort', () => {
  it('counts frames and bytes consumed and knows the file size', async () => {
    const built = buildPcap({ records: threePcapRecords(false) });
    const { source } = await readCapture(scratch.write(built.bytes));
    expect(source.counters()).toEqual({ frames: 3, bytesRead: built.bytes.length, kernelDrops: null });
    expect(source.fileSize).toBe(built.bytes.length);
    expect(source.bytesRead).toBe(built.bytes.length);
    expect(source.compression).toBe('none');
  });

  it('stops between reads when the signal aborts, without error', async () => {
    const records = Array.from({ length: 1000 }, (_, i) => ({
      seconds: i,
      fraction: 0,
      data: frameBytes(50, i),
    }));
    const file = scratch.write(buildPcap({ records }).bytes);
    const controller = new AbortController();
    const source = openCaptureFile(file, { readChunkBytes: 1024 });
    let seen = 0;
    await source.run(
      {
        onFrame() {
          seen++;
          if (seen === 100) controller.abort();
        },
      },
      controller.signal,
    );
    expect(seen).toBeGreaterThanOrEqual(100);
    expect(seen).toBeLessThan(1000);
    expect(source.counters().frames).toBe(seen);
  });

  it('refuses to run twice', async () => {
    const source = openCaptureFile(scratch.write(buildPcap({ records: [] }).bytes));
    await source.run(new FrameCollector());
    await expect(source.run(new FrameCollector())).rejects.toBeInstanceOf(SniffmeshError);
  });

  it('reports a missing file and a directory as capture-file errors at offset 0', async () => {
    const missing = await readCapture('/nonexistent/sniffmesh/capture.pcap');
    expect(missing.error).toBeInstanceOf(CaptureFileError);
    expect(missing.error?.reason).toBe('cannot open: no such file or directory (ENOENT)');
    const directory = await readCapture(scratch.write(Buffer.alloc(0)).replace(/[^/]+$/, ''));
    expect(directory.error?.reason).toMatch(/^cannot open: .*\(EISDIR\)$/);
  });

  it('lets an exception thrown by the sink propagate unchanged', async () => {
    const file = scratch.write(buildPcap({ records: threePcapRecords(false) }).bytes);
    const boom = new RangeError('sink bug');
    await expect(
      openCaptureFile(file).run({
        onFrame() {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
  });
});

describe('real-time pacing', () => {
  it('delivers frames no earlier than their timestamps say, relative to the first', async () => {
    const gapsMs = [0, 40, 40, 0, 60];
    let atMicros = 1_000_000_000_000_000;
    const records = gapsMs.map((gap, i) => {
      atMicros += gap * 1000;
      return { seconds: Math.floor(atMicros / 1e6), fraction: atMicros % 1e6, data: frameBytes(10, i) };
    });
    const file = scratch.write(buildPcap({ records }).bytes);
    const deliveredAt: number[] = [];
    const start = performance.now();
    await openCaptureFile(file, { realtime: true }).run({
      onFrame() {
        deliveredAt.push(performance.now() - start);
      },
    });
    const dueMs: number[] = [];
    for (const gap of gapsMs) dueMs.push((dueMs.at(-1) ?? deliveredAt[0]) + gap);
    for (const [i, at] of deliveredAt.entries()) {
      // Never early (1 ms of gate lookahead and timer rounding allowed), and not badly late.
      expect(at).toBeGreaterThanOrEqual(dueMs[i] - 1.5);
      expect(at).toBeLessThan(dueMs[i] + 40);
    }
  });

  it('paces pcapng by its timestamped frames, never by a simple packet block’s borrowed timestamp', async () => {
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: 1 })
      .simplePacket({ data: frameBytes(10, 0) }) // timestamp 0 borrowed from nothing
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1_700_000_000_000_000n, data: frameBytes(10, 1) })
      .simplePacket({ data: frameBytes(10, 2) })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1_700_000_000_050_000n, data: frameBytes(10, 3) })
      .build();
    const deliveredAt: number[] = [];
    const start = performance.now();
    await openCaptureFile(scratch.write(built.bytes), { realtime: true }).run({
      onFrame() {
        deliveredAt.push(performance.now() - start);
      },
    });
    expect(deliveredAt).toHaveLength(4);
    expect(deliveredAt[3] - deliveredAt[1]).toBeGreaterThanOrEqual(48.5);
    expect(deliveredAt[3]).toBeLessThan(1000);
  });

  it('can be aborted while waiting for a distant frame', async () => {
    const records = [
      { seconds: 100, fraction: 0, data: frameBytes(10, 0) },
      { seconds: 3700, fraction: 0, data: frameBytes(10, 0) },
    ];
    const file = scratch.write(buildPcap({ records }).bytes);
    const controller = new AbortController();
    const collector = new FrameCollector();
    setTimeout(() => controller.abort(), 50);
    const start = performance.now();
    await openCaptureFile(file, { realtime: true }).run(collector, controller.signal);
    expect(performance.now() - start).toBeLessThan(2000);
    expect(collector.frames).toHaveLength(1);
  });
});
