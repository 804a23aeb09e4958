/**
 * Seeded fuzzing of the pcap and pcapng readers, and of the decoder behind them, with real captures as
 * the seeds (tcpdump's test files): random mutations of them (bit flips, byte and 32-bit word
 * overwrites with huge lengths, cuts, splices), fully random bytes behind each magic, and crafted huge
 * declared lengths. capture-file-damage.test.ts covers damage to small files of our own writer, with
 * exact expectations; here the inputs are many and arbitrary and the properties are the ones that
 * must hold for any input:
 *
 * - the parser never throws; it ends in damage (a reason), a truncation, or the end of the input;
 * - every delivered frame lies inside the input, with sane fields (lengths uint32, nanos < 1e9);
 * - the file reader (chunked reads, buffer growth, gzip) delivers exactly the frames one in-memory
 *   parse does, and fails only with a CaptureFileError whose offset is inside the input;
 * - the decoder, given each delivered frame, returns a known outcome and reads nothing outside the
 *   frame (the same frame among other neighbouring bytes decodes identically);
 * - memory stays bounded: heap growth over 100k inputs below a stated bound; a huge declared length
 *   allocates nothing for a regular file.
 *
 * SNIFFMESH_FUZZ_SEED=<n> replays a run; failures name the seed (fast-check prints its own).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES } from '../../../src/node/capture/capture-file-limits.js';
import type { FrameSink } from '../../../src/node/capture/frame-sink.js';
import { PcapRecordParser } from '../../../src/node/capture/pcap-record-parser.js';
import { PCAPNG_MAGIC, PcapngBlockParser } from '../../../src/node/capture/pcapng-block-parser.js';
import type { RecordParser } from '../../../src/node/capture/record-parser.js';
import { UNDECODED_REASON_COUNT } from '../../../src/node/decode/decode-outcome.js';
import { PacketDecoder } from '../../../src/node/decode/packet-decoder.js';
import { CaptureFileError } from '../../../src/util/errors.js';
import { CaptureScratch, readCapture } from '../../helpers/capture-file-runner.js';
import { buildPcap, frameBytes, gzip, PcapngBuilder } from '../../helpers/capture-writer.js';
import { forceGc } from '../../helpers/heap-probe.js';
import { TCPDUMP_CORPUS_DIR } from '../../helpers/repo-paths.js';
import { SeededRandom } from '../../helpers/seeded-random.js';

const SEED = Number(process.env.SNIFFMESH_FUZZ_SEED ?? 0xf0220);
const replay = `(seed ${SEED}: replay with SNIFFMESH_FUZZ_SEED=${SEED})`;

/** In-memory inputs of the long run. */
const BULK_INPUTS = 100_000;
/**
 * Heap growth allowed over the long run after a full collection: the parsers and the decoder keep no
 * per-input state beyond an input's interface table (pcapng, dropped with it). Measured ~0.1-1 MiB.
 */
const BULK_HEAP_GROWTH_MAX_BYTES = 16 * 1024 * 1024;
/** Measured ~10-20 s for 100k inputs on the shared 2-core machine. */
const BULK_TIME_LIMIT_MS = 90_000;
/** Inputs read through real files (each a file write and a reader run). */
const FILE_RUNS = 1000;
/** Corpus files used as seeds: the small ones, so one input parses in well under a millisecond. */
const MAX_SEED_FILE_BYTES = 16 * 1024;
/** Growth of the peak resident set allowed while reading a file that declares a huge record. */
const HUGE_LENGTH_RSS_GROWTH_MAX_BYTES = 32 * 1024 * 1024;

const scratch = new CaptureScratch();
afterAll(() => scratch.cleanup());

const corpus: Buffer[] = readdirSync(TCPDUMP_CORPUS_DIR)
  .filter((name) => /\.(pcap|pcapng)$/.test(name))
  .map((name) => path.join(TCPDUMP_CORPUS_DIR, name))
  .filter((file) => statSync(file).size <= MAX_SEED_FILE_BYTES)
  .map((file) => readFileSync(file));

// ---------------------------------------------------------------------------------------------------
// Inputs

/** Values that break length arithmetic: sign bits, limits and their neighbours, all ones. */
const HUGE_WORDS = [
  0xffff_ffff,
  0xffff_fffc,
  0x8000_0000,
  0x7fff_ffff,
  0x7fff_fffc,
  MAX_RECORD_BYTES,
  MAX_RECORD_BYTES + 4,
  MAX_RECORD_BYTES - 4,
  0x0004_0000,
  0x0004_0004,
  0,
  12,
  16,
];

const PCAP_MAGICS = [0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1];

function mutate(original: Buffer, random: SeededRandom): Buffer {
  let bytes = Buffer.from(original);
  const steps = random.range(1, 8);
  for (let step = 0; step < steps && bytes.length > 0; step++) {
    const at = random.int(bytes.length);
    const kind = random.int(6);
    if (kind === 0) bytes[at] = (bytes[at] as number) ^ (1 << random.int(8));
    else if (kind === 1) bytes[at] = random.int(256);
    else if (kind === 2 && bytes.length >= 4) {
      // A 32-bit word, aligned as the length fields are, overwritten with a huge value in either order.
      const word = Math.min(at & ~3, bytes.length - 4);
      const value = random.pick(HUGE_WORDS);
      if (random.chance(0.5)) bytes.writeUInt32LE(value >>> 0, word);
      else bytes.writeUInt32BE(value >>> 0, word);
    } else if (kind === 3) bytes = bytes.subarray(0, at);
    else if (kind === 4) {
      // Splice: a stretch of the file repeated elsewhere (records where they do not belong).
      const from = random.int(bytes.length);
      const length = random.int(Math.min(256, bytes.length - from) + 1);
      bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(from, from + length), bytes.subarray(at)]);
    } else {
      const length = random.int(64);
      const inserted = Buffer.alloc(length);
      for (let i = 0; i < length; i++) inserted[i] = random.int(256);
      bytes = Buffer.concat([bytes.subarray(0, at), inserted, bytes.subarray(at)]);
    }
  }
  return bytes;
}

function randomBytes(random: SeededRandom, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(256);
  return bytes;
}

/** Fully random bytes, behind a pcap magic, a pcapng section header's type, or nothing at all. */
function randomCapture(random: SeededRandom): Buffer {
  const body = randomBytes(random, random.int(2048));
  const kind = random.int(3);
  if (kind === 0) {
    const magic = Buffer.alloc(4);
    magic.writeUInt32BE(random.pick(PCAP_MAGICS));
    return Buffer.concat([magic, body]);
  }
  if (kind === 1) {
    const head = Buffer.alloc(12);
    head.writeUInt32BE(PCAPNG_MAGIC);
    const littleEndian = random.chance(0.5);
    // A believable section length and byte-order magic half the time, so the random part is reached.
    if (random.chance(0.5)) {
      if (littleEndian) head.writeUInt32LE(28 + 4 * random.int(8), 4);
      else head.writeUInt32BE(28 + 4 * random.int(8), 4);
      if (littleEndian) head.writeUInt32LE(0x1a2b3c4d, 8);
      else head.writeUInt32BE(0x1a2b3c4d, 8);
    } else head.writeUInt32BE(random.nextUint32(), 4);
    return Buffer.concat([head, body]);
  }
  return body;
}

function fuzzInput(random: SeededRandom): Buffer {
  return random.chance(0.8) ? mutate(random.pick(corpus), random) : randomCapture(random);
}

// ---------------------------------------------------------------------------------------------------
// Checks

/** Frame fields every parser must deliver sane, and the decoder's view of each frame, twice. */
class CheckingSink implements FrameSink {
  frames = 0;
  outcomes = new Float64Array(UNDECODED_REASON_COUNT);
  private readonly decoder = new PacketDecoder();
  private readonly twin = new PacketDecoder();
  /** The frame copied among other bytes: a decoder that reads outside its frame sees them differ. */
  private readonly elsewhere = new Uint8Array(MAX_SEED_FILE_BYTES * 2 + 256);
  private dataLength = 0;

  constructor(private readonly random: SeededRandom) {}

  begin(dataLength: number): void {
    this.frames = 0;
    this.dataLength = dataLength;
  }

  onFrame(
    linkType: number,
    tsSeconds: number,
    tsNanos: number,
    data: Uint8Array,
    offset: number,
    capturedLength: number,
    originalLength: number,
    interfaceIndex: number,
  ): void {
    this.frames++;
    const problem =
      !Number.isInteger(offset) || offset < 0
        ? `offset ${offset}`
        : !Number.isInteger(capturedLength) || capturedLength < 0 || offset + capturedLength > this.dataLength
          ? `captured length ${capturedLength} at ${offset} of ${this.dataLength}`
          : !Number.isInteger(originalLength) || originalLength < 0 || originalLength > 0xffff_ffff
            ? `original length ${originalLength}`
            : !Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff
              ? `link type ${linkType}`
              : !Number.isInteger(tsNanos) || tsNanos < 0 || tsNanos >= 1e9
                ? `nanos ${tsNanos}`
                : !Number.isFinite(tsSeconds)
                  ? `seconds ${tsSeconds}`
                  : !Number.isInteger(interfaceIndex) || interfaceIndex < 0
                    ? `interface ${interfaceIndex}`
                    : null;
    if (problem !== null) throw new Error(`frame ${this.frames}: ${problem} ${replay}`);
    const outcome = this.decoder.decode(linkType, data, offset, capturedLength);
    if (!(Number.isInteger(outcome) && outcome >= 0 && outcome < UNDECODED_REASON_COUNT)) {
      throw new Error(`decoder outcome ${outcome} ${replay}`);
    }
    this.outcomes[outcome]++;
    if (capturedLength > this.elsewhere.length - 128) return;
    // The same frame at another offset, between bytes that differ from its neighbours in `data`.
    const at = 1 + this.random.int(64);
    const buffer = this.elsewhere;
    for (let i = 0; i < at; i++) buffer[i] = ((data[offset - at + i] ?? 0) + 1 + this.random.int(255)) & 0xff;
    buffer.set(data.subarray(offset, offset + capturedLength), at);
    for (let i = 0; i < 64; i++) {
      buffer[at + capturedLength + i] =
        ((data[offset + capturedLength + i] ?? 0) + 1 + this.random.int(255)) & 0xff;
    }
    const again = this.twin.decode(linkType, buffer, at, capturedLength);
    const d = this.decoder;
    const t = this.twin;
    if (
      again !== outcome ||
      (outcome === 0 &&
        (d.ipVersion !== t.ipVersion ||
          d.protocol !== t.protocol ||
          d.srcPort !== t.srcPort ||
          d.dstPort !== t.dstPort ||
          d.tcpFlags !== t.tcpFlags ||
          d.ipOffset - offset !== t.ipOffset - at ||
          d.srcAddr.some((w, i) => w !== t.srcAddr[i]) ||
          d.dstAddr.some((w, i) => w !== t.dstAddr[i])))
    ) {
      throw new Error(
        `decoder read outside frame ${this.frames} (link type ${linkType}, ${capturedLength} bytes): ` +
          `outcome ${outcome} in place, ${again} elsewhere ${replay}`,
      );
    }
  }
}

type ParseEnd = 'end' | 'damage' | 'truncated' | 'not-a-capture';

/** The whole input in memory, parsed in one call, as the reader would with an infinite buffer. */
function parseInMemory(bytes: Buffer, sink: CheckingSink): { end: ParseEnd; frames: number } {
  sink.begin(bytes.length);
  if (bytes.length < 4) return { end: 'not-a-capture', frames: 0 };
  const magic = bytes.readUInt32BE(0);
  let parser: RecordParser;
  if (PcapRecordParser.isPcapMagic(magic)) parser = new PcapRecordParser(magic);
  else if (magic === PCAPNG_MAGIC) parser = new PcapngBlockParser();
  else return { end: 'not-a-capture', frames: 0 };
  const pos = parser.parse(bytes, 0, bytes.length, sink);
  if (pos < 0 || pos > bytes.length)
    throw new Error(`parse returned ${pos} for ${bytes.length} bytes ${replay}`);
  if (parser.frames !== sink.frames) throw new Error(`parser counts ${parser.frames}, sink ${sink.frames}`);
  if (parser.damage !== null) {
    if (typeof parser.damage !== 'string' || parser.damage === '') throw new Error('empty damage reason');
    return { end: 'damage', frames: sink.frames };
  }
  if (pos !== bytes.length) {
    // Stopped for want of data: the record needs more than is left.
    if (!(parser.bytesNeeded > bytes.length - pos)) {
      throw new Error(`stopped at ${pos} needing ${parser.bytesNeeded} with ${bytes.length - pos} left`);
    }
    const reason = parser.describeTruncation(bytes, pos, bytes.length - pos);
    if (!/^file ends \d+ bytes into /.test(reason)) throw new Error(`truncation reason "${reason}"`);
    return { end: 'truncated', frames: sink.frames };
  }
  return { end: 'end', frames: sink.frames };
}

describe('capture readers and decoder under random and mutated input', () => {
  it(`${BULK_INPUTS.toLocaleString('en')} in-memory inputs: no throw, frames inside the input, decoder in bounds, heap bounded`, () => {
    expect(corpus.length).toBeGreaterThan(300);
    const random = new SeededRandom(SEED);
    const sink = new CheckingSink(new SeededRandom(SEED + 1));
    const ends: Record<ParseEnd, number> = { end: 0, damage: 0, truncated: 0, 'not-a-capture': 0 };
    let frames = 0;
    const warmup = () => parseInMemory(fuzzInput(random), sink);
    for (let i = 0; i < 1000; i++) warmup();
    forceGc();
    const heapBefore = process.memoryUsage().heapUsed;
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    for (let i = 0; i < BULK_INPUTS; i++) {
      const result = parseInMemory(fuzzInput(random), sink);
      ends[result.end]++;
      frames += result.frames;
    }
    const elapsedMs = performance.now() - started;
    forceGc();
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    console.info(
      `capture-reader-fuzz: ${BULK_INPUTS} inputs in ${elapsedMs.toFixed(0)} ms, ${frames} frames decoded ` +
        `(outcomes ${Array.from(sink.outcomes).join('/')}); ends ${JSON.stringify(ends)}; heap growth after gc ` +
        `${(heapGrowth / 1048576).toFixed(2)} MiB, RSS growth ${(rssGrowth / 1048576).toFixed(1)} MiB`,
    );
    // Every way of ending occurred, so every path was exercised.
    for (const [end, count] of Object.entries(ends)) expect(count, `${end} ${replay}`).toBeGreaterThan(100);
    for (const [outcome, count] of sink.outcomes.entries())
      expect(count, `outcome ${outcome}`).toBeGreaterThan(0);
    expect(heapGrowth, replay).toBeLessThan(BULK_HEAP_GROWTH_MAX_BYTES);
    expect(elapsedMs).toBeLessThan(BULK_TIME_LIMIT_MS);
  }, 180_000);

  it('fast-check: the file reader (small reads, gzip or not) delivers what one in-memory parse does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.constantFrom(64, 100, 4096, 1 << 20),
        fc.boolean(),
        async (inputSeed, readChunkBytes, compress) => {
          const random = new SeededRandom(inputSeed);
          const bytes = fuzzInput(random);
          const expected = parseInMemory(bytes, new CheckingSink(random));
          const file = scratch.write(compress ? gzip(bytes) : bytes);
          const { frames, error } = await readCapture(file, { readChunkBytes });
          const context = `input seed ${inputSeed}, ${bytes.length} bytes, chunk ${readChunkBytes}, gzip ${compress}`;
          expect(frames.length, context).toBe(expected.frames);
          if (expected.end === 'end') expect(error, context).toBeNull();
          else {
            expect(error, context).toBeInstanceOf(CaptureFileError);
            expect(error?.offset, context).toBeLessThanOrEqual(bytes.length);
          }
        },
      ),
      { numRuns: FILE_RUNS, seed: SEED },
    );
  }, 180_000);

  it('a huge declared length is damage or truncation at once, without allocating for it', async () => {
    const frame = frameBytes(60, 0);
    const cases: Array<{ what: string; bytes: Buffer }> = [];
    for (const totalLength of [
      0xffff_fffc,
      0x8000_0000,
      MAX_RECORD_BYTES + 4,
      MAX_RECORD_BYTES,
      200 * 1024 * 1024,
    ]) {
      for (const littleEndian of [true, false]) {
        cases.push({
          what: `pcapng block of ${totalLength} bytes (${littleEndian ? 'LE' : 'BE'})`,
          bytes: new PcapngBuilder()
            .section({ littleEndian })
            .interface({ linkType: 1 })
            .enhancedPacket({ interfaceIndex: 0, timestamp: 1n, data: frame })
            .enhancedPacket(
              { interfaceIndex: 0, timestamp: 2n, data: frame },
              { totalLength, trailerLength: totalLength },
            )
            .build().bytes,
        });
      }
    }
    for (const capturedLengthField of [0xffff_ffff, 0x8000_0000, 100_000_000]) {
      cases.push({
        what: `pcap record of ${capturedLengthField} captured bytes (D-Bus: 128 MiB limit)`,
        bytes: buildPcap({
          linkTypeField: 231,
          records: [
            { seconds: 1, fraction: 0, data: frame },
            { seconds: 2, fraction: 0, data: frame, capturedLengthField },
          ],
        }).bytes,
      });
    }
    // Plain, and gzip-compressed: a stream whose length is unknown, so only the parsers' limits and the
    // data actually arriving bound what is held (a block declared at up to MAX_RECORD_BYTES reserves
    // that much address space, but only the bytes that arrive become resident).
    const inputs = cases.flatMap(({ what, bytes }) => [
      { what, bytes },
      { what: `${what}, gzip`, bytes: gzip(bytes) },
    ]);
    for (const { what, bytes } of inputs) {
      const before = process.resourceUsage().maxRSS * 1024;
      const started = performance.now();
      const { frames, error } = await readCapture(scratch.write(bytes), { readChunkBytes: 4096 });
      const elapsedMs = performance.now() - started;
      const peakGrowth = process.resourceUsage().maxRSS * 1024 - before;
      expect(frames, what).toHaveLength(1);
      expect(error, what).toBeInstanceOf(CaptureFileError);
      expect(error?.reason, what).toMatch(/exceeds the \d+-byte limit$|^file ends \d+ bytes into /);
      expect(peakGrowth, what).toBeLessThan(HUGE_LENGTH_RSS_GROWTH_MAX_BYTES);
      expect(elapsedMs, what).toBeLessThan(2000);
    }
  });
});
