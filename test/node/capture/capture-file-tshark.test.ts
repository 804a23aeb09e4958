import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureScratch, readCapture } from '../../helpers/capture-file-runner.js';
import { buildPcap, frameBytes, PcapngBuilder } from '../../helpers/capture-writer.js';
import type { CollectedFrame } from '../../helpers/frame-collector.js';
import { TCPDUMP_CORPUS_DIR } from '../../helpers/repo-paths.js';
import {
  mapWithConcurrency,
  type TsharkFrame,
  tsharkAvailable,
  tsharkFrameList,
} from '../../helpers/tshark-frame-list.js';

/**
 * Cross-checks the capture-file reader against tshark, frame by frame (original and captured length,
 * interface index, timestamp to the nanosecond), on tcpdump's test captures, on the pcapng conformance
 * set shipped by Debian's golang-github-google-gopacket-dev, and on files from our own writer.
 */

const GOPACKET_PCAPNG_TESTS = '/usr/share/gocode/src/github.com/google/gopacket/pcapgo/tests';
const TSHARK_PARALLELISM = 2;

const scratch = new CaptureScratch();
afterAll(() => scratch.cleanup());

type VerdictKind = 'match' | 'damage-consistent' | 'tshark-unsupported' | 'mismatch';
interface Verdict {
  file: string;
  kind: VerdictKind;
  frames: number;
  detail: string;
}

/**
 * Link types whose leading pseudo-header Wireshark's wiretap strips from the frame (and from both
 * lengths); libpcap and we deliver it as part of the frame. Only SunATM occurs in the corpus.
 */
const WIRETAP_PSEUDO_HEADER_BYTES = new Map([[123 /* LINKTYPE_SUNATM */, 4]]);

/**
 * Files whose timestamps tshark gets wrong: their microsecond field is 1e6 or more, which tshark
 * multiplies by 1000 in 32 bits (garbage) and we carry into the seconds. Lengths are still compared.
 */
const TSHARK_TIMESTAMP_OVERFLOW_FILES = new Set(['atm-oam-loopback-print-overrun.pcap']);

function frameDifference(ours: CollectedFrame[], theirs: TsharkFrame[], compareTime = true): string | null {
  const n = Math.min(ours.length, theirs.length);
  for (let i = 0; i < n; i++) {
    const o = ours[i];
    const t = theirs[i];
    const ourTime = BigInt(o.seconds) * 1_000_000_000n + BigInt(o.nanos);
    const stripped = WIRETAP_PSEUDO_HEADER_BYTES.get(o.linkType) ?? 0;
    if (
      o.originalLength - stripped !== t.originalLength ||
      o.capturedLength - stripped !== t.capturedLength ||
      (t.interfaceIndex !== null && o.interfaceIndex !== t.interfaceIndex) ||
      (compareTime && t.timeNanos !== null && ourTime !== t.timeNanos)
    ) {
      return (
        `frame ${i + 1}: ours len=${o.originalLength} cap=${o.capturedLength} if=${o.interfaceIndex} ` +
        `t=${ourTime}; tshark len=${t.originalLength} cap=${t.capturedLength} if=${t.interfaceIndex} t=${t.timeNanos}`
      );
    }
  }
  return ours.length === theirs.length ? null : `ours ${ours.length} frames, tshark ${theirs.length}`;
}

async function compareWithTshark(file: string): Promise<Verdict> {
  const [ours, tshark] = await Promise.all([readCapture(file), tsharkFrameList(file)]);
  const name = path.basename(file);
  const difference = frameDifference(ours.frames, tshark.frames, !TSHARK_TIMESTAMP_OVERFLOW_FILES.has(name));
  const frames = ours.frames.length;
  if (tshark.exitCode === 0) {
    if (ours.error !== null)
      return { file: name, kind: 'mismatch', frames, detail: `ours: ${ours.error.message}` };
    if (difference !== null) return { file: name, kind: 'mismatch', frames, detail: difference };
    return { file: name, kind: 'match', frames, detail: '' };
  }
  if (tshark.frames.length === 0 && /unknown or unsupported/.test(tshark.complaint)) {
    return { file: name, kind: 'tshark-unsupported', frames, detail: tshark.complaint };
  }
  // tshark stopped at damage: we must deliver the same frames, or raise CaptureFileError having
  // delivered no frame tshark did not.
  const prefixOk = frameDifference(ours.frames, tshark.frames.slice(0, ours.frames.length)) === null;
  if (difference === null || (ours.error !== null && prefixOk)) {
    return {
      file: name,
      kind: 'damage-consistent',
      frames,
      detail: `${tshark.complaint} / ours: ${ours.error?.reason}`,
    };
  }
  return { file: name, kind: 'mismatch', frames, detail: `${difference}; tshark: ${tshark.complaint}` };
}

/**
 * For files tshark cannot open (link types it does not know): libpcap's view instead. tcpdump copies
 * every record it reads into a new file; our frames from the original must equal our frames from the
 * copy (same lengths and link type, seconds equal: tcpdump may lower the resolution).
 */
async function compareWithLibpcap(file: string): Promise<string | null> {
  const copy = scratch.write(new Uint8Array(0), `${path.basename(file)}.libpcap-copy.pcap`);
  execFileSync('tcpdump', ['-r', file, '-w', copy], { stdio: 'ignore' });
  const [original, copied] = await Promise.all([readCapture(file), readCapture(copy)]);
  if (original.error !== null) return `ours: ${original.error.message}`;
  if (copied.frames.length !== original.frames.length) {
    return `ours ${original.frames.length} frames, libpcap ${copied.frames.length}`;
  }
  for (const [i, frame] of original.frames.entries()) {
    const other = copied.frames[i];
    if (
      frame.linkType !== other.linkType ||
      frame.capturedLength !== other.capturedLength ||
      frame.originalLength !== other.originalLength ||
      frame.seconds !== other.seconds ||
      !frame.data.equals(other.data)
    ) {
      return `frame ${i + 1} differs from libpcap's copy`;
    }
  }
  return null;
}

function summarise(title: string, verdicts: Verdict[]): void {
  const count = (kind: VerdictKind) => verdicts.filter((v) => v.kind === kind).length;
  const totalFrames = verdicts.reduce((sum, v) => sum + v.frames, 0);
  const lines = [
    `${title}: ${verdicts.length} files, ${totalFrames} frames: ${count('match')} identical to tshark, ` +
      `${count('damage-consistent')} damaged and consistent, ${count('tshark-unsupported')} unreadable by ` +
      `tshark (checked against libpcap), ${count('mismatch')} mismatched`,
    ...verdicts.filter((v) => v.kind !== 'match').map((v) => `  ${v.kind}: ${v.file}: ${v.detail}`),
  ];
  console.log(lines.join('\n'));
}

const haveTshark = tsharkAvailable();

describe.skipIf(!haveTshark)('agreement with tshark', () => {
  it('matches tshark frame by frame on every tcpdump test capture', async () => {
    const files = readdirSync(TCPDUMP_CORPUS_DIR)
      .filter((name) => /\.(pcap|pcapng)$/.test(name))
      .map((name) => path.join(TCPDUMP_CORPUS_DIR, name));
    expect(files.length).toBeGreaterThan(400);
    const verdicts = await mapWithConcurrency(files, TSHARK_PARALLELISM, compareWithTshark);
    summarise('tcpdump test captures', verdicts);
    expect(verdicts.filter((v) => v.kind === 'mismatch')).toEqual([]);
    const libpcapDifferences: string[] = [];
    for (const verdict of verdicts.filter((v) => v.kind === 'tshark-unsupported')) {
      const difference = await compareWithLibpcap(path.join(TCPDUMP_CORPUS_DIR, verdict.file));
      if (difference !== null) libpcapDifferences.push(`${verdict.file}: ${difference}`);
    }
    expect(libpcapDifferences).toEqual([]);
    expect(verdicts.filter((v) => v.kind === 'match').length).toBeGreaterThan(390);
  });

  describe.skipIf(!existsSync(GOPACKET_PCAPNG_TESTS))('the pcapng conformance set (gopacket package)', () => {
    it('matches tshark frame by frame on every little- and big-endian test file', async () => {
      const files = ['le', 'be'].flatMap((dir) =>
        readdirSync(path.join(GOPACKET_PCAPNG_TESTS, dir))
          .filter((name) => name.endsWith('.pcapng') && name !== 'test901.pcapng')
          .map((name) => path.join(GOPACKET_PCAPNG_TESTS, dir, name)),
      );
      expect(files).toHaveLength(50);
      const verdicts = await mapWithConcurrency(files, TSHARK_PARALLELISM, compareWithTshark);
      summarise('pcapng conformance set (test901 excluded)', verdicts);
      expect(verdicts.filter((v) => v.kind !== 'match')).toEqual([]);
    });

    it('stops like tshark at test901’s version-2 section, after its one frame', async () => {
      for (const dir of ['le', 'be']) {
        const { frames, error } = await readCapture(path.join(GOPACKET_PCAPNG_TESTS, dir, 'test901.pcapng'));
        expect(frames).toHaveLength(1);
        expect(error?.reason).toBe('unsupported pcapng section version 2.0 (only 1.x is defined)');
      }
    });
  });

  it('agrees with tshark on every variant our writer makes', async () => {
    const records = [
      { seconds: 1_600_000_000, fraction: 123_456, data: frameBytes(60, 1) },
      { seconds: 1_600_000_001, fraction: 999_999, data: frameBytes(80, 2), originalLength: 1514 },
      { seconds: 4_000_000_000, fraction: 1, data: frameBytes(100, 3), originalLength: 100 },
    ];
    const nanoRecords = records.map((r) => ({ ...r, fraction: r.fraction * 1000 + 7 }));
    const files = [
      buildPcap({ records }),
      buildPcap({ records, littleEndian: false }),
      buildPcap({ records: nanoRecords, nanosecond: true }),
      buildPcap({ records: nanoRecords, nanosecond: true, littleEndian: false }),
      buildPcap({ records, snapLength: 64 }), // captured length above the snap length
      buildPcap({ records: [{ seconds: 5, fraction: 0, data: frameBytes(70, 0), originalLength: 60 }] }),
      new PcapngBuilder()
        .section()
        .interface({ linkType: 1, snapLength: 65535, name: 'eth0' })
        .interface({ linkType: 101, tsresol: 9 })
        .interface({ linkType: 113, tsresol: 0x80 | 10 })
        .interface({ linkType: 1, tsresol: 3, tsoffset: 1_000_000_000n })
        .enhancedPacket({ interfaceIndex: 0, timestamp: 1_600_000_000_123_456n, data: frameBytes(60, 1) })
        .enhancedPacket({ interfaceIndex: 1, timestamp: 1_600_000_000_123_456_789n, data: frameBytes(40, 2) })
        .enhancedPacket({
          interfaceIndex: 2,
          timestamp: (1_600_000_000n << 10n) | 1023n,
          data: frameBytes(44, 3),
        })
        .enhancedPacket({
          interfaceIndex: 3,
          timestamp: 600_000_000_500n,
          data: frameBytes(42, 4),
          withOptions: true,
        })
        .obsoletePacket({ interfaceIndex: 1, timestamp: 1_600_000_001_000_000_001n, data: frameBytes(30, 5) })
        .otherBlock(5, frameBytes(12, 0))
        .otherBlock(0x1234_5678, frameBytes(9, 0))
        .simplePacket({ data: frameBytes(64, 6), originalLength: 61 })
        .section({ littleEndian: false })
        .interface({ linkType: 1, snapLength: 50 })
        .simplePacket({ data: frameBytes(50, 7), originalLength: 1000 })
        .simplePacket({ data: frameBytes(30, 8), originalLength: 30 })
        .enhancedPacket({ interfaceIndex: 0, timestamp: 1_700_000_000_000_001n, data: frameBytes(20, 9) })
        .build(),
    ];
    const paths = files.map((built, i) =>
      scratch.write(built.bytes, `variant-${i}.${i < 6 ? 'pcap' : 'pcapng'}`),
    );
    const verdicts = await mapWithConcurrency(paths, TSHARK_PARALLELISM, compareWithTshark);
    summarise('writer variants', verdicts);
    expect(verdicts.filter((v) => v.kind !== 'match')).toEqual([]);
  });

  it('is more lenient than tshark on a simple packet block shorter than its original length', async () => {
    // No snap length on interface 0, 1000 bytes on the wire, 64 stored: tshark and libpcap call the
    // file damaged; the block boundary is intact, so we deliver the 64 bytes and go on.
    const built = new PcapngBuilder()
      .section()
      .interface({ linkType: 1 })
      .simplePacket({ data: frameBytes(64, 6), originalLength: 1000 })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1n, data: frameBytes(20, 9) })
      .build();
    const file = scratch.write(built.bytes, 'short-spb.pcapng');
    const [ours, tshark] = await Promise.all([readCapture(file), tsharkFrameList(file)]);
    expect(tshark.complaint).toMatch(/too small for 1000 bytes of packet data/);
    expect(tshark.frames).toHaveLength(0);
    expect(ours.error).toBeNull();
    expect(ours.frames.map((f) => [f.capturedLength, f.originalLength])).toEqual([
      [64, 1000],
      [20, 20],
    ]);
  });

  it('delivers the frames tshark reads before damage, then raises CaptureFileError', async () => {
    const records = Array.from({ length: 5 }, (_, i) => ({
      seconds: 100 + i,
      fraction: i,
      data: frameBytes(40 + i, i),
    }));
    const pcap = buildPcap({ records }).bytes;
    const hugeLength = Buffer.from(pcap);
    hugeLength.writeUInt32LE(0xffff_ffff, 24 + 3 * 16 + 40 + 41 + 42 + 8); // 4th record's captured length
    const pcapng = (overrides: { totalLength?: number; trailerLength?: number } = {}, interfaceIndex = 0) =>
      new PcapngBuilder()
        .section()
        .interface({ linkType: 1 })
        .enhancedPacket({ interfaceIndex: 0, timestamp: 1n, data: frameBytes(30, 1) })
        .enhancedPacket({ interfaceIndex: 0, timestamp: 2n, data: frameBytes(31, 2) })
        .enhancedPacket({ interfaceIndex, timestamp: 3n, data: frameBytes(32, 3) }, overrides)
        .enhancedPacket({ interfaceIndex: 0, timestamp: 4n, data: frameBytes(33, 4) })
        .build().bytes;
    const damaged = [
      pcap.subarray(0, pcap.length - 3), // cut inside the last record's data
      pcap.subarray(0, 24 + 16 + 40 + 7), // cut inside the second record's header
      hugeLength,
      pcapng().subarray(0, pcapng().length - 5),
      pcapng({ totalLength: 42 }),
      pcapng({ trailerLength: 48 }),
      pcapng({}, 3),
    ];
    const paths = damaged.map((bytes, i) => scratch.write(bytes, `damaged-${i}`));
    const verdicts = await mapWithConcurrency(paths, TSHARK_PARALLELISM, compareWithTshark);
    summarise('damaged files', verdicts);
    expect(verdicts.map((v) => v.kind)).toEqual(damaged.map(() => 'damage-consistent'));
    for (const file of paths) expect((await readCapture(file)).error).not.toBeNull();
  });
});
