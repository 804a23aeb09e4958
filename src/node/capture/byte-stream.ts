import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';

/**
 * Byte sources the capture-file reader pulls from: a regular file (read straight into the reader's
 * buffer, no copy), any Readable (stdin, a pipe, a FIFO; one copy from the stream's chunks), and a gzip
 * decompressor in front of either. All are pull-based with bounded buffering: nothing is read ahead
 * beyond a few stream chunks.
 */
export interface ByteSource {
  /**
   * Reads up to `length` bytes into `target[offset...]`; resolves the count, 0 at the end of the input
   * (or once the source's abort signal fired). Rejects with the underlying I/O or zlib error.
   */
  read(target: Uint8Array, offset: number, length: number): Promise<number>;
  /** Bytes taken from the underlying file or stream so far (the compressed bytes for gzip). */
  readonly rawBytesRead: number;
  /** Releases the file or detaches from the stream. Never rejects. */
  close(): Promise<void>;
}

/** Stream bytes queued before a (non-zlib) stream is paused: bounds memory when the parser is slower. */
const STREAM_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Compressed bytes read per step from the underlying file or stream of a gzip input. */
const GZIP_INPUT_CHUNK_BYTES = 1024 * 1024;
/**
 * Compressed bytes handed to zlib per write. Decompressed output is bounded by feeding: a write waits
 * until less than GZIP_OUTPUT_HIGH_WATER_BYTES is queued, and one piece inflates to at most ~1032x its
 * size (deflate's limit), so the queue never exceeds about 8 + 66 MiB even for a file of zeros.
 */
const GZIP_WRITE_PIECE_BYTES = 64 * 1024;
const GZIP_OUTPUT_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/**
 * zlib's output buffer per inflate call (Node's default is 16 KiB). Each call is a thread-pool round
 * trip: 256 KiB made decompressing a 650 MB capture about 3x faster than the default.
 */
const GZIP_OUTPUT_CHUNK_BYTES = 256 * 1024;
/** CRC-32 and uncompressed size at the end of a gzip member. */
const GZIP_TRAILER_BYTES = 8;

/** A regular file read with positional reads straight into the caller's buffer. */
export class FileByteSource implements ByteSource {
  rawBytesRead = 0;

  constructor(
    private readonly handle: FileHandle,
    /** Size when opened; the file is still read to its real end if it grows. */
    readonly size: number,
  ) {}

  async read(target: Uint8Array, offset: number, length: number): Promise<number> {
    const { bytesRead } = await this.handle.read(target, offset, length, this.rawBytesRead);
    this.rawBytesRead += bytesRead;
    return bytesRead;
  }

  /** The file's size now (it may be growing while a capture tool writes it). */
  async currentSize(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/**
 * Any Readable, consumed in flowing mode into a queue. Flowing mode rather than read(): every chunk
 * emitted before an 'error' is queued before the error is seen, so a corrupt gzip stream still yields
 * all the frames decompressed before the damage.
 *
 * With `pauseAboveBytes` the stream is paused while that much is queued. The gunzip output is never
 * paused (a paused stream that then errors discards what it buffered); its volume is bounded by
 * feeding instead (see GunzipByteSource).
 */
export class StreamByteSource implements ByteSource {
  rawBytesRead = 0;

  private readonly queue: Uint8Array[] = [];
  /** Bytes of queue[0] already handed out. */
  private headOffset = 0;
  private queuedBytes = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private roomWaiter: { belowBytes: number; resolve: () => void } | null = null;
  private closed = false;

  constructor(
    private readonly stream: Readable,
    private readonly signal: AbortSignal | undefined,
    /** Destroy the stream on close (our own streams); process.stdin is only detached and paused. */
    private readonly destroyOnClose: boolean,
    private readonly pauseAboveBytes: number | null = STREAM_HIGH_WATER_BYTES,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
    signal?.addEventListener('abort', this.onAbort);
  }

  async read(target: Uint8Array, offset: number, length: number): Promise<number> {
    for (;;) {
      if (this.queuedBytes > 0) return this.take(target, offset, length);
      if (this.failure !== null) throw this.failure;
      if (this.ended || this.closed || this.signal?.aborted) return 0;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Resolves once fewer than `bytes` are queued (or the source is closed or has ended). */
  whenQueueBelow(bytes: number): Promise<void> {
    if (this.queuedBytes < bytes || this.closed || this.ended || this.failure !== null)
      return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.roomWaiter = { belowBytes: bytes, resolve };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stream = this.stream;
    stream.off('data', this.onData);
    stream.off('end', this.onEnd);
    stream.off('close', this.onEnd);
    this.signal?.removeEventListener('abort', this.onAbort);
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (this.destroyOnClose) {
      // The 'error' listener stays, so a late error from the destroyed stream is not uncaught.
      stream.destroy();
    } else {
      stream.off('error', this.onError);
      stream.pause();
    }
    this.signalWake();
    this.signalRoom();
  }

  private take(target: Uint8Array, offset: number, length: number): number {
    let copied = 0;
    const queue = this.queue;
    while (copied < length && queue.length > 0) {
      const head = queue[0];
      const n = Math.min(length - copied, head.length - this.headOffset);
      target.set(head.subarray(this.headOffset, this.headOffset + n), offset + copied);
      copied += n;
      this.headOffset += n;
      if (this.headOffset === head.length) {
        queue.shift();
        this.headOffset = 0;
      }
    }
    this.queuedBytes -= copied;
    if (this.pauseAboveBytes !== null && this.queuedBytes < this.pauseAboveBytes && this.stream.isPaused()) {
      this.stream.resume();
    }
    if (this.roomWaiter !== null && this.queuedBytes < this.roomWaiter.belowBytes) this.signalRoom();
    return copied;
  }

  private signalWake(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private signalRoom(): void {
    const waiter = this.roomWaiter;
    this.roomWaiter = null;
    waiter?.resolve();
  }

  private readonly onData = (chunk: Uint8Array | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.length === 0) return;
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.rawBytesRead += bytes.length;
    if (this.pauseAboveBytes !== null && this.queuedBytes >= this.pauseAboveBytes) this.stream.pause();
    this.signalWake();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.signalWake();
    this.signalRoom();
  };

  private readonly onError = (error: Error): void => {
    this.failure ??= error;
    this.signalWake();
    this.signalRoom();
  };

  private readonly onAbort = (): void => {
    this.signalWake();
    this.signalRoom();
  };
}

/**
 * Decompresses a gzip byte source on the fly. `prefix` holds the bytes already read from `raw` to
 * recognise the gzip magic; they are fed first. Concatenated gzip members are decompressed in turn
 * (zlib's default). Errors (corrupt data, truncated stream, I/O) reject the next read() once every
 * byte decompressed before them has been read.
 *
 * Two zlib stream habits shape the feeding. Node applies Z_FINISH to the last chunk written before
 * end(), and the output of the call that fails is discarded; and a checksum failure discards the
 * output of the call that read the trailer. So each write is awaited before the next (and before
 * end()), and the input's last 8 bytes (a single-member file's trailer) are written on their own:
 * the feeder always holds back the last 8 bytes it has read until more arrive or the input ends.
 */
export class GunzipByteSource implements ByteSource {
  private readonly gunzip: Gunzip = createGunzip({ chunkSize: GZIP_OUTPUT_CHUNK_BYTES });
  private readonly output: StreamByteSource;
  private readonly stopFeeding = new AbortController();
  private readonly feeding: Promise<void>;

  constructor(
    private readonly raw: ByteSource,
    prefix: Uint8Array,
    signal: AbortSignal | undefined,
  ) {
    this.output = new StreamByteSource(this.gunzip, signal, true, null);
    this.feeding = this.feed(Buffer.from(prefix));
  }

  get rawBytesRead(): number {
    return this.raw.rawBytesRead;
  }

  read(target: Uint8Array, offset: number, length: number): Promise<number> {
    return this.output.read(target, offset, length);
  }

  async close(): Promise<void> {
    this.stopFeeding.abort();
    await this.output.close();
    // Closing the raw source first ends a feeding that waits on it (stdin that never sends more).
    await this.raw.close();
    await this.feeding;
  }

  /** Copies compressed bytes from `raw` into zlib. Never rejects: failures surface through read(). */
  private async feed(prefix: Buffer): Promise<void> {
    const stop = this.stopFeeding.signal;
    try {
      // Everything but the last GZIP_TRAILER_BYTES seen so far is written at once; those few bytes
      // wait for the next read, so that at the end of the input they can be written on their own.
      let held = await this.writeAllButTrailer(prefix);
      while (!stop.aborted) {
        const chunk = Buffer.allocUnsafe(GZIP_TRAILER_BYTES + GZIP_INPUT_CHUNK_BYTES);
        const n = await this.raw.read(chunk, GZIP_TRAILER_BYTES, GZIP_INPUT_CHUNK_BYTES);
        if (n === 0 || stop.aborted) break;
        const start = GZIP_TRAILER_BYTES - held.length;
        held.copy(chunk, start);
        held = await this.writeAllButTrailer(chunk.subarray(start, GZIP_TRAILER_BYTES + n));
      }
      await this.write(held);
      if (!stop.aborted) this.gunzip.end();
    } catch (error) {
      // A zlib error has already reached the output side; an I/O error on the compressed input is
      // passed to it here. After close() there is no one left to tell.
      if (!stop.aborted && !this.gunzip.destroyed) this.gunzip.destroy(error as Error);
    }
  }

  /** Writes all of `bytes` but the last GZIP_TRAILER_BYTES, and returns those. */
  private async writeAllButTrailer(bytes: Buffer): Promise<Buffer> {
    const keep = Math.min(GZIP_TRAILER_BYTES, bytes.length);
    await this.write(bytes.subarray(0, bytes.length - keep));
    return bytes.subarray(bytes.length - keep);
  }

  /**
   * Resolves when zlib has processed `piece`, or when the stream closes: after a zlib error (or our
   * close) the callback of the write in flight is never called.
   */
  private writePiece(piece: Buffer): Promise<void> {
    const gunzip = this.gunzip;
    return new Promise<void>((resolve, reject) => {
      const onClose = (): void => resolve();
      gunzip.once('close', onClose);
      gunzip.write(piece, (error) => {
        gunzip.off('close', onClose);
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /** Writes `bytes` in pieces, each once the output has room, resolving when zlib has processed it. */
  private async write(bytes: Buffer): Promise<void> {
    const stop = this.stopFeeding.signal;
    for (let at = 0; at < bytes.length && !stop.aborted; at += GZIP_WRITE_PIECE_BYTES) {
      await this.output.whenQueueBelow(GZIP_OUTPUT_HIGH_WATER_BYTES);
      if (stop.aborted || this.gunzip.destroyed) return;
      const piece = bytes.subarray(at, Math.min(bytes.length, at + GZIP_WRITE_PIECE_BYTES));
      await this.writePiece(piece);
    }
  }
}

/** What was opened for a path: the byte source and, for a regular file, its size. */
export interface OpenedInput {
  source: ByteSource;
  /** Size in bytes of a regular file; null for pipes, FIFOs, character devices and stdin. */
  fileSize: number | null;
}

/**
 * Opens `path` for reading: positional reads for a regular file, a stream for anything else (FIFO,
 * /dev/stdin, a character device). Rejects with the fs error (ENOENT, EACCES, EISDIR, ...).
 */
export async function openFileInput(path: string, signal: AbortSignal | undefined): Promise<OpenedInput> {
  const handle = await open(path, 'r');
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) {
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), {
        code: 'EISDIR',
      });
    }
    if (stats.isFile()) return { source: new FileByteSource(handle, stats.size), fileSize: stats.size };
    const stream = handle.createReadStream({ autoClose: true });
    return { source: new StreamByteSource(stream, signal, true), fileSize: null };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}
