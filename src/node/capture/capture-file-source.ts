import type { Readable } from 'node:stream';
import { CaptureFileError, SniffmeshError } from '../../util/errors.js';
import {
  type ByteSource,
  FileByteSource,
  GunzipByteSource,
  openFileInput,
  StreamByteSource,
} from './byte-stream.js';
import { MAX_RECORD_BYTES, READ_CHUNK_BYTES } from './capture-file-limits.js';
import { describeUnknownMagic, isGzipMagic, MAGIC_BYTES } from './capture-file-magic.js';
import type { CaptureCounters, CaptureSource, FrameSink } from './frame-sink.js';
import { PcapRecordParser } from './pcap-record-parser.js';
import { PCAPNG_MAGIC, PcapngBlockParser } from './pcapng-block-parser.js';
import { RealtimePacer } from './realtime-pacer.js';
import type { RecordParser } from './record-parser.js';

/**
 * Reads a capture file (classic pcap or pcapng, optionally gzip-compressed, or standard input for
 * `-`) and delivers its frames to a FrameSink.
 *
 * Memory is bounded whatever the file size: one reused buffer of READ_CHUNK_BYTES, refilled by
 * positional reads straight into it for regular files; a record straddling two reads is moved to the
 * front; a record larger than the buffer grows it, up to MAX_RECORD_BYTES (the parsers refuse larger
 * records as damage before any allocation).
 *
 * Outcomes of run():
 * - resolves at the end of the input, or as soon as `signal` aborts (abort is not an error);
 * - rejects with CaptureFileError(file, offset, reason) when the input cannot be opened or read, is
 *   not a capture, or is damaged or truncated: every frame before `offset` (a byte offset in the
 *   uncompressed stream, the start of the damaged record or block) has been delivered. A 0-byte input
 *   is an error ("empty file, not a capture": an empty capture still has a file header), a file with
 *   only a header, or only pcapng section and interface blocks, is fine and has no frames;
 * - an exception thrown by the sink propagates unchanged (it is the consumer's, not the file's).
 */

export interface CaptureFileOptions {
  /**
   * Deliver frames no faster than their timestamps say: the first frame at once, each later one when
   * its offset from the first has elapsed (about 1 ms accuracy, no busy-waiting). Default false.
   */
  realtime?: boolean;
  /**
   * With `realtime`: capture seconds replayed per wall-clock second (2 = twice as fast). Default 1;
   * must be finite and > 0 (the replay source validates user input before it gets here).
   */
  realtimeSpeed?: number;
  /** The stream read when the path is `-`. Default process.stdin. */
  stdin?: Readable;
  /**
   * Bytes per read and initial buffer size. Default READ_CHUNK_BYTES; tests use tiny values so that
   * records straddle reads and the buffer has to grow.
   */
  readChunkBytes?: number;
}

export type CaptureFileFormat = 'pcap' | 'pcapng';
export type CaptureFileCompression = 'none' | 'gzip';

/** The path meaning standard input. */
export const STDIN_PATH = '-';
/** Smallest buffer worth having: a few headers. */
const MIN_BUFFER_BYTES = 64;

export function openCaptureFile(path: string, options: CaptureFileOptions = {}): CaptureFileSource {
  return new CaptureFileSource(path, options);
}

export class CaptureFileSource implements CaptureSource {
  readonly description: string;
  /** The name used in error messages: the path, or "stdin". */
  readonly fileName: string;

  private readonly realtime: boolean;
  private readonly realtimeSpeed: number;
  private readonly stdin: Readable | undefined;
  private readonly readChunkBytes: number;
  private started = false;
  private parser: RecordParser | null = null;
  private input: ByteSource | null = null;
  private consumedBytes = 0;
  private knownFileSize: number | null = null;
  private detectedFormat: CaptureFileFormat | null = null;
  private detectedCompression: CaptureFileCompression | null = null;

  constructor(
    readonly path: string,
    options: CaptureFileOptions = {},
  ) {
    const isStdin = path === STDIN_PATH;
    this.fileName = isStdin ? 'stdin' : path;
    this.description = isStdin ? 'standard input' : `file ${path}`;
    this.realtime = options.realtime ?? false;
    this.realtimeSpeed = options.realtimeSpeed ?? 1;
    this.stdin = options.stdin;
    this.readChunkBytes = Math.max(MIN_BUFFER_BYTES, Math.floor(options.readChunkBytes ?? READ_CHUNK_BYTES));
  }

  /**
   * Size of the file on disk (compressed size for gzip), known once run() has opened it; null for
   * stdin, pipes and devices. With `bytesRead` it gives a progress fraction.
   */
  get fileSize(): number | null {
    return this.knownFileSize;
  }

  /**
   * Bytes read from the file or stream so far, as stored (compressed bytes for gzip), so that
   * bytesRead / fileSize is the progress. `counters().bytesRead` is the uncompressed bytes consumed.
   */
  get bytesRead(): number {
    return this.input?.rawBytesRead ?? 0;
  }

  /** The capture format, known once run() has read the first bytes. */
  get format(): CaptureFileFormat | null {
    return this.detectedFormat;
  }

  /** Whether the input was gzip-compressed, known once run() has read the first bytes. */
  get compression(): CaptureFileCompression | null {
    return this.detectedCompression;
  }

  /**
   * Classic pcap only: bytes of FCS at the end of each frame when the file header says so (libpcap's
   * link-type bits 26 and 28..31), else null.
   */
  get fcsBytes(): number | null {
    return this.parser instanceof PcapRecordParser ? this.parser.fcsBytes : null;
  }

  counters(): CaptureCounters {
    return { frames: this.parser?.frames ?? 0, bytesRead: this.consumedBytes, kernelDrops: null };
  }

  async run(sink: FrameSink, signal?: AbortSignal): Promise<void> {
    if (this.started) {
      throw new SniffmeshError(
        'CAPTURE_SOURCE_REUSED',
        `${this.description}: a capture source runs only once`,
      );
    }
    this.started = true;
    if (signal?.aborted) return;
    try {
      this.input = await this.openInput(signal);
    } catch (error) {
      throw this.damage(0, `cannot open: ${describeIoError(error)}`, error);
    }
    try {
      await this.readAll(sink, signal);
    } finally {
      await this.input.close();
    }
  }

  private async openInput(signal: AbortSignal | undefined): Promise<ByteSource> {
    if (this.path === STDIN_PATH) {
      return new StreamByteSource(this.stdin ?? process.stdin, signal, false);
    }
    const opened = await openFileInput(this.path, signal);
    this.knownFileSize = opened.fileSize;
    return opened.source;
  }

  private async readAll(sink: FrameSink, signal: AbortSignal | undefined): Promise<void> {
    let buffer = Buffer.allocUnsafeSlow(this.readChunkBytes);
    // Recognise gzip and the capture format from the first bytes.
    let end = await this.fillAtLeast(buffer, 0, MAGIC_BYTES, 0);
    if (isGzipMagic(buffer, end)) {
      this.detectedCompression = 'gzip';
      this.input = new GunzipByteSource(this.input!, buffer.subarray(0, end), signal);
      end = await this.fillAtLeast(buffer, 0, MAGIC_BYTES, 0);
    } else {
      this.detectedCompression = 'none';
    }
    if (signal?.aborted) return;
    const parser = this.createParser(buffer, end);
    this.parser = parser;
    // Only for an uncompressed regular file is the stream length known.
    const file = this.input instanceof FileByteSource ? this.input : null;
    const pacer = this.realtime ? new RealtimePacer(undefined, this.realtimeSpeed) : null;

    let base = 0; // stream offset of buffer[0]
    let pos = 0;
    let atEnd = end < MAGIC_BYTES;
    for (;;) {
      if (signal?.aborted) return;
      if (pacer !== null) pacer.openGate(parser);
      pos = parser.parse(buffer, pos, end, sink);
      this.consumedBytes = base + pos;
      if (parser.damage !== null) throw this.damage(base + pos, parser.damage);
      if (parser.pausedAtGate) {
        await pacer!.waitFor(parser.pausedSeconds, parser.pausedNanos, signal);
        continue;
      }
      if (atEnd) {
        if (pos === end) return;
        throw this.damage(base + pos, parser.describeTruncation(buffer, pos, end - pos));
      }
      // The record at `pos` is incomplete: move it to the front, make room for it, read more.
      if (pos > 0) {
        buffer.copyWithin(0, pos, end);
        base += pos;
        end -= pos;
        pos = 0;
      }
      const needed = parser.bytesNeeded;
      if (needed > buffer.length) {
        const fileSize = file === null ? null : await this.currentFileSize(file, base);
        if (fileSize !== null && base + needed > fileSize) {
          // A regular file too short for this record: report the truncation without growing for it.
          throw this.damage(base, parser.describeTruncation(buffer, 0, Math.max(end, fileSize - base)));
        }
        if (needed > MAX_RECORD_BYTES) {
          throw this.damage(base, `record of ${needed} bytes exceeds the ${MAX_RECORD_BYTES}-byte limit`);
        }
        const grown = Buffer.allocUnsafeSlow(Math.min(MAX_RECORD_BYTES, Math.max(needed, buffer.length * 2)));
        buffer.copy(grown, 0, 0, end);
        buffer = grown;
      }
      const n = await this.readInto(buffer, end, buffer.length - end, base);
      if (n === 0) atEnd = true;
      else end += n;
    }
  }

  private createParser(buffer: Buffer, length: number): RecordParser {
    const unpacked = this.detectedCompression === 'gzip' ? ' after gzip decompression' : '';
    if (length === 0) throw this.damage(0, `empty file, not a capture${unpacked}`);
    if (length < MAGIC_BYTES) {
      throw this.damage(0, `file is only ${length} bytes long${unpacked}, too short to be a capture`);
    }
    const magic = buffer.readUInt32BE(0);
    if (PcapRecordParser.isPcapMagic(magic)) {
      this.detectedFormat = 'pcap';
      return new PcapRecordParser(magic);
    }
    if (magic === PCAPNG_MAGIC) {
      this.detectedFormat = 'pcapng';
      return new PcapngBlockParser();
    }
    throw this.damage(0, describeUnknownMagic(magic));
  }

  private async currentFileSize(file: FileByteSource, recordOffset: number): Promise<number> {
    try {
      return await file.currentSize();
    } catch (error) {
      throw this.damage(recordOffset, `read failed: ${describeIoError(error)}`, error);
    }
  }

  /** Reads until `buffer` holds at least `minEnd` bytes or the input ends; returns the new end. */
  private async fillAtLeast(buffer: Buffer, end: number, minEnd: number, base: number): Promise<number> {
    let filled = end;
    while (filled < minEnd) {
      const n = await this.readInto(buffer, filled, buffer.length - filled, base);
      if (n === 0) break;
      filled += n;
    }
    return filled;
  }

  /** One read; an I/O or zlib failure becomes damage at `recordOffset`, the incomplete record's start. */
  private async readInto(
    buffer: Buffer,
    offset: number,
    length: number,
    recordOffset: number,
  ): Promise<number> {
    try {
      return await this.input!.read(buffer, offset, length);
    } catch (error) {
      throw this.damage(recordOffset, describeReadFailure(error, this.detectedCompression === 'gzip'), error);
    }
  }

  private damage(offset: number, reason: string, cause?: unknown): CaptureFileError {
    return new CaptureFileError(this.fileName, offset, reason, cause);
  }
}

function describeIoError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
    return code !== undefined ? `${message} (${code})` : message;
  }
  return String(error);
}

function describeReadFailure(error: unknown, gzip: boolean): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (gzip && typeof code === 'string' && code.startsWith('Z_')) {
    const message = (error as Error).message;
    if (code === 'Z_BUF_ERROR') return `gzip stream is truncated (${message})`;
    return `gzip data is corrupt (${message})`;
  }
  return `read failed: ${describeIoError(error)}`;
}
